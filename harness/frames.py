"""The innermost frame that matters: one walk for tracebacks and live stacks.

Four places need "the innermost frame of the namespace" (or of a file, or outside the
import machinery): where a scenario failed, which line wrote a file, who imported torch,
which line of a scenario file raised. They differ only in the test, so the walk lives
here once, inner frames first. Runs inside the traced process: standard library only.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Iterator
from types import FrameType, TracebackType

Located = tuple[FrameType, int]


def from_traceback(tb: TracebackType | None) -> list[Located]:
    """`(frame, line)` of a traceback, innermost first."""
    return list(traceback.walk_tb(tb))[::-1]


def from_stack(frame: FrameType | None) -> Iterator[Located]:
    """`(frame, line being executed)` from `frame` outwards."""
    while frame is not None:
        yield frame, frame.f_lineno
        frame = frame.f_back


def innermost(frames: Iterable[Located], keep: Callable[[FrameType], bool]) -> Located | None:
    """The first (innermost) frame `keep` accepts; a failing test counts as not kept."""
    for frame, line in frames:
        try:
            if keep(frame):
                return frame, line
        except Exception:  # noqa: BLE001 - a frame we cannot judge is not the one
            continue
    return None


def module_of(frame: FrameType) -> str | None:
    """The module a frame's code runs in, by its globals (what `__name__` says)."""
    name = frame.f_globals.get("__name__")
    return name if isinstance(name, str) else None
