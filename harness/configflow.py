"""Config flow: where the global `params.cfg` changes, and which kept call changed it.

The dict is never replaced or wrapped (that would change what the target pickles into its
archive); instead the recorder asks, at every kept call boundary, whether any value is no
longer the same object as in the last shallow copy. A change found at a boundary happened
inside the innermost kept frame that was running just before it, which is the attribution
the evidence needs. Values are compared by identity first and by summary second, so
re-assigning an equal value is not reported as a change.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Optional

from .summarize import summarize

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
        self._last: Optional[Dict[str, Any]] = None

    def _current(self) -> Optional[dict]:
        try:
            value = lookup_global(self.spec)
        except (LookupError, AttributeError, KeyError, TypeError):
            return None
        return value if isinstance(value, dict) else None

    def check(self, running: Optional[int], phase: str) -> None:
        current = self._current()
        if current is None:
            return
        last = self._last
        if last is not None and len(last) == len(current) and all(
            current.get(key, _MISSING) is value for key, value in last.items()
        ):
            return
        self._last = dict(current)
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
            self.stream.emit("cfg", key=str(key), op=op, old=before, new=after, by=running, ph=phase)

    def snapshot(self, label: str) -> None:
        """The whole dict, summarised, at a phase boundary (or at the end of the run)."""
        current = self._current()
        if current is None:
            self.stream.emit("cfgsnap", at=label, present=False, values={})
            return
        if self._last is None:
            self._last = dict(current)
        values = {str(k): summarize(current[k]) for k in sorted(current, key=str)}
        self.stream.emit("cfgsnap", at=label, present=True, values=values)
