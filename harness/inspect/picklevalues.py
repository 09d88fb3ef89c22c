"""Values a safe pickle decode produces, and their rendering as bounded JSON-ready report data.

The decoder (:mod:`harness.inspect.safepickle`) never builds real objects: imports become :class:`Global`,
calls :class:`Call`, dicts and sets :class:`Dict`/:class:`Set` (lists of items, so a hostile
pickle cannot make us hash a 2**40-node tuple). :func:`plain` turns them into JSON data, bounded in
nodes and depth, with numpy arrays, scalars and dtypes summarised.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

PLAIN_DEPTH = 64
PLAIN_NODES = 20_000  # bounds the size of one decoded value in the report
TEXT_CAP = 4096
NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
NUMPY_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")


class Global:
    """A name the pickle would import (GLOBAL, STACK_GLOBAL, INST, EXT*): never imported."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Call:
    """What REDUCE/OBJ/INST/NEWOBJ* would have built by calling ``func``; BUILD state attached."""

    __slots__ = ("func", "args", "kwargs", "op", "state", "extra", "built")

    def __init__(self, func: Any, args: Any, kwargs: Any, op: str) -> None:
        self.func, self.args, self.kwargs, self.op = func, args, kwargs, op
        self.state: Any = None
        self.extra: list[Any] = []  # items APPENDed/SETITEMed/ADDed to a built object
        self.built: Any = None  # what an admitted call builds (harness.inspect.built.Built)

    @property
    def name(self) -> str | None:
        return self.func.name if isinstance(self.func, Global) else None


class Persistent:
    """A persistent id (PERSID/BINPERSID): resolved by the loader's hook, never by us."""

    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid


class Dict:
    """A decoded dict as its (key, value) pairs in pickle order: keys are never hashed."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[Any, Any]] | None = None) -> None:
        self.pairs = pairs or []

    def get(self, key: str, default: Any = None) -> Any:
        found = default
        for k, v in self.pairs:  # the last one wins, as in pickle
            if isinstance(k, str) and k == key:
                found = v
        return found


class Set:
    """A decoded set or frozenset as its items: never hashed."""

    __slots__ = ("items", "frozen")

    def __init__(self, items: list[Any] | None = None, frozen: bool = False) -> None:
        self.items, self.frozen = items or [], frozen


def plain(value: Any, nodes: int = PLAIN_NODES) -> Any:
    """Decoded pickle value -> JSON-ready data, bounded in size and depth, cycles cut."""
    return _to_plain(value, _Budget(nodes), 0, set())


def key_text(value: Any) -> str:
    """A dict key as the report shows it; keys the loader's dict holds as one key show alike."""
    return _key(value, _Budget(200), 0, set())


def brief(value: Any, limit: int = 80) -> str:
    """A short deterministic rendering of decoded arguments for hazard messages."""
    text = json.dumps(plain(value, nodes=200), ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_DTYPE_NAMES = {
    "b1": "bool",
    "i1": "int8",
    "i2": "int16",
    "i4": "int32",
    "i8": "int64",
    "u1": "uint8",
    "u2": "uint16",
    "u4": "uint32",
    "u8": "uint64",
    "f2": "float16",
    "f4": "float32",
    "f8": "float64",
    "c8": "complex64",
    "c16": "complex128",
    "O8": "object",
    "O4": "object",
}
_STRUCT = {
    "b1": "?",
    "i1": "b",
    "i2": "h",
    "i4": "i",
    "i8": "q",
    "u1": "B",
    "u2": "H",
    "u4": "I",
    "u8": "Q",
    "f2": "e",
    "f4": "f",
    "f8": "d",
    "c8": "ff",
    "c16": "dd",
}


def _dtype_of(ref: Any) -> tuple[str, str] | None:
    """(code, byte order) of a pickled ``numpy.dtype(code, ...)`` placeholder, e.g. ('c8', '<')."""
    if isinstance(ref, Call) and ref.name == "numpy.dtype" and isinstance(ref.args, tuple) and ref.args:
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


def _numpy_scalar(call: Call) -> Any:
    """The number (or text) held by ``numpy...multiarray.scalar(dtype, raw)``, unpacked with struct."""
    if not (isinstance(call.args, tuple) and len(call.args) == 2 and isinstance(call.args[1], bytes)):
        return None
    found = _dtype_of(call.args[0])
    if found and found[0][:1] in ("U", "S") and found[0][1:].isdigit():  # numpy.str_ / numpy.bytes_
        raw = call.args[1]
        if found[0][0] == "S":
            return raw.rstrip(b"\0")
        if len(raw) % 4 == 0:
            return raw.decode("utf-32-be" if found[1] == ">" else "utf-32-le", "replace").rstrip("\0")
        return None
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


def scalar_key(value: Any) -> Any:
    """The plain value a dict key stands for, normalised so that keys the loader's dict holds as one
    (``'N'`` and ``numpy.str_('N')``; ``1``, ``1.0``, ``True`` and ``numpy.int64(1)``) are equal here;
    ``_NOT_SCALAR`` for containers and other objects."""
    if isinstance(value, Call) and value.name and value.name.rpartition(".")[0] in NUMPY_MULTIARRAY:
        found = _numpy_scalar(value) if value.name.endswith(".scalar") else None
        value = _NOT_SCALAR if found is None else found
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, complex) and value.imag == 0:
        value = value.real
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, (str, bytes, int, float, complex)):
        return value
    return _NOT_SCALAR


_NOT_SCALAR = object()


def _key(value: Any, budget: _Budget, depth: int, active: set[int]) -> str:
    scalar = scalar_key(value)
    if isinstance(scalar, str):
        return scalar
    if scalar is not _NOT_SCALAR and not isinstance(scalar, bytes):
        return json.dumps(json_number(scalar))
    return json.dumps(_to_plain(value, budget, depth, active), sort_keys=True)


def _items(values: Any, budget: _Budget, depth: int, active: set[int]) -> list[Any]:
    """Items until the node budget runs out: a shared huge list costs its budget, not its length."""
    out = []
    for v in values:
        if budget.left <= 0:
            out.append("<truncated>")
            break
        out.append(_to_plain(v, budget, depth, active))
    return out


def _pairs(pairs: list[tuple[Any, Any]], budget: _Budget, depth: int, active: set[int]) -> dict[str, Any]:
    """Keys as the loader's dict holds them: equal keys once, in first place, with the last value."""
    last: dict[str, Any] = {}
    for k, v in pairs:
        last[_key(k, budget, depth, active)] = v
    out: dict[str, Any] = {}
    for key, v in last.items():
        if budget.left <= 0:
            out["<truncated>"] = f"{len(last)} keys in all"
            break
        out[key] = _to_plain(v, budget, depth, active)
    return out


def _to_plain(value: Any, budget: _Budget, depth: int, active: set[int]) -> Any:
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
            return _items(value, budget, down, active)
        if isinstance(value, Set):
            items = _items(value.items, budget, down, active)
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))  # set order is random
        if isinstance(value, Dict):
            return _pairs(value.pairs, budget, down, active)
        if isinstance(value, Global):
            return {"__global__": value.name}
        if isinstance(value, Persistent):
            return {"__persistent_id__": _to_plain(value.pid, budget, down, active)}
        if isinstance(value, Call):
            return _call_plain(value, budget, down, active)
        return f"<{type(value).__name__}>"
    finally:
        active.discard(id(value))


def _call_plain(call: Call, budget: _Budget, depth: int, active: set[int]) -> dict[str, Any]:
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
