"""Describe a ``wts.h5.zip`` model archive without trusting it, and check it against the contract.

``callchain inspect PATH [--json]`` answers two questions about an archive written by
PtychoPINN's ``ModelManager.save_multiple_models``: *what is in it* and *does it meet the
persistence contract* (manifest, both models, per-model payloads, backend tag, and whether
its two ``intensity_scale`` records agree).

The archive is untrusted input, so this module never does what a loader does:

* nothing is extracted: members are read into memory, at most a capped number of bytes,
  and only after the central directory has been checked (names, symlinks, duplicates,
  compression ratio, total size);
* nothing is unpickled: ``.dill``/pickle members are walked with
  :func:`pickletools.genops` by a small stack machine (:func:`decode_pickle`) that rebuilds
  plain containers and scalars and replaces every import or call by a placeholder;
* HDF5 members are opened read-only from memory (``h5py.File(io.BytesIO(data), 'r')``) and
  only their attributes and dataset shapes are read; a ``model.keras`` member (itself a zip)
  is listed from memory.

Everything returned is plain JSON-serialisable data in a fixed key order, so two runs on the
same archive print the same bytes.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import pickletools
import re
import stat
import struct
import sys
import zipfile
import zlib
from typing import Any, Sequence

__all__ = ["decode_pickle", "describe_archive", "render_text", "main", "PickleReport"]

MiB = 1 << 20
GiB = 1 << 30
PICKLE_CAP = 64 * MiB  # pickles are small (params.dill is ~35 KB); more is not a params file
MEMBER_CAP = 256 * MiB  # model.keras holds the weights (~10 MB for the reference model)
BOMB_RATIO = 100  # deflate rarely beats 100:1 on real data; zero-filled bombs reach 1000:1
BOMB_MIN_SIZE = 1 * MiB  # small members may compress well (config.json) and cost nothing
TOTAL_CAP = 2 * GiB
MAX_MEMBERS = 10_000
MAX_PICKLE_OPS = 5_000_000  # bounds the time spent walking one pickle
PLAIN_NODES = 20_000  # bounds the size of one decoded value in the report
PLAIN_DEPTH = 64
TEXT_CAP = 4096

ARCHIVE_NAME = "wts.h5.zip"
REQUIRED_MODELS = ("autoencoder", "diffraction_to_obj")
PARAMS_REQUIRED = ("N", "gridsize", "intensity_scale")
BACKENDS = ("tensorflow", "pytorch")
PICKLE_SUFFIXES = (".dill", ".pkl", ".pickle")
TORCH_SUFFIXES = (".ckpt", ".pth", ".pt")  # .ckpt is Lightning's; PtychoPINN's shim writes .pth
HINT = "pass the path of a wts.h5.zip written by ModelManager.save_multiple_models"
REFUSE = "refusing to read this archive; do not extract or load it"

HOSTILE_KINDS = frozenset({"unsafe_path", "symlink", "duplicate", "bomb", "executes_code"})
UNREADABLE_KINDS = frozenset(
    {"not_found", "not_a_file", "io_error", "empty", "not_zip", "truncated", "corrupt_member", "encrypted"}
)

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


def _json_number(value: Any) -> Any:
    """JSON has no NaN/inf/complex/huge ints: render those as strings, deterministically."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 256 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, complex):
        return {"real": _json_number(value.real), "imag": _json_number(value.imag)}
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
        return _json_number(value)
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
            out["value"] = _json_number(number)
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


