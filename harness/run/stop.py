"""Stopping a run from outside (Ctrl-C, a CI job cancelled, a closed terminal) without losing it.

SIGINT, SIGTERM and SIGHUP all mean "stop": while a traced process runs, the signal
interrupts the wait so the process group can be ended at once; at any other moment it is
remembered, no further traced process is started, and the partial report is still written.
A second signal while the report is being written stops at once. The exit code is the
shell's convention, 128 + the signal number: 130, 143, 129.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import signal_name

STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


class Stopped(BaseException):
    """Raised where a stop signal interrupts the harness (never inside the traced process)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopSignals:
    """Installs the handlers for the duration of a run and restores the previous ones."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raising = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame) -> None:
        repeated = self.received is not None
        self.received = self.received or signum
        if self._raising or repeated:
            self._raising = False
            raise Stopped(signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A block a stop signal may interrupt (waiting for a traced process)."""
        if self.received is not None:
            raise Stopped(self.received)
        self._raising = True
        try:
            yield
        finally:
            self._raising = False


def end_group(pgid: int) -> int:
    """Kill every process still in the process group `pgid`; return how many there were.

    The traced process runs in a session (and group) of its own, so anything it started and
    did not wait for is in the group, still able to write into the target after it ended."""
    members = group_members(pgid)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return 0
    except PermissionError:
        return len(members)
    return len(members) if os.path.isdir("/proc/self") else 1


def group_members(pgid: int) -> list[int]:
    """Live process ids whose group is `pgid`, read from /proc (empty where there is no /proc)."""
    return sorted(pid for pid, (state, _, group) in _processes().items() if group == pgid and state != "Z")


def _processes() -> dict[int, tuple]:
    """pid -> (state, parent pid, process group) of every process /proc lists."""
    found: dict[int, tuple] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            found[int(name)] = (fields[0].decode(), int(fields[1]), int(fields[2]))
        except (OSError, IndexError, ValueError):
            continue
    return found


_adopting = False


def adopt_orphans() -> bool:
    """Make this process the subreaper of its descendants (Linux `PR_SET_CHILD_SUBREAPER`).

    A process the traced code detaches from its group (`setsid`, a double fork) is then
    re-parented here instead of to init, so `end_adopted` can still end it. Only the
    command line turns this on: there the harness has no other child between traced
    processes, so every child it finds then is one the traced code left behind."""
    global _adopting
    try:
        import ctypes

        _adopting = ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError, ImportError):
        _adopting = False
    return _adopting


def end_adopted() -> int:
    """Kill and reap every child this (subreaper) process has; returns how many were alive.

    Called after a traced process was waited for: the children left are orphans of the
    traced code. Killing one re-parents its own children here, hence the rounds."""
    if not _adopting:
        return 0
    ended = 0
    for _ in range(50):
        children = {pid: state for pid, (state, parent, _) in _processes().items() if parent == os.getpid()}
        if not children:
            break
        for pid, state in children.items():
            if state != "Z":
                ended += 1
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return ended
