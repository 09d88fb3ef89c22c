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
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional

STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


class Stopped(BaseException):
    """Raised where a stop signal interrupts the harness (never inside the traced process)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopSignals:
    """Installs the handlers for the duration of a run and restores the previous ones."""

    def __init__(self) -> None:
        self.received: Optional[int] = None
        self._raising = False
        self._previous: Dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
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


def group_members(pgid: int) -> List[int]:
    """Process ids whose group is `pgid`, read from /proc (empty where there is no /proc)."""
    found = []
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
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            found.append(int(name))
    return sorted(found)