def _number(value: Any) -> float | int | None:
    """A plain number, or the value of a decoded numpy scalar placeholder."""
    if isinstance(value, dict) and "__global__" in value and "value" in value:
        value = value["value"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


# ============================================================================================
# Zip layer
# ============================================================================================


class _Problems:
    """Ordered list of ``{kind, member, message}`` found while describing one archive."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, kind: str, member: str | None, message: str) -> None:
        entry = {"kind": kind, "member": member, "message": message}
        if entry not in self.items:
            self.items.append(entry)

    def kinds(self) -> set[str]:
        return {p["kind"] for p in self.items}


class _MemberError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _check_infos(infos: list[zipfile.ZipInfo], where: str, problems: _Problems) -> None:
    """Flag what a careless extractor would get wrong, from the central directory alone.

    ``where`` prefixes member names for nested zips (``autoencoder/model.keras::...``).
    """
    if len(infos) > MAX_MEMBERS:
        problems.add("bomb", None, f"{where or 'archive'} lists {len(infos)} members (> {MAX_MEMBERS}): {REFUSE}")
    counts: dict[str, int] = {}
    total = 0
    for info in infos:
        name, label = info.filename, where + info.filename
        counts[name] = counts.get(name, 0) + 1
        total += info.file_size
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            problems.add("unsafe_path", label, f"member {label!r} has an absolute path: {REFUSE}")
        if ".." in parts:
            problems.add("unsafe_path", label, f"member {label!r} escapes the archive root ('..' component): {REFUSE}")
        if "\\" in name:
            problems.add("unsafe_path", label,
                         f"member {label!r} contains a backslash, a folder separator on Windows: {REFUSE}")
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.add("symlink", label,
                         f"member {label!r} is a symbolic link: extracting it could write outside the target: {REFUSE}")
        if info.flag_bits & 0x1:
            problems.add("encrypted", label, f"member {label!r} is encrypted: {HINT}")
        if info.file_size > BOMB_MIN_SIZE and info.file_size > BOMB_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            problems.add("bomb", label,
                         f"member {label!r} expands {ratio}x ({info.file_size} bytes from {info.compress_size}): "
                         f"looks like a zip bomb; {REFUSE}")
    for name, n in counts.items():
        if n > 1:
            problems.add("duplicate", where + name,
                         f"member name {where + name!r} appears {n} times: tools disagree on which copy wins; {REFUSE}")
    if total > TOTAL_CAP:
        problems.add("bomb", None, f"{where or 'archive'} members expand to {total} bytes (> 2 GiB): {REFUSE}")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """Read one member into memory, streaming, never more than ``cap`` bytes."""
    if info.file_size > cap:
        raise _MemberError("too_large", f"member {info.filename!r} is {info.file_size} bytes (> {cap}): not read")
    buf = bytearray()
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(min(MiB, cap + 1 - len(buf)))
                if not chunk:
                    break
                buf += chunk
                if len(buf) > cap:
                    raise _MemberError("too_large", f"member {info.filename!r} inflates past {cap} bytes: not read")
    except _MemberError:
        raise
    except zipfile.BadZipFile as exc:
        kind = "bomb" if "overlap" in str(exc).lower() else "corrupt_member"
        raise _MemberError(kind, f"member {info.filename!r} is corrupt ({exc}): the archive is damaged; {HINT}")
    except (zlib.error, EOFError, OSError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise _MemberError("corrupt_member",
                           f"member {info.filename!r} cannot be read ({type(exc).__name__}: {exc}); {HINT}")
    return bytes(buf)


def _inspect_h5(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Root attributes (name -> summary) and datasets (name, shape, dtype) of an HDF5 image.

    Opened read-only from memory; dataset contents are never read.
    """
    import h5py  # imported here so the rest of the module works without it

    attrs: dict[str, Any] = {}
    datasets: list[dict[str, Any]] = []
    with h5py.File(io.BytesIO(data), "r") as h5:
        for key in sorted(h5.attrs.keys()):
            try:
                attrs[key] = _h5_value(h5.attrs[key])
            except Exception as exc:  # exotic attribute types: report, do not fail
                attrs[key] = f"<unreadable attribute: {type(exc).__name__}>"

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and len(datasets) < 1000:
                datasets.append({"name": name, "shape": list(obj.shape or ()), "dtype": str(obj.dtype)})

        h5.visititems(visit)
    datasets.sort(key=lambda d: d["name"])
    return attrs, datasets


def _h5_value(value: Any) -> Any:
    """An HDF5 attribute as JSON-ready data: small arrays as lists, big ones as shape/dtype."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist") and hasattr(value, "shape"):  # numpy, without importing it
        if getattr(value, "size", 0) > 16:
            return {"shape": list(value.shape), "dtype": str(value.dtype)}
        return _h5_value(value.tolist())
    if isinstance(value, list):
        return [_h5_value(v) for v in value]
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float, complex)) or value is None:
        return _json_number(value)
    return f"<{type(value).__name__}>"


# ============================================================================================
# Describing an archive
# ============================================================================================


class _Archive:
    """State gathered while describing one archive; turned into the report by ``_report``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.archive: str | None = None
        self.problems = _Problems()
        self.members: list[dict[str, Any]] = []
        self.infos: dict[str, zipfile.ZipInfo] = {}
        self.pickles: dict[str, PickleReport] = {}
        self.h5: dict[str, tuple[dict[str, Any], list[dict[str, Any]]] | str] = {}
        self.nested: dict[str, list[str] | str] = {}
        self.refused: str | None = None  # why contents were not read


def _resolve(path: str, problems: _Problems) -> str | None:
    """The archive file to open: ``path``, ``path/wts.h5.zip``, or ``path + '.zip'``."""
    if os.path.isdir(path):
        candidate = os.path.join(path, ARCHIVE_NAME)
        if os.path.isfile(candidate):
            return candidate
        problems.add("not_found", None,
                     f"{path} is a directory without {ARCHIVE_NAME}: pass the archive or the output folder holding it")
        return None
    if os.path.exists(path):
        if not os.path.isfile(path):
            problems.add("not_a_file", None, f"{path} is not a regular file: {HINT}")
            return None
        return path
    if not path.endswith(".zip") and os.path.isfile(path + ".zip"):
        return path + ".zip"
    problems.add("not_found", None, f"{path} does not exist (nor {path}.zip): {HINT}")
    return None


def _open_zip(state: _Archive) -> zipfile.ZipFile | None:
    """Open the zip after checking size and magic; record why not when it cannot be opened."""
    path = state.archive or state.path
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        state.problems.add("io_error", None, f"cannot read {path}: {exc.strerror or exc}")
        return None
    if not magic:
        state.problems.add("empty", None, f"{path} is empty (0 bytes): the save did not finish; {HINT}")
        return None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        state.problems.add("not_zip", None, f"{path} is not a zip file (bad magic): {HINT}")
        return None
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        state.problems.add("truncated", None, f"{path} is truncated or corrupt ({exc}): re-save the model; {HINT}")
    except (OSError, EOFError, ValueError, NotImplementedError, RuntimeError, struct.error) as exc:
        state.problems.add("truncated", None,
                           f"{path} cannot be opened as a zip ({type(exc).__name__}: {exc}): re-save the model; {HINT}")
    return None


def _read_contents(state: _Archive, zf: zipfile.ZipFile) -> None:
    """Decode pickles, open HDF5 members and list nested zips, all from memory."""
    for name, info in sorted(state.infos.items()):
        lower = name.lower()
        if name.endswith("/"):
            continue
        wanted = lower.endswith(PICKLE_SUFFIXES) or lower.endswith((".h5", ".keras")) or lower.endswith(TORCH_SUFFIXES)
        if not wanted:
            continue
        cap = PICKLE_CAP if lower.endswith(PICKLE_SUFFIXES) else MEMBER_CAP
        try:
            data = _read_member(zf, info, cap)
        except _MemberError as exc:
            state.problems.add(exc.kind, name, str(exc))
            continue
        if lower.endswith(PICKLE_SUFFIXES):
            _add_pickle(state, name, data)
        elif lower.endswith(".h5"):
            try:
                state.h5[name] = _inspect_h5(data)
            except ImportError:
                state.h5[name] = "h5py is not installed"
            except Exception as exc:  # h5py raises OSError/KeyError/RuntimeError on bad images
                state.h5[name] = f"not a readable HDF5 file ({type(exc).__name__}: {exc})"
                state.problems.add("undecodable", name, f"{name!r} is not a readable HDF5 file ({type(exc).__name__})")
        else:
            state.nested[name] = _list_nested(state, name, data)


def _add_pickle(state: _Archive, label: str, data: bytes) -> None:
    report = decode_pickle(data)
    state.pickles[label] = report
    for hazard in report.hazards:
        state.problems.add("executes_code", label,
                           f"{label}: unpickling would execute code: {hazard}; do not load this archive with dill/pickle")
    if report.error:
        state.problems.add("undecodable", label, f"{label} is not a well-formed pickle ({report.error})")


def _list_nested(state: _Archive, outer: str, data: bytes) -> list[str] | str:
    """Member names of a zip held in memory (model.keras, a torch .ckpt); pickles inside decoded."""
    if data[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        return "not a zip file"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            infos = inner.infolist()
            before = len(state.problems.items)
            _check_infos(infos, outer + "::", state.problems)
            if any(p["kind"] in HOSTILE_KINDS for p in state.problems.items[before:]):
                return sorted(i.filename for i in infos)
            for info in sorted(infos, key=lambda i: i.filename):
                if info.filename.lower().endswith(PICKLE_SUFFIXES):
                    label = f"{outer}::{info.filename}"
                    try:
                        _add_pickle(state, label, _read_member(inner, info, PICKLE_CAP))
                    except _MemberError as exc:
                        state.problems.add(exc.kind, label, f"{outer}: {exc}")
            return sorted(i.filename for i in infos)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError, struct.error) as exc:
        return f"not a readable zip ({type(exc).__name__}: {exc})"


def describe_archive(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe the archive at ``path`` and check it against the persistence contract.

    ``path`` may be the zip, the ``wts.h5`` base name callers pass, or the output folder.
    Never raises for bad input: problems are reported in the result (see module docstring).
    """
    state = _Archive(os.fspath(path))
    state.archive = _resolve(state.path, state.problems)
    if state.archive is None:
        return _report(state)
    zf = _open_zip(state)
    if zf is None:
        return _report(state)
    with zf:
        infos = zf.infolist()
        state.members = [
            {"name": i.filename, "size": i.file_size, "compressed_size": i.compress_size}
            for i in sorted(infos, key=lambda i: (i.filename, i.header_offset))
        ]
        state.infos = {i.filename: i for i in infos}
        _check_infos(infos, "", state.problems)
        blocking = sorted(state.problems.kinds() & (HOSTILE_KINDS | UNREADABLE_KINDS))
        if blocking:
            state.refused = "contents not read: " + ", ".join(blocking)
        else:
            _read_contents(state, zf)
    return _report(state)


# --- contract ---------------------------------------------------------------------------------


def _clause(cid: str, text: str, status: str, detail: str) -> dict[str, str]:
    return {"id": cid, "text": text, "status": status, "detail": detail}


GLOBAL_CLAUSES = (
    ("manifest.present", "manifest.dill at the archive root, decodable as a dict"),
    ("manifest.keys", "manifest holds 'models' and 'version'"),
    ("manifest.backend", "backend tag: absent means tensorflow; PyTorch archives must set 'backend': 'pytorch'"),
    ("models.required", "both autoencoder and diffraction_to_obj present, in the manifest and as folders"),
)


def _manifest(state: _Archive) -> tuple[Any, str | None]:
    """(plain manifest or None, why it is unusable or None)."""
    report = state.pickles.get("manifest.dill")
    if "manifest.dill" not in state.infos:
        return None, "no manifest.dill at the archive root"
    if report is None:
        return None, "manifest.dill was not read"
    if report.error:
        return None, f"manifest.dill is not decodable ({report.error})"
    value = report.plain()
    if not isinstance(value, dict):
        return value, f"manifest.dill holds a {type(report.value).__name__}, not a dict"
    return value, None


def _backend(state: _Archive, manifest: Any) -> tuple[str, str]:
    tag = manifest.get("backend") if isinstance(manifest, dict) else None
    torch = [m["name"] for m in state.members if m["name"].lower().endswith(TORCH_SUFFIXES)]
    if isinstance(tag, str):
        return tag, "tag"
    if torch:
        return "pytorch", f"inferred from {torch[0]}"
    return "tensorflow", "default: no tag"


def _model_names(state: _Archive, manifest: Any) -> tuple[list[str], list[str]]:
    """(models that get per-model clauses, all model folders/names to describe)."""
    listed = manifest.get("models") if isinstance(manifest, dict) else None
    named = [m for m in listed if isinstance(m, str)] if isinstance(listed, list) else []
    checked = list(REQUIRED_MODELS) + [m for m in dict.fromkeys(named) if m not in REQUIRED_MODELS]
    folders = sorted({m["name"].split("/", 1)[0] for m in state.members if "/" in m["name"]})
    return checked, checked + [f for f in folders if f not in checked and f]


def _model_info(state: _Archive, model: str) -> dict[str, Any]:
    """What one model folder holds, for the report and the per-model clauses."""
    prefix = model + "/"
    members = [m["name"] for m in state.members if m["name"].startswith(prefix)]
    keras = state.nested.get(prefix + "model.keras")
    h5 = state.h5.get(prefix + "model.h5")
    params = state.pickles.get(prefix + "params.dill")
    custom = state.pickles.get(prefix + "custom_objects.dill")
    params_plain = params.plain() if params and not params.error else None
    custom_plain = custom.plain() if custom and not custom.error else None
    return {
        "members": members,
        "keras_members": keras if isinstance(keras, list) else None,
        "h5_attrs": h5[0] if isinstance(h5, tuple) else None,
        "h5_datasets": h5[1] if isinstance(h5, tuple) else None,
        "params_keys": sorted(params_plain) if isinstance(params_plain, dict) else None,
        "params_values": (
            {k: _unwrap(params_plain[k]) for k in PARAMS_REQUIRED if k in params_plain}
            if isinstance(params_plain, dict) else None
        ),
        "custom_objects_names": sorted(custom_plain) if isinstance(custom_plain, dict) else None,
        "custom_objects_refs": (
            {k: (v.get("__global__") if isinstance(v, dict) else None) for k, v in sorted(custom_plain.items())}
            if isinstance(custom_plain, dict) else None
        ),
        "checkpoints": [m for m in members if m.lower().endswith(TORCH_SUFFIXES)],
        "hyperparameters": [m for m in members if _is_hparams(m[len(prefix):])],
    }


def _unwrap(value: Any) -> Any:
    """A decoded numpy scalar placeholder as its number; anything else unchanged."""
    number = _number(value)
    return value if number is None else number


def _is_hparams(name: str) -> bool:
    base = name.rsplit("/", 1)[-1].lower()
    return base in ("hparams.yaml", "hparams.yml", "params.dill") or "hyperparameters" in base or "hparams" in base


def _pickle_clause(state: _Archive, member: str) -> tuple[str, str] | None:
    """(status, detail) when a pickle member is missing or unusable, else None."""
    if member not in state.infos:
        return "fail", f"{member} is missing"
    report = state.pickles.get(member)
    if report is None:
        return "fail", f"{member} was not read"
    if report.error:
        return "fail", f"{member} is not decodable ({report.error})"
    if not isinstance(report.value, dict):
        return "fail", f"{member} holds a {type(report.value).__name__}, not a dict"
    return None


def _fmt(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _tf_clauses(state: _Archive, model: str, info: dict[str, Any]) -> list[dict[str, str]]:
    p = model + "/"
    out = []
    keras = state.nested.get(p + "model.keras")
    if p + "model.keras" not in state.infos:
        out.append(_clause(f"tf.model_keras[{model}]", f"{p}model.keras present (a Keras zip)", "fail",
                           f"{p}model.keras is missing"))
    elif isinstance(keras, list):
        out.append(_clause(f"tf.model_keras[{model}]", f"{p}model.keras present (a Keras zip)", "pass",
                           f"{len(keras)} members: {', '.join(keras)}"))
    else:
        out.append(_clause(f"tf.model_keras[{model}]", f"{p}model.keras present (a Keras zip)",
                           "fail" if keras else "skip", f"{p}model.keras: {keras or 'not read'}"))

    text = f"{p}params.dill decodable, with keys {', '.join(PARAMS_REQUIRED)}"
    bad = _pickle_clause(state, p + "params.dill")
    if bad:
        out.append(_clause(f"tf.params[{model}]", text, *bad))
    else:
        missing = [k for k in PARAMS_REQUIRED if k not in (info["params_keys"] or [])]
        values = ", ".join(f"{k}={_fmt(v)}" for k, v in (info["params_values"] or {}).items())
        out.append(_clause(f"tf.params[{model}]", text, "fail" if missing else "pass",
                           (f"missing keys: {', '.join(missing)}; " if missing else "")
                           + f"{len(info['params_keys'] or [])} keys; {values}"))

    text = f"{p}custom_objects.dill decodable (name -> class map)"
    bad = _pickle_clause(state, p + "custom_objects.dill")
    refs = info["custom_objects_refs"] or {}
    out.append(_clause(f"tf.custom_objects[{model}]", text, *(bad or (
        "pass", f"{len(refs)} names: " + ", ".join(f"{k} -> {v}" for k, v in refs.items())))))

    text = f"{p}model.h5 readable, with attribute intensity_scale"
    h5 = state.h5.get(p + "model.h5")
    if p + "model.h5" not in state.infos:
        out.append(_clause(f"tf.model_h5[{model}]", text, "fail", f"{p}model.h5 is missing"))
    elif not isinstance(h5, tuple):
        out.append(_clause(f"tf.model_h5[{model}]", text, "fail", f"{p}model.h5: {h5 or 'not read'}"))
    elif "intensity_scale" not in h5[0]:
        out.append(_clause(f"tf.model_h5[{model}]", text, "fail",
                           f"attributes: {', '.join(h5[0]) or 'none'}; intensity_scale is missing"))
    else:
        out.append(_clause(f"tf.model_h5[{model}]", text, "pass",
                           f"intensity_scale={_fmt(h5[0]['intensity_scale'])}"))
    out.append(_intensity_clause(model, info))
    return out


def _intensity_clause(model: str, info: dict[str, Any]) -> dict[str, str]:
    """params.dill and model.h5 both record intensity_scale; they must agree.

    Agreement is judged at float32 precision: ``model_manager.save()`` stores a float32 copy
    (988.2117688026185 -> 988.211669921875), which is a rounding, not a disagreement.
    """
    cid, text = f"tf.intensity_scale[{model}]", f"{model}: params.dill and model.h5 agree on intensity_scale"
    from_params = _number((info["params_values"] or {}).get("intensity_scale"))
    from_h5 = _number((info["h5_attrs"] or {}).get("intensity_scale"))
    if from_params is None or from_h5 is None:
        return _clause(cid, text, "skip", "needs a numeric intensity_scale in both params.dill and model.h5")
    both = f"params.dill {from_params!r} vs model.h5 {from_h5!r}"
    if from_params == from_h5:
        return _clause(cid, text, "pass", f"both {from_params!r}")
    if math.isclose(from_params, from_h5, rel_tol=1e-6):
        return _clause(cid, text, "pass", f"{both} (equal at float32 precision)")
    return _clause(cid, text, "fail", f"disagree: {both}")


def _torch_clauses(state: _Archive, model: str, info: dict[str, Any]) -> list[dict[str, str]]:
    ckpts = [m for m in info["checkpoints"] if m.lower().endswith(".ckpt")]
    out = [_clause(f"torch.ckpt[{model}]", f"{model}/ holds a Lightning .ckpt payload",
                   "pass" if ckpts else "fail",
                   ", ".join(ckpts) if ckpts else f"no .ckpt under {model}/ (found: {', '.join(info['members']) or 'nothing'})")]
    hparams = info["hyperparameters"]
    bad = [h for h in hparams if h.lower().endswith(PICKLE_SUFFIXES) and _pickle_clause(state, h)]
    status = "pass" if hparams and not bad else "fail"
    detail = ", ".join(hparams) if hparams else f"no hparams.yaml / params.dill / hyperparameters member under {model}/"
    if bad:
        detail = "; ".join(_pickle_clause(state, h)[1] for h in bad)  # type: ignore[index]
    out.append(_clause(f"torch.hparams[{model}]", f"{model}/ carries serialized hyperparameters", status, detail))
    return out


def _clauses(state: _Archive, manifest: Any, why: str | None, backend: tuple[str, str],
             models: dict[str, dict[str, Any]], checked: list[str]) -> list[dict[str, str]]:
    out = [_clause(GLOBAL_CLAUSES[0][0], GLOBAL_CLAUSES[0][1], "fail" if why else "pass",
                   why or f"keys: {', '.join(manifest)}")]
    if why:
        out.append(_clause(*GLOBAL_CLAUSES[1], "skip", why))
    else:
        missing = [k for k in ("models", "version") if k not in manifest]
        out.append(_clause(*GLOBAL_CLAUSES[1], "fail" if missing else "pass",
                           f"missing: {', '.join(missing)}" if missing
                           else f"models={_fmt(manifest['models'])}, version={_fmt(manifest['version'])}"))
    out.append(_backend_clause(state, manifest, why, backend))
    listed = manifest.get("models") if isinstance(manifest, dict) else None
    gaps = []
    for m in REQUIRED_MODELS:
        if not (isinstance(listed, list) and m in listed):
            gaps.append(f"{m} not in manifest['models']")
        if not models.get(m, {}).get("members"):
            gaps.append(f"no {m}/ folder")
    out.append(_clause(*GLOBAL_CLAUSES[3], "fail" if gaps else "pass", "; ".join(gaps) or "both present"))
    for m in checked:
        out += _torch_clauses(state, m, models[m]) if backend[0] == "pytorch" else _tf_clauses(state, m, models[m])
    return out


def _backend_clause(state: _Archive, manifest: Any, why: str | None, backend: tuple[str, str]) -> dict[str, str]:
    torch = [m["name"] for m in state.members if m["name"].lower().endswith(TORCH_SUFFIXES)]
    has_tag = isinstance(manifest, dict) and "backend" in manifest
    tag = manifest.get("backend") if has_tag else None
    if has_tag and tag not in BACKENDS:
        return _clause(*GLOBAL_CLAUSES[2], "fail", f"unknown backend tag {_fmt(tag)} (expected one of {', '.join(BACKENDS)})")
    if torch and tag != "pytorch":
        where = "manifest.dill" if not why else "the manifest (unreadable)"
        return _clause(*GLOBAL_CLAUSES[2], "fail",
                       f"PyTorch archive (holds {', '.join(torch)}) but {where} has "
                       f"{'backend=' + _fmt(tag) if has_tag else 'no backend tag'}: add 'backend': 'pytorch'")
    if why:
        return _clause(*GLOBAL_CLAUSES[2], "skip", why)
    if has_tag:
        return _clause(*GLOBAL_CLAUSES[2], "pass", f"backend={_fmt(tag)}")
    return _clause(*GLOBAL_CLAUSES[2], "pass", "no tag: tensorflow by default, and no PyTorch payloads")


def _report(state: _Archive) -> dict[str, Any]:
    """Assemble the description in a fixed key order."""
    readable = state.archive is not None and not (
        state.problems.kinds() & {"not_found", "not_a_file", "io_error", "empty", "not_zip", "truncated"})
    manifest, why = _manifest(state) if readable and not state.refused else (None, None)
    backend = _backend(state, manifest) if readable else (None, None)
    models: dict[str, dict[str, Any]] = {}
    clauses: list[dict[str, str]]
    if readable and not state.refused:
        checked, described = _model_names(state, manifest)
        models = {m: _model_info(state, m) for m in described}
        clauses = _clauses(state, manifest, why, backend, models, checked)  # type: ignore[arg-type]
    else:
        reason = state.refused or "not checked: the archive could not be opened"
        clauses = [_clause(cid, text, "skip", reason) for cid, text in GLOBAL_CLAUSES]

    kinds = state.problems.kinds()
    failed = [c for c in clauses if c["status"] == "fail"]
    if kinds & HOSTILE_KINDS:
        status, code = "hostile", 2
    elif kinds & UNREADABLE_KINDS:
        status, code = "unreadable", 2
    elif failed:
        status, code = "violations", 1
    else:
        status, code = "ok", 0
    if code == 2:
        first = next(p for p in state.problems.items if p["kind"] in (HOSTILE_KINDS | UNREADABLE_KINDS))
        summary = first["message"]
    elif code == 1:
        summary = f"{len(failed)} contract clause(s) failed: " + ", ".join(c["id"] for c in failed)
    else:
        summary = "meets the persistence contract"
    return {
        "path": state.path,
        "archive": state.archive,
        "status": status,
        "exit_code": code,
        "summary": summary,
        "backend": backend[0],
        "backend_source": backend[1],
        "members": state.members,
        "total_size": sum(m["size"] for m in state.members),
        "total_compressed_size": sum(m["compressed_size"] for m in state.members),
        "manifest": manifest,
        "models": models,
        "pickles": {name: state.pickles[name].as_dict() for name in sorted(state.pickles)},
        "clauses": clauses,
        "problems": state.problems.items,
    }


# ============================================================================================
# Text report and CLI
# ============================================================================================


def _safe(text: Any) -> str:
    """Escape control characters so hostile member names cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def render_text(description: dict[str, Any]) -> str:
    """A readable report of :func:`describe_archive`'s result."""
    d = description
    lines = [
        f"archive: {_safe(d['archive'] or d['path'])}",
        f"status:  {d['status']} (exit {d['exit_code']}): {_safe(d['summary'])}",
    ]
    if d["backend"]:
        lines.append(f"backend: {_safe(d['backend'])} ({_safe(d['backend_source'])})")
    if d["manifest"] is not None:
        lines.append(f"manifest: {_safe(_fmt(d['manifest']))}")
    if d["members"]:
        lines += ["", f"members ({len(d['members'])}; {d['total_size']} bytes, {d['total_compressed_size']} compressed)",
                  f"  {'size':>12}  {'compressed':>12}  name"]
        lines += [f"  {m['size']:>12}  {m['compressed_size']:>12}  {_safe(m['name'])}" for m in d["members"]]
    if d["models"]:
        lines += ["", "models"]
        for name, m in d["models"].items():
            lines.append(f"  {_safe(name)}: {len(m['members'])} members")
            if m["keras_members"] is not None:
                lines.append(f"    model.keras: {_safe(', '.join(m['keras_members']))}")
            if m["h5_attrs"] is not None:
                lines.append(f"    model.h5 attrs: {_safe(_fmt(m['h5_attrs']))}")
            if m["params_keys"] is not None:
                lines.append(f"    params.dill: {len(m['params_keys'])} keys; {_safe(_fmt(m['params_values']))}")
            if m["custom_objects_refs"] is not None:
                refs = ", ".join(f"{k} -> {v}" for k, v in m["custom_objects_refs"].items())
                lines.append(f"    custom_objects.dill: {_safe(refs)}")
            if m["checkpoints"]:
                lines.append(f"    checkpoints: {_safe(', '.join(m['checkpoints']))}")
    if d["pickles"]:
        lines += ["", "pickles (decoded without unpickling; names they would import)"]
        for name, p in d["pickles"].items():
            lines.append(f"  {_safe(name)}: {_safe(', '.join(p['globals']) or 'plain data only')}")
            if p["error"]:
                lines.append(f"    error: {_safe(p['error'])}")
    lines += ["", "contract"]
    lines += [f"  {c['status'].upper():<4}  {_safe(c['id'])}: {_safe(c['detail'])}" for c in d["clauses"]]
    if d["problems"]:
        lines += ["", "problems"]
        lines += [f"  [{p['kind']}] {_safe(p['message'])}" for p in d["problems"]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``callchain inspect PATH [--json]``: exit 0 meets the contract, 1 violates, 2 unreadable/hostile."""
    parser = argparse.ArgumentParser(
        prog="callchain inspect",
        description="Describe a wts.h5.zip model archive without extracting or unpickling it, "
                    "and check it against the persistence contract.",
    )
    parser.add_argument("path", metavar="PATH", help="wts.h5.zip, its base name wts.h5, or the folder holding it")
    parser.add_argument("--json", action="store_true", help="print the description as one JSON document")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage; keep main() returning an int
        return exc.code if isinstance(exc.code, int) else 2
    try:
        description = describe_archive(args.path)
    except Exception as exc:  # a bug, not bad input; still no traceback for the user
        print(f"error: internal error while inspecting {args.path} ({type(exc).__name__}: {exc}); "
              "please report it with the archive", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(description, indent=2, ensure_ascii=False))
    elif description["status"] != "unreadable":
        print(render_text(description), end="")
    if description["exit_code"] == 2:
        print(f"error: {_safe(description['summary'])}", file=sys.stderr)
    return int(description["exit_code"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
