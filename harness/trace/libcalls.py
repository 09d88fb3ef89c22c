"""Library calls on the path: which code outside the namespace a kept frame calls, named statically.

One definition for every backend: a library call is a *Python function outside the
namespace whose frame a kept frame starts directly with a call instruction* (`CALL`,
`CALL_FUNCTION_EX`, …), named `module:qualname` of the code that runs (the module is the
`__name__` of the function's globals). What that excludes, alike for every backend:

- C functions and builtins (`len`, `os.path.join`'s C parts, numpy ufuncs): they start no frame;
- implicit calls (operators, attribute access, `with` entry, iteration): no call instruction;
- dunder methods other than `__init__`, `__new__`, `__call__` and `__exit__` (`__len__`
  run by `len(x)`, `__instancecheck__` run by `isinstance`): what the source line calls
  is the builtin, not the dunder;
- generator and coroutine functions: calling one starts no frame;
- the harness's own code (audit hooks run as Python frames on top of the caller);
- calls with argument unpacking, `f(*args, **kwargs)` (see CALL_OPCODES).

A class call whose class (or a base) defines `__new__` in Python is one row named by the
class called (`keras.src.models.model:Model`): what `__init__` runs after it depends on
what `__new__` returned (Keras' `Model(inputs, outputs)` returns a `Functional`), which no
static reading can know, so that `__init__` is not a row of its own. Other class calls are
named by the `__init__` that runs (`h5py._hl.files:File.__init__`).

A trace backend sees the callee's frame start (its `f_back` is the kept frame, whose
current instruction is a call); `sys.monitoring` sees the callable at the `CALL` event and
`python_callees` names the code it will start — statically, from the object's type and
the class dictionaries, never running target code and never calling `repr`. What remains
different: a C callable that calls Python back (`sorted(key=f)`, `map(f, …)` consumed by
`list`, a property read by `getattr`) is seen only by the trace backends; those rows are
few, and the backends' comparison test pins the cases that must agree.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import dis
import functools
import inspect
import types
from typing import Any

# `f(*args, **kwargs)` (CALL_FUNCTION_EX) is left out: sys.monitoring on 3.12 reports no CALL
# event when its callee is a Python function, so no backend may count it.
CALL_OPCODES = frozenset(
    op
    for name, op in dis.opmap.items()
    if name.startswith("CALL") and "INTRINSIC" not in name and name != "CALL_FUNCTION_EX"
)
KEPT_DUNDERS = frozenset({"__init__", "__new__", "__call__", "__exit__"})
_SKIPPED_FLAGS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_mro = type.__dict__["__mro__"].__get__
_class_dict = type.__dict__["__dict__"].__get__
_HARNESS = __name__.rpartition(".")[0] + "."


def counted(code, module: Any) -> bool:
    """Is a call of this code a library call (see the module docstring)?"""
    if code.co_flags & _SKIPPED_FLAGS:
        return False
    name = code.co_name
    if name.startswith("__") and name.endswith("__") and name not in KEPT_DUNDERS:
        return False
    return not (type(module) is str and module.startswith(_HARNESS))


_NO_ARGUMENT = object()


def callee_name(code, module: Any, first: Any = _NO_ARGUMENT) -> str:
    """`module:qualname` of the code a library call starts (`first`: its first argument, if read)."""
    return f"{module if type(module) is str else '?'}:{qualname_of(code, first)}"


def qualname_of(code, first: Any = _NO_ARGUMENT) -> str:
    """The code's qualified name. Python 3.10 code has no `co_qualname`: a method is then named
    by the class, along the MRO of its first argument (`self` or `cls`), whose dictionary holds
    a function with this very code object (read from C slots, no descriptors run); anything
    else by its bare name."""
    qualname = getattr(code, "co_qualname", None)
    if type(qualname) is str:
        return qualname
    if first is not _NO_ARGUMENT:
        for klass in _mro(first if is_class(first) else type(first)):
            if any(found is code for found, _module in _function(_class_dict(klass).get(code.co_name))):
                return f"{type.__dict__['__qualname__'].__get__(klass)}.{code.co_name}"
    return code.co_name


def _lookup(cls: type, name: str) -> Any:
    """`name` in the class dictionaries along the MRO, read without descriptors or `__getattr__`."""
    for klass in _mro(cls):
        namespace = _class_dict(klass)
        if name in namespace:
            return namespace[name]
    return None


def class_name(cls: type) -> str:
    """`module:qualname` of a class, read from its own dictionary and C slots (no descriptors)."""
    module = _class_dict(cls).get("__module__")
    return f"{module if type(module) is str else '?'}:{type.__dict__['__qualname__'].__get__(cls)}"


def is_class(value: Any) -> bool:
    return type in _mro(type(value))


def _function(value: Any) -> list[tuple[Any, Any]]:
    if type(value) in (staticmethod, classmethod):
        value = value.__func__
    if type(value) is types.FunctionType:
        return [(value.__code__, value.__globals__.get("__name__"))]
    return []


def library_callees(target: Any) -> list[str]:
    """Names of the library calls that calling `target` makes (sys.monitoring's view)."""
    if is_class(target) and type(_lookup(type(target), "__call__")) is not types.FunctionType:
        new = _function(_lookup(target, "__new__"))
        if new:
            return [class_name(target)] if counted(*new[0]) else []
    return [callee_name(code, module) for code, module in python_callees(target) if counted(code, module)]


def python_callees(target: Any, depth: int = 0) -> list[tuple[Any, Any]]:
    """(code, module) of the Python functions calling `target` starts directly, in order.

    Only exact, known types are unwrapped (function, bound method, functools.partial,
    classes, instances with a Python `__call__`); their fields are C-level slots, so
    reading them runs no target code."""
    kind = type(target)
    if kind is types.FunctionType:
        return [(target.__code__, target.__globals__.get("__name__"))]
    if kind is types.MethodType:
        return python_callees(target.__func__, depth + 1) if depth < 4 else []
    if kind is functools.partial:
        return python_callees(target.func, depth + 1) if depth < 4 else []
    if type in _mro(kind):  # a class: its metaclass's Python __call__ runs first, if it has one
        meta_call = _lookup(kind, "__call__")
        if type(meta_call) is types.FunctionType:
            return _function(meta_call)
        return _function(_lookup(target, "__new__")) + _function(_lookup(target, "__init__"))
    return _function(_lookup(kind, "__call__"))  # builtins have a C slot here: nothing


_CACHE = dis.opmap.get("CACHE")


def call_offsets(code) -> frozenset[int]:
    """Offsets that belong to a call instruction, its inline cache entries included: while a
    callee runs, a traced caller's `f_lasti` may point at the last cache entry (3.12)."""
    raw, found, inside = code.co_code, set(), False
    for offset in range(0, len(raw), 2):
        opcode = raw[offset]
        if opcode != _CACHE or _CACHE is None:
            inside = opcode in CALL_OPCODES
        if inside:
            found.add(offset)
    return frozenset(found)


def line_map(code) -> dict[int, int]:
    """Instruction offset → source line, for the lines of a `CALL` event's offset."""
    lines: dict[int, int] = {}
    for start, end, line in code.co_lines():
        if line is not None:
            for offset in range(start, end, 2):
                lines[offset] = line
    return lines
