"""Processes of the traced run: programs it starts and processes it forks.

A mixin of the `Recorder`. A program start (subprocess, os.exec*, os.posix_spawn, os.system)
is a `proc` event with the kept line that made it; a forked child writes a stream of its own.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import audit
from .eventstream import EventStream
from .threadstate import ThreadState

_PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system"})


def _program(event: str, args: tuple) -> str:
    """The started program's file name only (no arguments, no run-specific paths)."""
    try:
        if event in ("os.system", "subprocess.Popen"):
            executable, command = (None, args[0]) if event == "os.system" else (args[0], args[1])
            if executable:
                first = executable
            elif type(command) in (str, bytes):
                words = command.split()
                first = words[0] if words else ""
            else:
                first = command[0] if type(command) in (list, tuple) and command else ""
        else:
            first = args[1] if event == "os.spawn" else args[0]
        name = os.path.basename(os.fsdecode(first)) if type(first) in (str, bytes) else type(first).__name__
    except Exception:  # noqa: BLE001
        return "?"
    return name or "?"


class ProcessEvents:
    """The process events of the Recorder (its attributes are declared here for mypy)."""

    stream: EventStream
    sinks: Any
    phase: str
    forks: int
    fork_label: str | None
    threads: list[ThreadState]
    open_calls: int
    library: dict
    _lock: Any

    if TYPE_CHECKING:  # defined by the Recorder

        def state(self) -> ThreadState: ...

        def _internal(self, error: BaseException) -> None: ...

    def watch_process_starts(self) -> None:
        """Every program the traced code starts (subprocess, os.exec*, os.posix_spawn, os.system)
        becomes a `proc` event: a Python child that keeps the environment is traced on its own
        (boot/sitecustomize.py), any other is at least counted, with the line that started it."""
        audit.watch(_PROCESS_EVENTS, self._audit)

    def _audit(self, event: str, args: tuple) -> None:
        try:
            state = self.state()
            if state.busy:
                return
            state.busy = True
            try:
                stack = state.stack
                by = f"{stack[-1][2].path}:{stack[-1][0].f_lineno}" if stack and stack[-1][2].path else None
                self.stream.emit(
                    "proc",
                    how=event,
                    program=_program(event, args),
                    by=by,
                    th=state.label,
                    ph=self.phase,
                    t=self.stream.now(),
                )
            finally:
                state.busy = False
        except Exception as error:  # noqa: BLE001 - an audit hook that raises would fail the target's call
            self._internal(error)

    def install_fork_handlers(self, on_child: Callable[[], None] | None = None) -> None:
        """A forked child never writes into the parent's stream: it gets a stream of its own
        (`events-<label>.fork<N>.jsonl`), its own label, and only the forking thread's stack."""
        os.register_at_fork(
            before=self._before_fork,
            after_in_parent=self._after_fork_parent,
            after_in_child=lambda: self._after_fork_child(on_child),
        )

    def _before_fork(self) -> None:
        self._lock.acquire()
        self.forks += 1

    def _after_fork_parent(self) -> None:
        self._lock.release()
        try:
            self.stream.emit("fork", n=self.forks, ph=self.phase, th=self.state().label, t=self.stream.now())
        except Exception as error:  # noqa: BLE001
            self._internal(error)

    def _after_fork_child(self, on_child: Callable[[], None] | None) -> None:
        state = self.state()
        state.busy = True
        try:
            self._lock = threading.RLock()
            self.threads = [state]
            self.open_calls = len(state.stack)
            self.library = {}  # the parent reports its own library calls; the child starts counting afresh
            base = self.stream.path[: -len(".jsonl")] if self.stream.path.endswith(".jsonl") else self.stream.path
            number, self.forks = self.forks, 0
            self.fork_label = f"fork{number}"
            if self.sinks is not None:
                self.sinks.quiet(True)
            try:
                self.stream.reopen(f"{base}.fork{number}.jsonl")
            finally:
                if self.sinks is not None:
                    self.sinks.quiet(False)
            self.stream.emit("start", pid=os.getpid(), fork=number, ph=self.phase, th=state.label, t=self.stream.now())
            if on_child is not None:
                on_child()
        except Exception as error:  # noqa: BLE001
            self._internal(error)
        finally:
            state.busy = False
