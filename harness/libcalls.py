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
- the harness's own code (audit hooks run as Python frames on top of the caller).

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

CALL_OPCODES = frozenset(op for name, op in dis.opmap.items() if name.startswith("CALL") and "INTRINSIC" not in name)
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


def callee_name(code, module: Any) -> str:
    qualname = getattr(code, "co_qualname", code.co_name)
    return f"{module if type(module) is str else '?'}:{qualname}"


def _lookup(cls: type, name: str) -> Any:
    """`name` in the class dictionaries along the MRO, read without descriptors or `__getattr__`."""
    for klass in _mro(cls):
        namespace = _class_dict(klass)
        if name in namespace:
            return namespace[name]
    return None


def _function(value: Any) -> list[tuple[Any, Any]]:
    if type(value) in (staticmethod, classmethod):
        value = value.__func__
    if type(value) is types.FunctionType:
        return [(value.__code__, value.__globals__.get("__name__"))]
    return []


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
