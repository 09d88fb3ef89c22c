"""Short, stable summaries of runtime values.

Two runs of the same code must produce byte-identical evidence, so a summary never
contains a memory address, a random temp-dir name or dict-ordering noise: scalars are
shown exactly, arrays and tensors by shape/dtype/range, containers by size and sorted
keys, everything else by its type's name. Summaries must also be cheap and must never run
the traced code: no hasattr/getattr/repr/len/properties on the target's own objects.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import inspect
import math
import os
import pathlib
import re
import types
from collections.abc import Iterable
from typing import Any

MAX_TEXT = 160
MAX_KEYS = 12
_TMP_NAME = re.compile(r"(?<=[/\\])tmp[A-Za-z0-9_]{6,}")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# The run's TMPDIR is <scratch>/tmp: whatever sits directly in it has a random name.
_SCRATCH_TMP = re.compile(r"<scratch>/tmp/[^/\s'\"]+")


class PathScrubber:
    """Rewrites run-specific paths: the scratch folder becomes `<scratch>`, temp dirs `<tmp>`."""

    def __init__(self, scratch: str | None = None, root: str | None = None) -> None:
        self.prefixes = []
        for real, label in ((scratch, "<scratch>"), (root, "<root>")):
            if real:
                for variant in {real, os.path.realpath(real)}:
                    self.prefixes.append((variant.rstrip(os.sep), label))
        self.prefixes.sort(key=lambda pair: -len(pair[0]))

    def __call__(self, text: str) -> str:
        for prefix, label in self.prefixes:
            text = text.replace(prefix, label)
        text = _SCRATCH_TMP.sub("<scratch>/tmp/<tmp>", text)
        return _ADDRESS.sub("", _TMP_NAME.sub("<tmp>", text))


_scrub = PathScrubber()


def set_scrubber(scrubber: PathScrubber) -> None:
    """Install the run's path scrubber (the scratch folder is only known at run time)."""
    global _scrub
    _scrub = scrubber


def scrub(text: str) -> str:
    return _scrub(text)


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# User-space addresses and thread idents on 64-bit Linux: they change every run.
_ADDRESS_RANGE = (0x5500_0000_0000, 0x8000_0000_0000)

