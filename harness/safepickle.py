"""A pickle reader that never unpickles: plain data out, every import or call named, none run.

``.dill`` members of a model archive are untrusted. :func:`decode_pickle` walks the opcode
stream with :func:`pickletools.genops` on a small stack machine that rebuilds plain
containers and scalars; every GLOBAL/STACK_GLOBAL becomes a named placeholder and every
REDUCE/OBJ/NEWOBJ/BUILD a described call that is not made. The report says which names a
real load would import and whether it would run code (``hazards``). Standard library only.
"""

from __future__ import annotations

import json
import math
import pickletools
import struct
from typing import Any

__all__ = ["decode_pickle", "PickleReport"]

MAX_PICKLE_OPS = 5_000_000  # bounds the time spent walking one pickle
PLAIN_DEPTH = 64
PLAIN_NODES = 20_000  # bounds the size of one decoded value in the report
TEXT_CAP = 4096

# --- what makes a pickle hostile ------------------------------------------------------------
# Safety never depends on these lists: nothing is imported or called, whatever they say. They
# exist to tell the user that *loading* the archive with pickle/dill would run code. Names that
# are merely referenced (numpy's _reconstruct for the probe array, ptycho.custom_layers.* in
# custom_objects.dill, dill._dill._create_type) are reported and stay placeholders. Hostile:
#   1. a dangerous global, called or only referenced (no data file needs os.system), also when
#      reached by an attribute walk such as ``pathlib`` + ``os.system``;
#   2. a call of something that is not a named global (the result of another call): gadget
#      chains hide their target that way, and a denylist cannot be complete;
#   3. instantiating a class that dill rebuilt from pickled bytecode (its methods would run);
#   4. BUILD on a named global (it would overwrite a module's, class's or function's attributes).
DANGEROUS_MODULES = frozenset(
    {"os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty",
     "ctypes", "marshal", "pickle", "_pickle", "code", "codeop", "pdb", "webbrowser",
     "multiprocessing", "_posixsubprocess"}
)
DANGEROUS_BUILTINS = frozenset(
    {"eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "open",
     "globals", "locals", "vars", "breakpoint", "input"}
)
DANGEROUS_NAMES = frozenset({"dill.loads", "dill.load", "dill._dill.loads", "dill._dill.load"})  # nested unpickling
IMPORTERS = frozenset({"dill._dill._import_module"})  # harmless unless asked for os & co.
# Globals that rebuild functions from pickled bytecode (dill pickles classes from __main__ by
# value this way, patching them with builtins.setattr, which rule 1 flags). Defining them runs
# nothing; instantiating a class rebuilt from bytecode may (rule 3).
CODE_CARRIERS = frozenset({"dill._dill._create_code", "dill._dill._create_function", "types.CodeType",
                           "types.FunctionType"})
# Classes built by these may be instantiated (NEWOBJ on a computed class, an exception to
# rule 2) in legitimate dill output, as long as the pickle carries no bytecode.
CLASS_FACTORIES = frozenset({"dill._dill._create_type", "dill._dill._create_namedtuple"})
NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
NUMPY_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")
# Old protocols spell plain data as calls (protocol <= 2 writes bytes as
# _codecs.encode(text, 'latin1') and sets as builtins.set([...]); dill writes
# _load_type('frozenset')). These pure standard-library constructors are evaluated on plain
# arguments so such values decode as data rather than as placeholders.
PLAIN_TYPES = frozenset({"set", "frozenset", "bytearray", "bytes", "complex", "list", "tuple", "dict",
                         "str", "int", "float", "bool", "NoneType", "slice", "range"})


# ============================================================================================
# Safe pickle reader
# ============================================================================================


class _Global:
    """A name the pickle would import (GLOBAL, STACK_GLOBAL, INST, EXT*): never imported."""

    __slots__ = ("name", "known")

    def __init__(self, name: str, known: bool = True) -> None:
        self.name = name
        self.known = known


