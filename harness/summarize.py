"""Short, stable summaries of runtime values.

Two runs of the same code must produce byte-identical evidence, so a summary never
contains a memory address, a random temp-dir name or dict-ordering noise: scalars are
shown exactly, arrays and tensors by shape/dtype/range, containers by size and sorted
keys, everything else by its type's name. Summaries must also be cheap and must not call
back into the traced code beyond reading a few plain attributes.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Iterable, Optional

MAX_TEXT = 160
MAX_KEYS = 12
_TMP_NAME = re.compile(r"(?<=[/\\])tmp[A-Za-z0-9_]{6,}")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# The run's TMPDIR is <scratch>/tmp: whatever sits directly in it has a random name.
_SCRATCH_TMP = re.compile(r"<scratch>/tmp/[^/\s'\"]+")


class PathScrubber:
    """Rewrites run-specific paths: the scratch folder becomes `<scratch>`, temp dirs `<tmp>`."""

    def __init__(self, scratch: Optional[str] = None, root: Optional[str] = None) -> None:
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


def _number(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and _ADDRESS_RANGE[0] <= value < _ADDRESS_RANGE[1]:
        return "<address-like int>"
    return repr(value)


def _type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", None) else f"{module.split('.')[0]}.{kind.__qualname__}"


def _shape_dtype(value: Any) -> Optional[str]:
    """Array-likes (numpy, tf tensors, Keras tensors/variables) by shape and dtype."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None or dtype is None or isinstance(value, type):
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


def _keras_model(value: Any) -> Optional[str]:
    if not (hasattr(value, "count_params") and hasattr(value, "layers") and hasattr(value, "name")):
        return None
    try:
        count = int(value.count_params())
    except Exception:  # noqa: BLE001 - unbuilt models cannot count
        return f"{type(value).__name__} {value.name!r}"
    return f"{type(value).__name__} {value.name!r} ({count} params)"


def _keys(keys: Iterable[Any]) -> str:
    names = sorted(str(k) for k in keys)
    shown = ", ".join(names[:MAX_KEYS])
    if len(names) > MAX_KEYS:
        shown += f", … +{len(names) - MAX_KEYS} more"
    return shown


def summarize(value: Any, depth: int = 0) -> str:
    """One line describing `value`, identical across runs of the same code."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, (str, os.PathLike)):
        text = scrub(os.fspath(value)) if isinstance(value, os.PathLike) else scrub(value)
        return repr(_clip(text))
    if isinstance(value, bytes):
        return f"bytes[{len(value)}]"
    if isinstance(value, type):
        return f"class {value.__module__}.{value.__qualname__}"
    if callable(value) and hasattr(value, "__qualname__") and hasattr(value, "__code__"):
        return f"function {value.__module__}.{value.__qualname__}"
    model = _keras_model(value)
    if model:
        return model
    array = _shape_dtype(value)
    if array:
        return array
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        try:
            return f"{type(value).__name__}({_number(value.item())})"
        except Exception:  # noqa: BLE001
            pass
    if isinstance(value, dict):
        if depth == 0 and 0 < len(value) <= 4:
            inner = ", ".join(f"{k}: {summarize(value[k], 1)}" for k in sorted(value, key=str))
            return _clip(f"dict[{len(value)}] {{{inner}}}", 2 * MAX_TEXT)
        return f"dict[{len(value)}] keys: {_keys(value)}"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        if depth == 0 and len(items) <= 4:
            inner = ", ".join(summarize(item, 1) for item in items)
            return _clip(f"{type(value).__name__}[{len(items)}] ({inner})", 2 * MAX_TEXT)
        return f"{type(value).__name__}[{len(items)}]"
    return _type_name(value)
