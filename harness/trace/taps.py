"""Tap points: declared places where the run captures a value.

A tap file (`tap_points/*.toml`) declares, per tap, a stable `key`, the owning function
(`module:qualname`), `when` (`call` or `return`) and what to `capture`:

    arg.<name>[.attr…]        an argument, read when the function starts
    local.<name>[.attr…]      a local variable, read when the function returns
    return[.attr…]            the return value
    global.<module>:<name>[.attr…]   a module global, e.g. global.ptycho.params:cfg

A capture may list alternatives, `A | B`: the first that resolves is taken (revisions keep
the same value under different names). Optional fields: `read = "value"` shows the concrete
numbers of a small numpy/TensorFlow/Keras scalar or array (a trained variable) instead of its
shape and dtype; `variants = [...]` limits the tap to those scenario variants.

Captures are dotted lookups only (attribute, or key for dicts); nothing is evaluated: a module
global is read from the module's namespace, so a module `__getattr__` (which may build models)
is never triggered.
Parsing happens in the harness process (`load_tap_files`); capturing happens in the traced
process (`TapSet`), which receives the parsed taps as plain data.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ..resources import TomlFileError, read_toml
from ..summarize import summarize

KINDS = ("arg", "local", "return", "global")
READS = ("summary", "value")
MAX_VALUES = 16
_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_<][\w.<>]*$")
_CAPTURE = re.compile(r"^(arg|local)\.\w+(\.\w+)*$|^return(\.\w+)*$|^global\.[\w.]+:\w+(\.\w+)*$")
MAX_HITS = 20


class TapFileError(ValueError):
    """A tap file that cannot be used; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Tap:
    key: str
    function: str
    when: str
    capture: str
    purpose: str = ""
    units: str = ""
    source: str = ""
    read: str = "summary"
    variants: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.capture.split(".", 1)[0]

    @property
    def alternatives(self) -> list[str]:
        return alternatives(self.capture)

    def applies_to(self, variant: str) -> bool:
        return not self.variants or variant in self.variants


def alternatives(capture: str) -> list[str]:
    """`A | B | C` → [A, B, C]: lookups tried in order."""
    return [part.strip() for part in capture.split("|")]


def _line_of(text: str, key: str) -> int:
    """Line of the `key = "…"` assignment in a tap file, for error messages."""
    for number, line in enumerate(text.splitlines(), 1):
        if re.search(rf'^\s*key\s*=\s*["\']{re.escape(key)}["\']', line):
            return number
    return 1


FIELDS = ("key", "function", "when", "capture", "purpose", "units", "read", "variants")


def _check_capture(capture: str, when: str, where: str) -> None:
    for one in alternatives(capture):
        if one.split(".", 1)[0] not in KINDS:
            raise TapFileError(
                f"{where}: unknown capture kind in {one!r}; use arg.<name>, local.<name>, return, or global.<module>:<name>"
            )
        if not _CAPTURE.match(one):
            raise TapFileError(
                f"{where}: capture {one!r} is not a dotted lookup; e.g. arg.base_path, return, global.ptycho.params:cfg"
            )
        if one.startswith(("return", "local.")) and when != "return":
            raise TapFileError(f'{where}: capture {one!r} is only available at return; set when = "return"')


