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
import subprocess
import threading
import time
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


def wait_unreaped(process: subprocess.Popen, timeout: float | None = None) -> bool:
    """Wait until child `process` has ended, without reaping it (True), or `timeout` passed (False).

    While the ended leader is not reaped its number stays taken, so its process group id
    cannot be given to another process: `end_group` must run before the leader is reaped.
    Signalling a group after its leader was reaped can kill a stranger: with a small
    `pid_max` and many threads (TensorFlow) a busy machine reuses numbers within seconds, and
    another run's traced process (a session leader: pgid == pid) may get that number.
    Polls like `Popen.wait(timeout)`, so a stop signal's handler can interrupt it. Without
    `os.waitid` (macOS before Python 3.13) it reaps, as `Popen.wait` does."""
    if not hasattr(os, "waitid"):
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.0005
    while True:
        try:
            if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:
            return True  # already reaped (by someone else): nothing of ours to protect
        if deadline is not None and time.monotonic() >= deadline:
            return False
        remaining = 0.05 if deadline is None else max(0.0, deadline - time.monotonic())
        delay = min(delay * 2, remaining, 0.05)
        time.sleep(delay)


def end_group(pgid: int) -> int:
    """Kill every process still in the process group `pgid`; return how many there were
    besides the leader.

    The traced process runs in a session (and group) of its own, so anything it started and
    did not wait for is in the group, still able to write into the target after it ended.
    Call it while the leader `pgid` is alive or an unreaped zombie (`wait_unreaped`), never
    after reaping it: the number may belong to another process's group by then. Where /proc
    shows the group empty, nothing is signalled."""
    members = group_members(pgid)
    if not members and os.path.isdir("/proc/self"):
        return 0
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return 0
    except PermissionError:
        return len([pid for pid in members if pid != pgid])
    others = [pid for pid in members if pid != pgid]  # the leader itself is not left over
    return len(others) if os.path.isdir("/proc/self") else 1


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