# Summaries never run the target's code: a value's type is read with type(), class
# attributes through type's own descriptors, containers through the base class's C methods
# (which a subclass cannot override), and attributes only by static look-up. Only types
# of these libraries are asked for more (shape, dtype, count_params): they are the
# framework, not the code under test.
_TRUSTED = frozenset({"builtins", "numpy", "tensorflow", "keras", "tf_keras", "h5py", "pathlib", "collections"})
_type_module = type.__dict__["__module__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__
_PATH_TYPES = tuple(
    getattr(pathlib, name)
    for name in ("PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath", "WindowsPath")
)


def _type_parts(kind: type) -> tuple:
    """(module, qualname) of a class without running a metaclass or class-body property."""
    try:
        module = _type_module(kind)
    except Exception:  # noqa: BLE001
        module = None
    try:
        qualname = _type_qualname(kind)
    except Exception:  # noqa: BLE001
        qualname = None
    return (module if type(module) is str else "?", qualname if type(qualname) is str else "?")


def _trusted(kind: type) -> bool:
    return _type_parts(kind)[0].partition(".")[0] in _TRUSTED


def _number(value: Any) -> str:
    """Exact numbers by their digits; numbers of foreign subclasses through the base class."""
    kind = type(value)
    if kind is int or kind is float or _trusted(kind):
        if isinstance(value, float) and not math.isfinite(value):
            return repr(value)
        if kind is int and _ADDRESS_RANGE[0] <= value < _ADDRESS_RANGE[1]:
            return "<address-like int>"
        return repr(value)
    text = int.__repr__(value) if issubclass(kind, int) else float.__repr__(value)
    return f"{_type_parts(kind)[1]}({text})"


def _type_name(value: Any) -> str:
    module, qualname = _type_parts(type(value))
    return qualname if module in ("builtins", "?") else f"{module.split('.')[0]}.{qualname}"


def _static(value: Any, name: str) -> bool:
    """Does the attribute exist, found without running __getattr__, properties or descriptors?"""
    return inspect.getattr_static(value, name, _ABSENT) is not _ABSENT


_ABSENT = object()


def _shape_dtype(value: Any) -> str | None:
    """Array-likes of trusted libraries (numpy, tf tensors, Keras tensors/variables) by shape and dtype."""
    if not (_static(value, "shape") and _static(value, "dtype")):
        return None
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None or dtype is None:
        return None
    try:
        dims = tuple(None if d is None else int(d) for d in tuple(shape))
    except (TypeError, ValueError):
        return None
    dtype_name = getattr(dtype, "name", None) or str(dtype)
    text = f"{type(value).__name__} shape={dims} dtype={dtype_name}"
    return text + _range(value)


def _range(value: Any) -> str:
    """min/max for concrete numpy arrays only: never force evaluation of symbolic tensors."""
    if type(value).__module__ != "numpy" or getattr(value, "size", 0) == 0:
        return ""
    try:
        import numpy

        if numpy.iscomplexobj(value):
            mags = numpy.abs(value)
            return f" |min|={_number(float(mags.min()))} |max|={_number(float(mags.max()))}"
        if value.dtype.kind in "biuf":
            return f" min={_number(value.min().item())} max={_number(value.max().item())}"
    except Exception:  # noqa: BLE001 - a summary must never break the run
        return ""
    return ""


def _keras_model(value: Any) -> str | None:
    if not all(_static(value, name) for name in ("count_params", "layers", "name")):
        return None
    try:
        name = value.name
    except Exception:  # noqa: BLE001
        return None
    try:
        count = int(value.count_params())
    except Exception:  # noqa: BLE001 - unbuilt models cannot count
        return f"{type(value).__name__} {name!r}"
    return f"{type(value).__name__} {name!r} ({count} params)"


def _key_text(key: Any) -> str:
    """A dict key as text: plain keys as themselves, anything else by its type (no __str__)."""
    kind = type(key)
    if kind is str:
        return key
    if kind in (int, float, bool) or key is None:
        return repr(key)
    return f"<{_type_name(key)}>"


def _keys(keys: Iterable[str]) -> str:
    names = sorted(keys)
    shown = ", ".join(names[:MAX_KEYS])
    if len(names) > MAX_KEYS:
        shown += f", … +{len(names) - MAX_KEYS} more"
    return shown


def _callable_name(value: Any) -> str | None:
    kind = type(value)
    if kind is types.MethodType:
        value, kind = value.__func__, type(value.__func__)
    if kind in (types.FunctionType, types.BuiltinFunctionType):
        module, qualname = value.__module__, value.__qualname__
        if type(module) is str and type(qualname) is str:
            return f"function {module}.{qualname}"
    return None


def summarize(value: Any, depth: int = 0) -> str:
    """One line describing `value`, identical across runs of the same code; runs no target code."""
    try:
        return _summarize(value, depth)
    except Exception as error:  # noqa: BLE001 - a summary must never break the run
        return f"{_type_name(value)} (not summarised: {type(error).__name__})"


def _summarize(value: Any, depth: int) -> str:
    kind = type(value)
    if value is None or kind is bool:
        return repr(value)
    if issubclass(kind, (int, float)):
        return _number(value)
    if issubclass(kind, str):
        return repr(_clip(scrub(str.__str__(value))))
    if kind in _PATH_TYPES:
        return repr(_clip(scrub(os.fspath(value))))
    if issubclass(kind, bytes):
        return f"bytes[{bytes.__len__(value)}]"
    if issubclass(kind, type):
        module, qualname = _type_parts(value)
        return f"class {module}.{qualname}"
    name = _callable_name(value)
    if name:
        return name
    if issubclass(kind, dict):
        return _dict(value, depth)
    if issubclass(kind, (list, tuple, set, frozenset)):
        return _sequence(value, kind, depth)
    if _trusted(kind):
        found = _keras_model(value) or _shape_dtype(value)
        if found:
            return found
        if _type_parts(kind)[0] == "numpy" and _static(value, "item"):
            try:
                return f"{kind.__name__}({_number(value.item())})"
            except Exception:  # noqa: BLE001
                pass
    return _type_name(value)


def _dict(value: dict, depth: int) -> str:
    items = sorted(((_key_text(k), v) for k, v in dict.items(value)), key=lambda pair: pair[0])
    if depth == 0 and 0 < len(items) <= 4:
        inner = ", ".join(f"{k}: {summarize(v, 1)}" for k, v in items)
        return _clip(f"dict[{len(items)}] {{{inner}}}", 2 * MAX_TEXT)
    return f"dict[{len(items)}] keys: {_keys(k for k, _ in items)}"


def _sequence(value: Any, kind: type, depth: int) -> str:
    if issubclass(kind, (set, frozenset)):
        unordered = set if issubclass(kind, set) else frozenset
        texts = sorted(summarize(item, 1) for item in unordered.__iter__(value))
    else:
        ordered = list if issubclass(kind, list) else tuple
        items = ordered.__getitem__(value, slice(None))
        texts = [summarize(item, 1) for item in items] if depth == 0 and len(items) <= 4 else [""] * len(items)
    label = _type_parts(kind)[1]
    if depth == 0 and len(texts) <= 4:
        return _clip(f"{label}[{len(texts)}] ({', '.join(texts)})", 2 * MAX_TEXT)
    return f"{label}[{len(texts)}]"
