"""Keeping a run record proportional to what it shows, when a process makes very many calls.

A target that calls a tiny namespace function a million times in a loop makes a million
`call` events; dynamic.txt shows them as one line `×1000000`, and the record need not hold
more. Past `CALL_CAP` calls in one process (counted in a first pass over its stream), its
stream is folded while it is read, with the rule dynamic.txt folds by (`report/fold.py`):
a call whose subtree is identical to its previous sibling's (same function, anchor, call
site, return summary, thread, direct flag; the same children, recursively) is not stored;
the sibling's `repeat` counts it. What still exceeds `CALL_CAP` stored calls is not stored
either, counted per phase (`dropped`). Memory stays bounded by `CALL_CAP` open or stored
calls, whatever the stream's length. Processes under the cap are stored call by call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CALL_CAP = 100_000
"""Calls one process may store in the record before folding (and, past it, dropping) starts."""


def count_calls(lines: Iterable[str]) -> int:
    """How many `call` events a stream holds (a cheap first pass: no JSON parsing)."""
    return sum(1 for line in lines if '"e":"call"' in line)


def fold_key(call: dict[str, Any]) -> tuple:
    """What two calls must share to fold: every field their lines show, and the edge's kind."""
    return (call["function"], call["anchor"], call["call_site"], call["thread"], call["returned"], call["direct"])


class CallFolder:
    """Folds one process's calls as they are read (see the module docstring).

    `raw` is the process's calls by the recorder's index (FoldedProcess owns it); a call is
    opened at its `call` event and closed at its `ret` event, when its subtree is complete."""

    def __init__(self, raw: dict[int, dict[str, Any]], cap: int = CALL_CAP) -> None:
        self.raw = raw
        self.cap = cap
        self.kids: dict[int, list[int]] = {}
        self.prev: dict[int, int | None] = {}
        self.last_root: dict[tuple, int] = {}
        self.shapes: dict[tuple, int] = {}
        self.sig: dict[int, int] = {}
        self.dropped_open: set[int] = set()
        self.dropped: dict[str, int] = {}
        self.referenced: set[int] = set()
        self.alias: dict[int, int] = {}

    def drops(self, event: dict[str, Any]) -> bool:
        """Whether a new call is not stored: the cap is reached, or its parent was not stored."""
        parent = event.get("p")
        if (parent is not None and parent in self.dropped_open) or len(self.raw) >= self.cap:
            self.dropped_open.add(event["i"])
            phase = str(event.get("ph"))
            self.dropped[phase] = self.dropped.get(phase, 0) + 1
            return True
        return False

    def opened(self, call: dict[str, Any]) -> None:
        index, parent = call["i"], call["parent"]
        if parent is not None:
            siblings = self.kids.setdefault(parent, [])
            self.prev[index] = siblings[-1] if siblings else None
            siblings.append(index)
        else:
            key = (call["phase"], call["thread_n"])
            self.prev[index] = self.last_root.get(key)
            self.last_root[key] = index

    def returned(self, index: int) -> bool:
        """A `ret` event: True when it belongs to a call that was not stored."""
        if index in self.dropped_open:
            self.dropped_open.discard(index)
            return True
        return False

    def closed(self, call: dict[str, Any]) -> None:
        """The call returned: sign its subtree; fold it into its previous sibling when equal."""
        index = call["i"]
        children = self.kids.get(index, [])
        if all(child in self.sig for child in children):
            shape = (fold_key(call), tuple((self.sig[c], self.raw[c].get("repeat", 1)) for c in children))
            self.sig[index] = self.shapes.setdefault(shape, len(self.shapes))
        else:  # a child that never returned: this subtree is like no other
            self.sig[index] = -1 - index
        previous = self.prev.pop(index, None)
        if previous is None or previous not in self.raw or self.sig.get(previous) != self.sig[index]:
            return
        kept = self.raw[previous]
        kept["repeat"] = kept.get("repeat", 1) + call.get("repeat", 1)
        self._forget(index, previous)
        if call["parent"] is not None:
            self.kids[call["parent"]].pop()
        else:
            self.last_root[(call["phase"], call["thread_n"])] = previous

    def _forget(self, index: int, instead: int) -> None:
        """Remove a folded call and its subtree; what referred to them refers to `instead`."""
        stack = [index]
        while stack:
            current = stack.pop()
            stack.extend(self.kids.pop(current, []))
            self.raw.pop(current, None)
            self.sig.pop(current, None)
            self.prev.pop(current, None)
            if current in self.referenced:
                self.alias[current] = instead

    def resolve(self, index: int | None) -> int | None:
        """The stored call an observation of call `index` belongs to (None: not stored)."""
        if index is None:
            return None
        return self.alias.get(index, index)
