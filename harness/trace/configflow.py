"""Config flow: where the global `params.cfg` changes, and which line of the namespace changed it.

The dict is never replaced or wrapped (that would change what the target pickles into its
archive); instead the recorder asks, at every kept call boundary and at every line of a
kept frame, whether any value is no longer the same object as in the last shallow copy.
A change found at a line event happened on the previous line of that frame (or inside a
helper outside the namespace that this line called), which is the `path:line` the
evidence needs. The per-line question is `unchanged()`: one identity comparison per value
at C speed, so a kept line costs well under a microsecond when nothing changed. Values are
compared by identity first and by summary second, so re-assigning an equal value is not
reported as a change.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import operator
import sys
from typing import Any

from ..summarize import summarize

_MISSING = object()


def lookup_global(spec: str) -> Any:
    """`module:attr.attr` → the object, through already-imported modules only."""
    module_name, _, dotted = spec.partition(":")
    target: Any = sys.modules.get(module_name, _MISSING)
    if target is _MISSING:
        raise LookupError(f"module {module_name} is not imported")
    for part in filter(None, dotted.split(".")):
        target = target[part] if isinstance(target, dict) else getattr(target, part)
    return target


class ConfigWatch:
    """Tracks one global dict (default `ptycho.params:cfg`) through the run."""

    def __init__(self, spec: str, stream) -> None:
        self.spec = spec
        self.stream = stream
        self._last: dict[str, Any] | None = None
        self._dict: dict | None = None  # the dict found at the last full check
        self._values: tuple = ()

    def unchanged(self) -> bool:
        """The cheap per-line test: same dict, same length, every value the same object.

        A rebinding of the global itself (`params.cfg = {...}`) is seen at the next call
        boundary (full check), credited to the line running then."""
        current = self._dict
        return (
            current is not None
            and len(current) == len(self._values)
            and all(map(operator.is_, current.values(), self._values))
        )

    def _current(self) -> dict | None:
        try:
            value = lookup_global(self.spec)
        except (LookupError, AttributeError, KeyError, TypeError):
            return None
        return value if isinstance(value, dict) else None

    def check(self, running: int | None, phase: str, at: str | None = None, fn: str | None = None) -> None:
        """Emit every change since the last check, credited to call `running`, made at line
        `at` (`path:line`) of the function `fn`."""
        current = self._current()
        if current is None:
            self._dict = None
            return
        self._dict = current
        last = self._last
        if (
            last is not None
            and len(last) == len(current)
            and all(current.get(key, _MISSING) is value for key, value in last.items())
        ):
            self._values = tuple(current.values())
            return
        self._last = dict(current)
        self._values = tuple(current.values())
        if last is None:
            return
        for key in sorted(set(last) | set(current), key=str):
            old, new = last.get(key, _MISSING), current.get(key, _MISSING)
            if old is new:
                continue
            before = None if old is _MISSING else summarize(old)
            after = None if new is _MISSING else summarize(new)
            if before == after:
                continue
            op = "added" if old is _MISSING else "removed" if new is _MISSING else "changed"
            self.stream.emit("cfg", key=str(key), op=op, old=before, new=after, by=running, at=at, fn=fn, ph=phase)

    def snapshot(self, label: str) -> None:
        """The whole dict, summarised, at a phase boundary (or at the end of the run)."""
        current = self._current()
        if current is None:
            self.stream.emit("cfgsnap", at=label, present=False, values={})
            return
        if self._last is None:
            self._last = dict(current)
            self._dict, self._values = current, tuple(current.values())
        values = {str(k): summarize(current[k]) for k in sorted(current, key=str)}
        self.stream.emit("cfgsnap", at=label, present=True, values=values)