class _Call:
    """What REDUCE/OBJ/INST/NEWOBJ* would have built by calling ``func``; BUILD state attached."""

    __slots__ = ("func", "args", "kwargs", "op", "state", "extra")

    def __init__(self, func: Any, args: Any, kwargs: Any, op: str) -> None:
        self.func, self.args, self.kwargs, self.op = func, args, kwargs, op
        self.state: Any = None
        self.extra: list[Any] = []  # items APPENDed/SETITEMed/ADDed to a built object

    @property
    def name(self) -> str | None:
        return self.func.name if isinstance(self.func, _Global) else None


class _Persistent:
    """A persistent id (PERSID/BINPERSID): resolved by the loader's hook, never by us."""

    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid


_NOT_PURE = object()


def _pure_call(func: Any, args: Any, kwargs: Any) -> Any:
    """Evaluate the few pure constructors old protocols use for plain data, else ``_NOT_PURE``.

    Only exact builtins on plain arguments; anything else stays a placeholder.
    """
    if not isinstance(func, _Global) or kwargs or not isinstance(args, tuple):
        return _NOT_PURE
    name = func.name.replace("__builtin__.", "builtins.")
    try:
        if name == "dill._dill._load_type" and len(args) == 1 and args[0] in PLAIN_TYPES:
            return _Global(f"builtins.{args[0]}")
        if name == "_codecs.encode" and len(args) in (1, 2) and isinstance(args[0], str):
            return args[0].encode(args[1] if len(args) == 2 and args[1] in ("latin1", "latin-1") else "latin-1")
        if name in ("builtins.set", "builtins.frozenset") and len(args) <= 1:
            if all(isinstance(a, (list, tuple, set, frozenset)) for a in args):
                return (set if name == "builtins.set" else frozenset)(*args)
        if name in ("builtins.bytearray", "builtins.bytes") and len(args) == 1 and isinstance(args[0], bytes):
            return args[0]
        if name in ("builtins.bytearray", "builtins.bytes") and len(args) == 2 and isinstance(args[0], str):
            return args[0].encode("latin-1") if args[1] in ("latin1", "latin-1") else _NOT_PURE
        if name == "builtins.complex" and all(isinstance(a, (int, float)) for a in args) and len(args) <= 2:
            return complex(*args)
    except (TypeError, ValueError, UnicodeError):
        pass
    return _NOT_PURE


class _PickleError(Exception):
    """The opcode stream does not describe a value (truncated, malformed, stack underflow)."""


class PickleReport:
    """Result of :func:`decode_pickle`: the value with placeholders, names, hazards, error."""

    __slots__ = ("value", "globals", "hazards", "error")

    def __init__(self, value: Any, globals_: list[str], hazards: list[str], error: str | None) -> None:
        self.value = value
        self.globals = globals_
        self.hazards = hazards
        self.error = error

    def plain(self) -> Any:
        """The decoded value as JSON-ready data (placeholders become ``{"__global__": ...}``)."""
        return _plain(self.value)

    def as_dict(self) -> dict[str, Any]:
        return {"globals": self.globals, "hazards": self.hazards, "error": self.error}


def _danger(module: str, qualname: str) -> str | None:
    """Why importing ``module.qualname`` would be a red flag in a data file, or None.

    The qualname is checked part by part because ``find_class`` walks attributes:
    ``pathlib`` + ``os.system`` reaches ``os.system`` through ``pathlib.os``.
    """
    top = module.split(".")[0]
    top = "builtins" if top == "__builtin__" else top
    parts = qualname.split(".")
    dotted = f"{top}.{qualname}" if top == "builtins" else f"{module}.{qualname}"
    if top in DANGEROUS_MODULES or any(p in DANGEROUS_MODULES for p in parts):
        return "reaches the OS, processes or the import system"
    if top == "builtins" and any(p in DANGEROUS_BUILTINS for p in parts):
        return "runs, imports or opens things by name"
    if dotted in DANGEROUS_NAMES:
        return "unpickles nested data, out of this reader's sight"
    return None