def _variants(entry: dict[str, Any], where: str) -> tuple[str, ...]:
    value = entry.get("variants", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TapFileError(f'{where}: variants must be a list of scenario variant names, e.g. variants = ["train"]')
    return tuple(value)


def _check(entry: dict[str, Any], where: str) -> Tap:
    missing = [name for name in ("key", "function", "when", "capture") if not entry.get(name)]
    if missing:
        raise TapFileError(
            f"{where}: tap is missing {', '.join(missing)}; every [[tap]] needs key, function, when, capture"
        )
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise TapFileError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    key, function, when, capture = (str(entry[k]) for k in ("key", "function", "when", "capture"))
    if not _KEY.match(key):
        raise TapFileError(f"{where}: key {key!r} must be letters, digits, '_', '.', '-' (a stable name)")
    if not _FUNCTION.match(function):
        raise TapFileError(
            f"{where}: function {function!r} must be 'module:qualname', e.g. 'ptycho.model_manager:ModelManager.save_model'"
        )
    if when not in ("call", "return"):
        raise TapFileError(f"{where}: when = {when!r}; use 'call' or 'return'")
    _check_capture(capture, when, where)
    read = str(entry.get("read", "summary"))
    if read not in READS:
        raise TapFileError(
            f"{where}: read = {read!r}; use 'summary' (shape, type) or 'value' (the numbers of a small tensor)"
        )
    return Tap(
        key,
        function,
        when,
        capture,
        str(entry.get("purpose", "")),
        str(entry.get("units", "")),
        where,
        read,
        _variants(entry, where),
    )


def load_tap_file(path: str) -> list[Tap]:
    """Parse one TOML tap file; raise TapFileError with file, line and fix on any problem."""
    try:
        text, data = read_toml(
            path,
            "tap file",
            "check the --taps path",
            "fix the syntax at that line (see tap_points/ptycho_persistence.toml for the format)",
        )
    except TomlFileError as error:
        raise TapFileError(str(error)) from None
    entries = data.get("tap")
    if not isinstance(entries, list) or not entries:
        raise TapFileError(f"{path}:1: no [[tap]] tables found; declare each tap as a [[tap]] table")
    taps = [_check(entry, f"{path}:{_line_of(text, str(entry.get('key', '')))}") for entry in entries]
    seen: dict[str, str] = {}
    for tap in taps:
        if tap.key in seen:
            raise TapFileError(
                f"{tap.source}: duplicate tap key {tap.key!r} (first at {seen[tap.key]}); keys must be unique"
            )
        seen[tap.key] = tap.source
    return taps


def load_tap_files(paths: Iterable[str]) -> list[Tap]:
    """Taps from several files; a later file replaces an earlier tap with the same key."""
    merged: dict[str, Tap] = {}
    for path in paths:
        for tap in load_tap_file(path):
            merged[tap.key] = tap
    return list(merged.values())


def default_tap_files() -> list[str]:
    """The shipped tap files (the PyTorch surface rules and the request's pointers live beside
    them but are not taps)."""
    from ..resources import require_dir

    folder = require_dir("tap_points")
    return sorted(str(path) for path in folder.iterdir() if path.suffix == ".toml" and path.name not in NOT_TAPS)


# Data files of the tap_points folder that are not tap files.
NOT_TAPS = ("torch_persistence.toml", "request_pointers.toml")


def for_variant(taps: list[Tap], variant: str) -> list[Tap]:
    """The taps a run of `variant` declares (a tap with `variants` applies to those only)."""
    return [tap for tap in taps if tap.applies_to(variant)]


def taps_as_data(taps: list[Tap]) -> list[dict[str, Any]]:
    return [dict(asdict(tap), variants=list(tap.variants)) for tap in taps]


# -- capture, in the traced process ------------------------------------------------------


def _walk(value: Any, parts: list[str]) -> Any:
    for part in parts:
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


class TapSet:
    """Captures declared taps at kept calls and streams one event per hit."""

    def __init__(self, taps: list[dict[str, str]], stream) -> None:
        self.stream = stream
        self.by_function: dict[tuple[str, str], list[dict[str, str]]] = {}
        for tap in taps:
            module, _, qualname = tap["function"].partition(":")
            self.by_function.setdefault((module, qualname), []).append(tap)
        self.pending: dict[int, list[tuple[dict[str, str], Any]]] = {}
        self.hits: dict[str, int] = {}

    def _emit(self, tap: dict[str, Any], index: int, read) -> None:
        count = self.hits.get(tap["key"], 0) + 1
        self.hits[tap["key"]] = count
        if count > MAX_HITS:
            return
        try:
            found = read()
            value = concrete(found) if tap.get("read") == "value" else summarize(found)
        except Exception as error:  # noqa: BLE001 - a failed capture is evidence, not a crash
            self.stream.emit(
                "tap", key=tap["key"], call=index, status="error", error=f"{type(error).__name__}: {error}"
            )
            return
        self.stream.emit("tap", key=tap["key"], call=index, status="hit", value=value)

    def at_call(self, module: str, qualname: str, index: int, frame) -> None:
        taps = self.by_function.get((module, qualname))
        if not taps:
            return
        for tap in taps:
            if tap["when"] == "call":
                self._emit(tap, index, lambda capture=tap["capture"]: self._first(capture, frame, None))
            else:
                self.pending.setdefault(index, []).append((tap, frame))

    def at_return(self, index: int, frame, value: Any, raised: str | None) -> None:
        for tap, _ in self.pending.pop(index, ()):
            if raised:
                self.stream.emit(
                    "tap",
                    key=tap["key"],
                    call=index,
                    status="error",
                    error=f"function raised {raised} before returning",
                )
                continue
            self._emit(tap, index, lambda capture=tap["capture"]: self._first(capture, frame, value))

    @classmethod
    def _first(cls, capture: str, frame, value: Any) -> Any:
        """The first alternative that resolves; the error of the last one when none does."""
        options = alternatives(capture)
        for position, one in enumerate(options):
            try:
                return cls._read(one, frame, value)
            except (LookupError, AttributeError, TypeError):
                if position == len(options) - 1:
                    raise
        raise LookupError(capture)  # unreachable: options is never empty

    @staticmethod
    def _read(capture: str, frame, value: Any) -> Any:
        kind, _, rest = capture.partition(".")
        if kind == "return":
            return _walk(value, rest.split(".") if rest else [])
        if kind == "global":
            spec, _, tail = rest.partition(":")
            name, *attrs = tail.split(".")
            return _walk(module_global(spec, name), attrs)
        name, *attrs = rest.split(".")
        scope = frame.f_locals
        if name not in scope:
            raise LookupError(f"{'argument' if kind == 'arg' else 'local'} {name!r} not found")
        return _walk(scope[name], attrs)


def module_global(module_name: str, name: str) -> Any:
    """A module's global read from its namespace: a module `__getattr__` is never run."""
    module = sys.modules.get(module_name)
    if module is None:
        raise LookupError(f"module {module_name} is not imported")
    namespace = vars(module)
    if name not in namespace:
        raise LookupError(f"{module_name} has no global {name!r}")
    return namespace[name]


_ARRAY_MODULES = ("numpy", "tensorflow", "keras", "tf_keras")


def concrete(value: Any) -> str:
    """The numbers of a small array-like (a trained scalar variable), exactly; else the summary.

    Only numpy, TensorFlow and Keras objects are asked for their values (`numpy()`), and only
    when they hold at most MAX_VALUES numbers: the traced code's own objects are never called."""
    if type(value).__module__.split(".")[0] not in _ARRAY_MODULES:
        return summarize(value)
    try:
        to_numpy = getattr(value, "numpy", None)
        array = to_numpy() if callable(to_numpy) else value
        size, dtype = int(getattr(array, "size", MAX_VALUES + 1)), getattr(array, "dtype", None)
        if size > MAX_VALUES or dtype is None:
            return summarize(value)
        numbers = array.tolist()
    except Exception:  # noqa: BLE001 - symbolic tensors have no value: show what they are
        return summarize(value)
    return f"{numbers!r} ({type(value).__name__} {getattr(dtype, 'name', dtype)})"
