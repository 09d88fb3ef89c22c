"""The recorder: decides which calls are evidence and streams them to disk.

Backends (trace/backends/) only deliver "a frame started" and "a frame ended"; everything that
makes the evidence lives here, once, so every backend yields the same run record:

- the namespace is decided by the module of the running code (its globals' import-time
  `__name__`, its `__spec__`, else its file), never by a path prefix alone (keptcode.py);
- a kept call made by framework code (Keras calling a ptycho layer's `get_config`) is kept,
  and its caller is the innermost *kept* frame of the same thread, with its current line;
- every thread has its own stack, depth and busy flag, and a stable label (`main`, else the
  thread's name with its run-specific numbers replaced by `N`), so a worker thread can
  neither steal nor drop another thread's events;
- every event is one JSON line written with one `write()` (O_APPEND), so a crash keeps
  everything recorded so far and threads never interleave inside a line (eventstream.py);
- which code is kept (keptcode.py), a kept frame's lines and the library calls it makes
  (lineevents.py), and the programs the run starts and the processes it forks
  (processes.py), are mixins of the recorder: the backends call their methods directly,
  with no per-event indirection;
- the recorder checks itself (`verify`): at each phase boundary and at the end, it asks the
  backend whether it is still installed, and checks its own stacks; a problem becomes a
  `lost` event, which makes the run partial. Nothing a callback does may raise into the
  target: every callback catches everything and counts it as an internal error.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import _thread
import itertools
import os
import threading
from collections.abc import Callable
from typing import Any

from ..summarize import summarize
from .anchors import Anchor, AnchorIndex
from .eventstream import EventStream
from .guard import BLOCKED
from .keptcode import KeptCode
from .lineevents import LineEvents
from .processes import ProcessEvents
from .threadstate import ThreadState, active_threads, static_name, thread_label


class Recorder(KeptCode, LineEvents, ProcessEvents):
    """Keeps the calls of the namespace (one or more module names), in every thread, and everything observed at them."""

    def __init__(
        self,
        namespace: str,
        anchors: AnchorIndex,
        stream: EventStream,
        taps=None,
        config=None,
        sinks=None,
        describe: Callable[[str, int], str] | None = None,
    ) -> None:
        self.namespace = namespace  # one module name, or several joined by commas ("ptycho_torch,ptycho")
        self._names = tuple(n for n in namespace.split(",") if n) or (namespace,)
        self._prefix = tuple(n + "." for n in self._names)
        self.anchors = anchors
        self.stream = stream
        self.taps = taps
        self.config = config
        self.sinks = sinks
        self.describe = describe or (lambda filename, line: f"{anchors.relpath(filename) or filename}:{line}")
        self.phase = "start"
        self.seen = 0
        self._counter = itertools.count()
        self.kept = 0
        self.open_calls = 0  # kept calls started and not yet returned, all threads: a cheap "anything to match?"
        self._lock = threading.RLock()
        self._tls = threading.local()
        self.threads: list[ThreadState] = []
        self._main_ident = threading.main_thread().ident
        self._keep: dict[int, tuple[Any, tuple[str, Anchor]]] = {}  # kept code only (see identify)
        self._globals: dict[int, tuple[dict, str | None]] = {}
        self.by_name: dict[Any, Any] = {}
        self._root_prefix = os.path.join(anchors.root, "")
        self.backend_check: Callable[[], list[str]] = lambda: []
        self.losses: list[tuple[str, str]] = []
        self.internal_errors = 0
        self.first_internal_error: str | None = None
        self.unmatched = 0
        self.torch_executed: dict[str, str] = {}
        self.guarded: tuple[str, ...] = BLOCKED  # modules whose code must not run (none when torch is allowed)
        self.forks = 0
        self.fork_label: str | None = None
        self.library: dict[tuple[str, str | None, str | None, str, str], int] = {}  # folded key → unreported count
        self._code_maps: dict[int, tuple[Any, tuple[dict[int, int], frozenset[int]]]] = {}

    @property
    def lines(self) -> bool:
        """Do kept frames need line events? Only when a config is followed or writes are
        watched (read by the backends when they start)."""
        return self.config is not None or self.sinks is not None

    # -- threads ------------------------------------------------------------------------

    def state(self) -> ThreadState:
        """This thread's state, created on its first kept event (never creates a Thread object)."""
        try:
            return self._tls.state
        except AttributeError:
            ident = _thread.get_ident()
            thread = active_threads().get(ident)  # current_thread() would create a dummy Thread
            name = static_name(thread)
            state = ThreadState(thread_label(name, ident == self._main_ident), ident, len(self.threads))
            self._tls.state = state
            self.threads.append(state)
            return state

    @property
    def stack(self) -> list[list[Any]]:
        """The calling thread's stack of kept frames."""
        return self.state().stack

    @property
    def busy(self) -> bool:
        return self.state().busy

    @busy.setter
    def busy(self, value: bool) -> None:
        self.state().busy = value

    # -- which code is evidence ---------------------------------------------------------

    # -- events from a backend ----------------------------------------------------------

    def on_call(self, frame, identity: tuple[str, Anchor]) -> None:
        state = self.state()
        if state.busy:
            return
        state.busy = True
        try:
            with self._lock:
                self._call(state, frame, identity)
        except Exception as error:  # noqa: BLE001 - nothing may escape into the target
            self._internal(error)
        finally:
            state.busy = False

    def _call(self, state: ThreadState, frame, identity: tuple[str, Anchor]) -> None:
        module, anchor = identity
        stack = state.stack
        parent = stack[-1] if stack else None
        index = next(self._counter)
        self.kept += 1
        if parent is not None:
            self._check_config(parent[1], parent[2], parent[0].f_lineno)
        else:
            self._check_config(None)
        self.stream.emit(
            "call",
            i=index,
            p=parent[1] if parent else None,
            cl=parent[0].f_lineno if parent else None,
            d=len(stack),
            dr=parent is not None and frame.f_back is parent[0],
            mod=module,
            q=anchor.qualname,
            path=anchor.path,
            line=anchor.line,
            th=state.label,
            tn=state.number,
            ph=self.phase,
            t=self.stream.now(),
        )
        stack.append([frame, index, anchor, None, frame.f_code, None])
        self.open_calls += 1
        if self.taps is not None:
            self.taps.at_call(module, anchor.qualname, index, frame)

    def on_return(self, frame, value: Any, raised: str | None = None) -> None:
        state = self.state()
        if state.busy:
            return
        state.busy = True
        try:
            with self._lock:
                self._return(state, frame, value, raised)
        except Exception as error:  # noqa: BLE001
            self._internal(error)
        finally:
            state.busy = False

    def _return(self, state: ThreadState, frame, value: Any, raised: str | None) -> None:
        stack = state.stack
        position = len(stack) - 1
        while position >= 0 and stack[position][0] is not frame:
            position -= 1
        if position < 0:
            # A kept frame ends that never started for us: its start event was lost (e.g. a
            # RecursionError raised while entering our callback).
            self.unmatched += 1
            return
        index, anchor = stack[position][1], stack[position][2]
        line = frame.f_lineno
        self._check_config(index, anchor, line)
        if self.sinks is not None:
            self.sinks.sweep(self._where(anchor, line))
        if self.taps is not None:
            self.taps.at_return(index, frame, value, raised)
        result = f"raised {raised}" if raised else summarize(value)
        self.stream.emit("ret", i=index, v=result, t=self.stream.now())
        self.open_calls -= len(stack) - position
        del stack[position:]

    def _internal(self, error: BaseException) -> None:
        self.internal_errors += 1
        if self.first_internal_error is None:
            self.first_internal_error = f"{type(error).__name__} in phase '{self.phase}'"

    # -- phases, verification and global state ------------------------------------------

    def current(self) -> int | None:
        stack = self.stack
        return stack[-1][1] if stack else None

    def set_phase(self, name: str) -> None:
        state = self.state()
        state.busy = True
        try:
            with self._lock:
                self.verify()
                self.flush_library()
                top = state.stack[-1] if state.stack else None
                if top is not None:
                    self._check_config(top[1], top[2], top[0].f_lineno)
                else:
                    self._check_config(None)
                self.phase = name
                if self.sinks is not None:
                    self.sinks.sweep(None)
                    self.sinks.phase = name
                self.stream.emit("phase", name=name, t=self.stream.now())
                if self.config is not None:
                    self.config.snapshot(name)
        finally:
            state.busy = False

    def verify(self, final: bool = False) -> list[str]:
        """Is the evidence of the phase that ends complete? Each problem is emitted once as a
        `lost` event with the phase it was noticed in; the run becomes partial."""
        self._refresh_renamed()
        problems = list(self.backend_check())
        main = next((s for s in self.threads if s.label == "main"), None)
        if main is not None and main.stack:
            problems.append(
                f"{len(main.stack)} kept calls of the main thread never returned "
                f"(innermost {main.stack[-1][2].qualname}): their return events were lost"
            )
            self.open_calls -= len(main.stack)
            del main.stack[:]
        if self.unmatched:
            problems.append(f"{self.unmatched} kept calls ended without a recorded start (their call events were lost)")
            self.unmatched = 0
        if self.internal_errors:
            problems.append(
                f"the recorder failed {self.internal_errors} times ({self.first_internal_error}); "
                "those events are missing"
            )
            self.internal_errors = 0
        if final:
            problems += self._thread_problems()
            self.flush_library()
        if self.stream.failed or not self.stream.intact():
            problems.append(self.stream.failed or "the target closed or replaced the event stream's file descriptor")
        for problem in problems:
            if (problem, self.phase) not in self.losses:
                self.losses.append((problem, self.phase))
                self.stream.emit("lost", reason=problem, ph=self.phase, t=self.stream.now())
        return problems

    def _thread_problems(self) -> list[str]:
        problems = []
        for state in self.threads:
            if state.label == "main" or not state.stack:
                continue
            if state.ident in active_threads():  # still running: not a loss
                self.stream.emit(
                    "note",
                    text=f"thread {state.label} was still running at the end, inside "
                    f"{state.stack[-1][2].qualname} ({len(state.stack)} open calls)",
                )
            else:
                problems.append(f"thread {state.label} ended with {len(state.stack)} kept calls whose return was lost")
        return problems

    def _check_config(self, running: int | None, anchor: Anchor | None = None, line: int | None = None) -> None:
        """Config changes since the last check, credited to call `running` at `line` of its function."""
        if self.config is not None:
            at = f"{anchor.path}:{line}" if anchor is not None and anchor.path and line else None
            self.config.check(running, self.phase, at, anchor.qualname if anchor is not None else None)