def _brief(value: Any, limit: int = 80) -> str:
    """A short deterministic rendering of decoded arguments for hazard messages."""
    text = json.dumps(_plain(value, nodes=200), ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Machine:
    """A pickle virtual machine that builds data and records, but never performs, imports/calls.

    It mirrors CPython's unpickler (stack + metastack for MARK, memo) for the opcodes that
    build containers and scalars; opcodes that would import or call produce ``_Global`` /
    ``_Call`` placeholders, and dangerous ones are reported as hazards.
    """

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.names: set[str] = set()
        self.hazards: list[str] = []
        self.called: set[str] = set()
        self.flagged: dict[str, str] = {}  # dangerous name -> reason
        self.carries_code = False

    # -- stack helpers ----------------------------------------------------------------------
    def pop(self) -> Any:
        if not self.stack:
            raise _PickleError("stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _PickleError("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise _PickleError("MARK expected but not found")
        items, self.stack = self.stack, self.metastack.pop()
        return items

    def hazard(self, message: str) -> None:
        if message not in self.hazards:
            self.hazards.append(message)

    # -- imports and calls ------------------------------------------------------------------
    def global_(self, module: Any, qualname: Any) -> _Global:
        if not isinstance(module, str) or not isinstance(qualname, str):
            raise _PickleError("STACK_GLOBAL needs two strings")
        name = f"{module}.{qualname}"
        self.names.add(name)
        self.carries_code = self.carries_code or name in CODE_CARRIERS
        reason = _danger(module, qualname)
        if reason:
            self.flagged.setdefault(name, reason)
        return _Global(name)

    def call(self, func: Any, args: Any, kwargs: Any, op: str) -> Any:
        plain = _pure_call(func, args, kwargs)
        if plain is not _NOT_PURE:
            return plain
        if isinstance(func, _Global):
            if func.name in self.flagged:
                self.called.add(func.name)
                self.hazard(f"{op} would call {func.name}({_brief(args)[1:-1]}) ({self.flagged[func.name]})")
            elif not func.known:
                self.hazard(f"{op} would call {func.name}, an extension-registry object whose target is unknown")
            elif func.name in IMPORTERS and isinstance(args, tuple) and args and isinstance(args[0], str):
                reason = _danger(args[0], "_")
                if reason:
                    self.hazard(f"{op} would import module {args[0]!r} via {func.name} ({reason})")
        elif isinstance(func, _Call) and func.name in CLASS_FACTORIES and self.carries_code:
            self.hazard(f"{op} would instantiate a class rebuilt from pickled bytecode "
                        f"({_brief(func.args, 60)}): its methods would run")
        elif not (isinstance(func, _Call) and func.name in CLASS_FACTORIES):
            # Calling the result of another call (getattr(...)(...), methodcaller(...)(obj)) is
            # how gadget chains hide their target from name checks: refuse to guess.
            self.hazard(f"{op} would call a computed object ({_brief(func)}), not a named global")
        return _Call(func, args, kwargs, op)

    def build(self, state: Any) -> None:
        target = self.top()
        if isinstance(target, _Call):
            target.state = state
        elif isinstance(target, _Global):
            self.hazard(f"BUILD would overwrite attributes of {target.name} itself (a module, class or function)")
        else:
            raise _PickleError(f"BUILD on a plain {type(target).__name__}")

    def extend(self, target: Any, items: list[Any], kind: type) -> None:
        """APPEND(S)/SETITEM(S)/ADDITEMS: real containers grow, placeholders keep the items."""
        if isinstance(target, kind):
            if kind is list:
                target.extend(items)
            elif kind is set:
                target.update(items)
            else:
                for i in range(0, len(items) - 1, 2):
                    target[items[i]] = items[i + 1]
        elif isinstance(target, _Call):
            target.extra.extend(items)
        else:
            raise _PickleError(f"cannot add items to a {type(target).__name__}")

    # -- the loop ---------------------------------------------------------------------------
    def run(self, data: bytes) -> Any:
        ops = 0
        for opcode, arg, _pos in pickletools.genops(data):
            ops += 1
            if ops > MAX_PICKLE_OPS:
                raise _PickleError(f"more than {MAX_PICKLE_OPS} opcodes")
            name = opcode.name
            if name == "STOP":
                return self.pop()
            self.step(name, arg)
        raise _PickleError("no STOP opcode")

    def push(self, value: Any) -> None:
        self.stack.append(value)  # not cached: MARK and pop_mark swap self.stack

    def step(self, name: str, arg: Any) -> None:  # noqa: C901 - one branch per opcode family
        push = self.push
        if name in ("PROTO", "FRAME", "READONLY_BUFFER"):
            return
        if name in _SCALAR_OPS:
            push(bytes(arg) if isinstance(arg, bytearray) else arg)
        elif name == "NONE":
            push(None)
        elif name in ("NEWTRUE", "NEWFALSE"):
            push(name == "NEWTRUE")
        elif name == "MARK":
            self.metastack.append(self.stack)
            self.stack = []
        elif name == "POP":
            self.pop() if self.stack else self.pop_mark()
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            push(self.top())
        elif name == "EMPTY_LIST":
            push([])
        elif name == "APPEND":
            item = self.pop()
            self.extend(self.top(), [item], list)
        elif name == "APPENDS":
            items = self.pop_mark()
            self.extend(self.top(), items, list)
        elif name == "LIST":
            push(self.pop_mark())
        elif name == "EMPTY_TUPLE":
            push(())
        elif name == "TUPLE":
            push(tuple(self.pop_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(self.stack) < n:
                raise _PickleError("stack underflow")
            items = tuple(self.stack[-n:])
            del self.stack[-n:]
            push(items)
        elif name == "EMPTY_DICT":
            push({})
        elif name == "DICT":
            items = self.pop_mark()
            push({items[i]: items[i + 1] for i in range(0, len(items) - 1, 2)})
        elif name == "SETITEM":
            value, key = self.pop(), self.pop()
            self.extend(self.top(), [key, value], dict)
        elif name == "SETITEMS":
            items = self.pop_mark()
            self.extend(self.top(), items, dict)
        elif name == "EMPTY_SET":
            push(set())
        elif name == "ADDITEMS":
            items = self.pop_mark()
            self.extend(self.top(), items, set)
        elif name == "FROZENSET":
            push(frozenset(self.pop_mark()))
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise _PickleError(f"memo key {arg} missing")
            push(self.memo[arg])
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[arg] = self.top()
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif name == "GLOBAL":
            module, _, qualname = str(arg).partition(" ")
            push(self.global_(module, qualname))
        elif name == "STACK_GLOBAL":
            qualname, module = self.pop(), self.pop()
            push(self.global_(module, qualname))
        elif name in ("EXT1", "EXT2", "EXT4"):
            self.names.add(f"copyreg.extension[{arg}]")
            push(_Global(f"copyreg.extension[{arg}]", known=False))
        elif name == "REDUCE":
            args = self.pop()
            push(self.call(self.pop(), args, None, name))
        elif name == "BUILD":
            self.build(self.pop())
        elif name == "INST":
            module, _, qualname = str(arg).partition(" ")
            args = tuple(self.pop_mark())
            push(self.call(self.global_(module, qualname), args, None, name))
        elif name == "OBJ":
            items = self.pop_mark()
            if not items:
                raise _PickleError("OBJ without a class")
            push(self.call(items[0], tuple(items[1:]), None, name))
        elif name == "NEWOBJ":
            args = self.pop()
            push(self.call(self.pop(), args, None, name))
        elif name == "NEWOBJ_EX":
            kwargs, args = self.pop(), self.pop()
            push(self.call(self.pop(), args, kwargs, name))
        elif name == "PERSID":
            push(_Persistent(arg))
        elif name == "BINPERSID":
            push(_Persistent(self.pop()))
        elif name == "NEXT_BUFFER":
            raise _PickleError("out-of-band buffer (protocol 5) not available in a file")
        else:
            raise _PickleError(f"unsupported opcode {name}")


_SCALAR_OPS = frozenset(
    {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
     "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
     "BYTEARRAY8", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"}
)


def decode_pickle(data: bytes) -> PickleReport:
    """Decode a pickle/dill byte string without importing or calling anything.

    Returns the value (placeholders for imports/calls), the sorted dotted names it would
    import, the hazards (what would execute code on a real load), and an error string when
    the stream is not a well-formed pickle. Never raises for bad input.
    """
    machine = _Machine()
    value: Any = None
    error: str | None = None
    try:
        value = machine.run(data)
    except _PickleError as exc:
        error = str(exc)
    except RecursionError:
        error = "nested too deeply"
    except Exception as exc:  # malformed opcode arguments, unhashable keys, huge ints ...
        error = f"{type(exc).__name__}: {exc}"
    for name in sorted(set(machine.flagged) - machine.called):
        machine.hazard(f"imports {name} ({machine.flagged[name]})")
    return PickleReport(value, sorted(machine.names), machine.hazards, error)


# --- turning decoded values into report data ------------------------------------------------

_DTYPE_NAMES = {
    "b1": "bool", "i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64", "u1": "uint8",
    "u2": "uint16", "u4": "uint32", "u8": "uint64", "f2": "float16", "f4": "float32",
    "f8": "float64", "c8": "complex64", "c16": "complex128", "O8": "object", "O4": "object",
}
_STRUCT = {
    "b1": "?", "i1": "b", "i2": "h", "i4": "i", "i8": "q", "u1": "B", "u2": "H", "u4": "I",
    "u8": "Q", "f2": "e", "f4": "f", "f8": "d", "c8": "ff", "c16": "dd",
}


def _dtype_of(ref: Any) -> tuple[str, str] | None:
    """(code, byte order) of a pickled ``numpy.dtype(code, ...)`` placeholder, e.g. ('c8', '<')."""
    if isinstance(ref, _Call) and ref.name == "numpy.dtype" and isinstance(ref.args, tuple) and ref.args:
        code = ref.args[0]
        if isinstance(code, str):
            order = ref.state[1] if isinstance(ref.state, tuple) and len(ref.state) > 1 else "<"
            return code, order if order in ("<", ">") else "<"
    return None


def _dtype_name(ref: Any) -> str:
    found = _dtype_of(ref)
    return _DTYPE_NAMES.get(found[0], found[0]) if found else "?"


def _ndarray_summary(state: Any) -> dict[str, Any] | None:
    """Shape and dtype from an ndarray's pickled state ``(version, shape, dtype, fortran, data)``."""
    if isinstance(state, tuple) and len(state) == 5 and isinstance(state[1], tuple):
        if all(isinstance(n, int) and not isinstance(n, bool) for n in state[1]):
            return {"shape": list(state[1]), "dtype": _dtype_name(state[2])}
    return None


def _numpy_scalar(call: _Call) -> Any:
    """The number held by ``numpy...multiarray.scalar(dtype, raw)``, unpacked with struct."""
    if not (isinstance(call.args, tuple) and len(call.args) == 2 and isinstance(call.args[1], bytes)):
        return None
    found = _dtype_of(call.args[0])
    if not found or found[0] not in _STRUCT:
        return None
    fmt = found[1] + _STRUCT[found[0]]
    if struct.calcsize(fmt) != len(call.args[1]):
        return None
    parts = struct.unpack(fmt, call.args[1])
    return complex(*parts) if len(parts) == 2 else parts[0]


def json_number(value: Any) -> Any:
    """JSON has no NaN/inf/complex/huge ints: render those as strings, deterministically."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 256 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, complex):
        return {"real": json_number(value.real), "imag": json_number(value.imag)}
    return value


class _Budget:
    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


def _plain(value: Any, nodes: int = PLAIN_NODES) -> Any:
    """Decoded pickle value -> JSON-ready data, bounded in size and depth, cycles cut."""
    return _to_plain(value, _Budget(nodes), 0, set())


def _key(value: Any, budget: _Budget, depth: int, active: set[int]) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(_to_plain(value, budget, depth, active), sort_keys=True)


def _to_plain(value: Any, budget: _Budget, depth: int, active: set[int]) -> Any:  # noqa: C901
    budget.left -= 1
    if budget.left < 0:
        return "<truncated>"
    if depth > PLAIN_DEPTH:
        return "<too deep>"
    if value is None or isinstance(value, (bool, int, float, complex)):
        return json_number(value)
    if isinstance(value, str):
        return value if len(value) <= TEXT_CAP else value[:TEXT_CAP] + f"...<{len(value) - TEXT_CAP} more chars>"
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": len(value)}
    if id(value) in active:
        return "<cycle>"
    active.add(id(value))
    try:
        down = depth + 1
        if isinstance(value, (list, tuple)):
            return [_to_plain(v, budget, down, active) for v in value]
        if isinstance(value, (set, frozenset)):
            items = [_to_plain(v, budget, down, active) for v in value]
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))  # set order is random
        if isinstance(value, dict):
            return {_key(k, budget, down, active): _to_plain(v, budget, down, active) for k, v in value.items()}
        if isinstance(value, _Global):
            return {"__global__": value.name}
        if isinstance(value, _Persistent):
            return {"__persistent_id__": _to_plain(value.pid, budget, down, active)}
        if isinstance(value, _Call):
            return _call_plain(value, budget, down, active)
        return f"<{type(value).__name__}>"
    finally:
        active.discard(id(value))


def _call_plain(call: _Call, budget: _Budget, depth: int, active: set[int]) -> dict[str, Any]:
    """Placeholder for a would-be call; numpy arrays, scalars and dtypes get a short summary."""
    name = call.name
    out: dict[str, Any] = {"__global__": name} if name else {"__call__": _to_plain(call.func, budget, depth, active)}
    module, _, attr = (name or "").rpartition(".")
    if module in NUMPY_MULTIARRAY and attr == "_reconstruct" and _ndarray_summary(call.state):
        out["ndarray"] = _ndarray_summary(call.state)
        return out
    if name == "dill._dill._create_array" and isinstance(call.args, tuple) and len(call.args) >= 3:
        if _ndarray_summary(call.args[2]):
            out["ndarray"] = _ndarray_summary(call.args[2])
            return out
    if module in NUMPY_NUMERIC and attr == "_frombuffer" and isinstance(call.args, tuple) and len(call.args) == 4:
        if isinstance(call.args[2], tuple) and all(isinstance(n, int) for n in call.args[2]):
            out["ndarray"] = {"shape": list(call.args[2]), "dtype": _dtype_name(call.args[1])}
            return out
    if module in NUMPY_MULTIARRAY and attr == "scalar":
        number = _numpy_scalar(call)
        if number is not None:
            out["dtype"] = _dtype_name(call.args[0])
            out["value"] = json_number(number)
            return out
    if name == "numpy.dtype" and _dtype_of(call):
        out["dtype"] = _dtype_name(call)
        return out
    out["args"] = _to_plain(call.args, budget, depth, active)
    if call.kwargs is not None:
        out["kwargs"] = _to_plain(call.kwargs, budget, depth, active)
    if call.state is not None:
        out["state"] = _to_plain(call.state, budget, depth, active)
    if call.extra:
        out["items"] = _to_plain(call.extra, budget, depth, active)
    return out


def as_number(value: Any) -> float | int | None:
    """A plain number, or the value of a decoded numpy scalar placeholder."""
    if isinstance(value, dict) and "__global__" in value and "value" in value:
        value = value["value"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None
