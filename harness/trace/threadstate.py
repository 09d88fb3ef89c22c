"""One thread's view for the recorder: its stack of kept frames, its re-entry guard, its label.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import re
import threading
from typing import Any

_DIGITS = re.compile(r"\d+")


def active_threads() -> dict:
    """threading's own table of live Thread objects by ident (reading it creates nothing)."""
    return getattr(threading, "_active", {})


def static_name(thread: Any) -> str | None:
    """A Thread's name read from its instance dict: a subclass's `name` property never runs."""
    if thread is None:
        return None
    try:
        name = object.__getattribute__(thread, "__dict__").get("_name")
    except (AttributeError, TypeError):
        return None
    return name if type(name) is str else None


def thread_label(name: str | None, main: bool) -> str:
    """Stable label of a thread: `main`, else its name with run-specific numbers as `N`."""
    if main:
        return "main"
    if not name:
        return "native"
    return _DIGITS.sub("N", name)


class ThreadState:
    """One thread's view: its stack of kept frames and its re-entry guard.

    A stack entry is `[frame, call index, def anchor, last line seen, code, offset of the
    last library class call with a Python __new__]`: the line is updated at every line
    event of that frame, so a change found at the next line event is credited to the line
    that made it."""

    __slots__ = ("stack", "busy", "label", "ident", "number")

    def __init__(self, label: str, ident: int, number: int) -> None:
        self.stack: list[list[Any]] = []
        self.busy = False
        self.label = label
        self.ident = ident
        self.number = number  # order of first kept event: tells same-label threads apart
