"""Tap points: declared places where the run captures a value.

A tap file (`tap_points/*.toml`) declares, per tap, a stable `key`, the owning function
(`module:qualname`), `when` (`call` or `return`) and what to `capture`:

    arg.<name>[.attr…]        an argument, read when the function starts
    local.<name>[.attr…]      a local variable, read when the function returns
    return[.attr…]            the return value
    global.<module>:<name>[.attr…]   a module global, e.g. global.ptycho.params:cfg

Captures are dotted lookups only (attribute, or key for dicts); nothing is evaluated.
Parsing happens in the harness process (`load_tap_files`); capturing happens in the traced
process (`TapSet`), which receives the parsed taps as plain data.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .configflow import lookup_global
from .summarize import summarize

KINDS = ("arg", "local", "return", "global")
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

    @property
    def kind(self) -> str:
        return self.capture.split(".", 1)[0]


def _line_of(text: str, key: str) -> int:
    """Line of the `key = "…"` assignment in a tap file, for error messages."""
    for number, line in enumerate(text.splitlines(), 1):
        if re.search(rf'^\s*key\s*=\s*["\']{re.escape(key)}["\']', line):
            return number
    return 1


def _check(entry: Dict[str, Any], where: str) -> Tap:
    missing = [name for name in ("key", "function", "when", "capture") if not entry.get(name)]
    if missing:
        raise TapFileError(f"{where}: tap is missing {', '.join(missing)}; every [[tap]] needs key, function, when, capture")
    unknown = sorted(set(entry) - {"key", "function", "when", "capture", "purpose", "units"})
    if unknown:
        raise TapFileError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: key, function, when, capture, purpose, units")
    key, function, when, capture = (str(entry[k]) for k in ("key", "function", "when", "capture"))
    if not _KEY.match(key):
        raise TapFileError(f"{where}: key {key!r} must be letters, digits, '_', '.', '-' (a stable name)")
    if not _FUNCTION.match(function):
        raise TapFileError(f"{where}: function {function!r} must be 'module:qualname', e.g. 'ptycho.model_manager:ModelManager.save_model'")
    if when not in ("call", "return"):
        raise TapFileError(f"{where}: when = {when!r}; use 'call' or 'return'")
    if capture.split(".", 1)[0] not in KINDS:
        raise TapFileError(f"{where}: unknown capture kind in {capture!r}; use arg.<name>, local.<name>, return, or global.<module>:<name>")
    if not _CAPTURE.match(capture):
        raise TapFileError(f"{where}: capture {capture!r} is not a dotted lookup; e.g. arg.base_path, return, global.ptycho.params:cfg")
    if capture.startswith(("return", "local.")) and when != "return":
        raise TapFileError(f"{where}: capture {capture!r} is only available at return; set when = \"return\"")
    return Tap(key, function, when, capture, str(entry.get("purpose", "")), str(entry.get("units", "")), where)


def load_tap_file(path: str) -> List[Tap]:
    """Parse one TOML tap file; raise TapFileError with file, line and fix on any problem."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, installed as `tomli` (a dependency there)
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise TapFileError("reading tap files on Python 3.10 needs the 'tomli' package; pip install tomli")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except OSError as error:
        raise TapFileError(f"{path}: cannot read tap file ({error.strerror}); check the --taps path")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TapFileError(f"{path}: invalid TOML: {error}; fix the syntax at that line (see tap_points/ptycho_persistence.toml for the format)")
    entries = data.get("tap")
    if not isinstance(entries, list) or not entries:
        raise TapFileError(f"{path}:1: no [[tap]] tables found; declare each tap as a [[tap]] table")
    taps = [_check(entry, f"{path}:{_line_of(text, str(entry.get('key', '')))}") for entry in entries]
    seen: Dict[str, str] = {}
    for tap in taps:
        if tap.key in seen:
            raise TapFileError(f"{tap.source}: duplicate tap key {tap.key!r} (first at {seen[tap.key]}); keys must be unique")
        seen[tap.key] = tap.source
    return taps


def load_tap_files(paths: Iterable[str]) -> List[Tap]:
    """Taps from several files; a later file replaces an earlier tap with the same key."""
    merged: Dict[str, Tap] = {}
    for path in paths:
        for tap in load_tap_file(path):
            merged[tap.key] = tap
    return list(merged.values())


def default_tap_files() -> List[str]:
    """The shipped tap files (the PyTorch surface rules live beside them but are not taps)."""
    from .resources import require_dir

    folder = require_dir("tap_points")
    return sorted(str(path) for path in folder.iterdir() if path.suffix == ".toml" and path.name != "torch_persistence.toml")


def taps_as_data(taps: List[Tap]) -> List[Dict[str, str]]:
    return [asdict(tap) for tap in taps]


# -- capture, in the traced process ------------------------------------------------------


def _walk(value: Any, parts: List[str]) -> Any:
    for part in parts:
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


class TapSet:
    """Captures declared taps at kept calls and streams one event per hit."""

    def __init__(self, taps: List[Dict[str, str]], stream) -> None:
        self.stream = stream
        self.by_function: Dict[Tuple[str, str], List[Dict[str, str]]] = {}
        for tap in taps:
            module, _, qualname = tap["function"].partition(":")
            self.by_function.setdefault((module, qualname), []).append(tap)
        self.pending: Dict[int, List[Tuple[Dict[str, str], Any]]] = {}
        self.hits: Dict[str, int] = {}

    def _emit(self, tap: Dict[str, str], index: int, read) -> None:
        count = self.hits.get(tap["key"], 0) + 1
        self.hits[tap["key"]] = count
        if count > MAX_HITS:
            return
        try:
            value = summarize(read())
        except Exception as error:  # noqa: BLE001 - a failed capture is evidence, not a crash
            self.stream.emit("tap", key=tap["key"], call=index, status="error", error=f"{type(error).__name__}: {error}")
            return
        self.stream.emit("tap", key=tap["key"], call=index, status="hit", value=value)

    def at_call(self, module: str, qualname: str, index: int, frame) -> None:
        taps = self.by_function.get((module, qualname))
        if not taps:
            return
        for tap in taps:
            if tap["when"] == "call":
                self._emit(tap, index, lambda: self._read(tap["capture"], frame, None))
            else:
                self.pending.setdefault(index, []).append((tap, frame))

    def at_return(self, index: int, frame, value: Any, raised: Optional[str]) -> None:
        for tap, _ in self.pending.pop(index, ()):
            if raised:
                self.stream.emit("tap", key=tap["key"], call=index, status="error", error=f"function raised {raised} before returning")
                continue
            self._emit(tap, index, lambda: self._read(tap["capture"], frame, value))

    @staticmethod
    def _read(capture: str, frame, value: Any) -> Any:
        kind, _, rest = capture.partition(".")
        if kind == "return":
            return _walk(value, rest.split(".") if rest else [])
        if kind == "global":
            spec, _, tail = rest.partition(":")
            name, *attrs = tail.split(".")
            return _walk(lookup_global(f"{spec}:{name}"), attrs)
        name, *attrs = rest.split(".")
        scope = frame.f_locals
        if name not in scope:
            raise LookupError(f"{'argument' if kind == 'arg' else 'local'} {name!r} not found")
        return _walk(scope[name], attrs)
