"""The trace-function backends: `settrace`, and `ctrace`, its per-frame filter compiled.

Both see a frame through a trace function: the global one decides per frame (by module name
first, then `Recorder.identify`), and a kept frame gets a local one (`_local_tracer`) for its
lines, its return and the exception unwinding it. `ExceptionNames` and `TraceFunctionCheck`
are shared with the hunter backend, which is trace-function based too.

Runs inside the traced process: standard library only (+ the extension `accel` builds for
`ctrace`), Python 3.10+.
"""

from __future__ import annotations

import dis
import itertools
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..recorder import Recorder
from .base import Backend

_NORMAL_EXIT = {dis.opmap[name] for name in ("RETURN_VALUE", "YIELD_VALUE", "RETURN_CONST") if name in dis.opmap}
_hash = object.__hash__


def exited_normally(frame) -> bool:
    """True when a frame leaves by return/yield rather than by an exception unwinding it."""
    code = frame.f_code.co_code
    offset = frame.f_lasti
    return 0 <= offset < len(code) and code[offset] in _NORMAL_EXIT


class ExceptionNames:
    """Remembers, per kept frame, the exception that is unwinding it (trace-based backends)."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}

    def seen(self, frame, arg) -> None:
        self.names[_hash(frame)] = arg[0].__name__ if arg and isinstance(arg[0], type) else "exception"

    def reason(self, frame):
        name = self.names.pop(_hash(frame), "exception")
        return None if exited_normally(frame) else name


def _local_tracer(recorder: Recorder, errors: ExceptionNames):
    """The trace function of a kept frame (settrace, ctrace): its lines when the recorder wants
    them, its return, and the exception unwinding it."""
    on_line, on_return, lines = recorder.on_line, recorder.on_return, recorder.lines

    def local(frame, event, arg):
        if event == "line":
            if lines:
                on_line(frame, frame.f_lineno)
        elif event == "return":
            on_return(frame, arg, errors.reason(frame))
        elif event == "exception":
            errors.seen(frame, arg)
        return local

    return local


class TraceFunctionCheck:
    """For sys.settrace-based backends: is our trace function still the installed one?"""

    def _remember_installed(self) -> None:
        self._installed = sys.gettrace()
        self._thread_hook = threading.gettrace() if hasattr(threading, "gettrace") else None

    def check(self) -> list[str]:
        problems = []
        current = sys.gettrace()
        if current is not self._installed:
            what = (
                "removed (sys.settrace(None), or dropped by CPython after a RecursionError)"
                if current is None
                else "replaced by another trace function"
            )
            problems.append(
                f"the recorder's trace function was {what}: calls made after that were not recorded "
                "(callchain cannot tell whether there were any)"
            )
        if hasattr(threading, "gettrace") and threading.gettrace() is not self._thread_hook:
            problems.append("threading.settrace was changed: threads started afterwards were not traced")
        return problems


class SettraceBackend(TraceFunctionCheck, Backend):
    name = "settrace"
    settings = (
        "sys.settrace in every thread; global function on call only, local tracer for kept frames only, "
        "line events on kept frames only"
    )

    def start(self) -> None:
        recorder, errors = self.recorder, ExceptionNames()
        self.counter = itertools.count()
        count = self.counter.__next__
        by_name, name_verdict = recorder.by_name, recorder.name_verdict
        identify, on_call = recorder.identify, recorder.on_call
        on_foreign_start = recorder.on_foreign_start
        lines = recorder.lines

        local = _local_tracer(recorder, errors)

        def global_trace(frame, event, arg):
            # The hot path: one call per Python frame started. Foreign code costs a counter
            # tick and one dict lookup on its module name; `frame.f_code` is read only for
            # kept (or undecided) frames, because reading it raises an audit event.
            count()
            try:
                verdict = by_name[frame.f_globals.get("__name__")]
            except (KeyError, TypeError):
                verdict = name_verdict(frame)
            if verdict is False:
                if recorder.open_calls:
                    on_foreign_start(frame)
                return None
            identity = identify(frame.f_code, frame)
            if identity is None:
                if recorder.open_calls:
                    on_foreign_start(frame)
                return None
            frame.f_trace_lines = lines
            on_call(frame, identity)
            return local

        self.global_trace = global_trace
        if hasattr(threading, "settrace_all_threads"):
            threading.settrace_all_threads(global_trace)
        else:
            sys.settrace(global_trace)
            threading.settrace(global_trace)
        self._remember_installed()

    def stop(self) -> None:
        if hasattr(threading, "settrace_all_threads"):
            threading.settrace_all_threads(None)
        else:
            sys.settrace(None)
            threading.settrace(None)
        self.recorder.seen = next(self.counter)


class _FrameToBe:
    """Stands for a frame about to be evaluated, before it has a frame object (PEP 523 hook):
    its code and globals, and the frame calling it as `f_back`. Enough for the recorder's
    per-code decision, which reads `f_globals` (and, for an importer's place, walks `f_back`)."""

    __slots__ = ("f_code", "f_globals", "f_back", "f_lineno")

    def __init__(self, code, namespace: dict, caller) -> None:
        self.f_code, self.f_globals, self.f_back, self.f_lineno = code, namespace, caller, code.co_firstlineno


def _decider(recorder: Recorder) -> Callable[[Any, dict], Any]:
    """The compiled filter's call into Python on first sight of a (code, globals) pair: the
    same two steps as settrace's global function, on a stand-in for the frame to be."""
    by_name, name_verdict, identify = recorder.by_name, recorder.name_verdict, recorder.identify
    getframe = sys._getframe

    def decide(code, namespace):
        try:
            caller = getframe(1)
        except ValueError:  # the first frame of a new thread has no caller
            caller = None
        frame = _FrameToBe(code, namespace, caller)
        try:
            verdict = by_name[namespace.get("__name__")]
        except (KeyError, TypeError):
            verdict = name_verdict(frame)
        if verdict is False:
            return None
        return identify(code, frame)

    return decide


class CTraceBackend(SettraceBackend):
    """The `settrace` recorder with its per-frame filter compiled (`_ctrace.c`, built by `accel`).

    The filter looks each frame's (code, globals) pair up in a C table keyed by pointer and
    calls Python only on first sight of a pair (`decide`: the same test as `settrace`'s
    global function) and for kept code. On Python 3.10/3.11 frames reach it through the
    frame-evaluation hook (PEP 523), so foreign code runs with no tracing mode at all, and a
    kept frame's call and line events still come from the interpreter's own trace machinery
    (a trace function installed for that frame's evaluation only), exactly when `settrace`
    sees them; the foreign frames a kept frame calls run without it, after a one-shot
    function has reported their call event as a library call. On 3.12+ it is a C trace
    function (installed in this thread). Every thread is recorded on 3.10/3.11.
    """

    name = "ctrace"
    all_threads = True  # the hook sees every thread, like monitoring
    seen_means = (
        "frame evaluations of every module (3.10/3.11: calls, generator creations and resumptions; 3.12+: call events)"
    )
    settings = (
        "compiled filter per (code, globals): frame-evaluation hook (PEP 523) on 3.10/3.11, "
        "C trace function on 3.12+; Python only for kept code; every thread"
    )

    def start(self) -> None:
        from .. import accel

        module = accel.loaded()
        if module is None:
            raise RuntimeError(
                "the ctrace backend needs the C tracer built and loaded first (harness.trace.accel.ensure)"
            )
        recorder, errors = self.recorder, ExceptionNames()
        decide = _decider(recorder)
        local = _local_tracer(recorder, errors)

        # Kept lines reach `local`, and library calls `on_foreign_start`, on every mechanism: on
        # 3.10/3.11 a kept frame runs with a trace function of its own, taken away while the
        # foreign frames it calls run (_ctrace.c: kept_trace, foreign_child).
        self.tracer = tracer = module.Tracer(
            decide, recorder.on_call, recorder.on_return, local, on_foreign=recorder.on_foreign_start
        )
        tracer.install(all_threads=self.all_threads)
        self.per_thread = tracer.mechanism.startswith("C trace function")
        if self.per_thread and self.all_threads:

            def bootstrap(frame, event, arg):
                # A new thread's first event: install the C function there, and filter this event too.
                tracer.install()
                tracer(frame, event, arg)

            threading.settrace(bootstrap)

    def check(self) -> list[str]:
        if self.tracer.installed:
            return []
        return [
            "the recorder's frame-evaluation hook or trace function was removed or replaced by the target: "
            "calls made after that were not recorded (callchain cannot tell whether there were any)"
        ]

    def stop(self) -> None:
        if self.per_thread and self.all_threads:
            threading.settrace(None)
        self.tracer.uninstall()
        self.recorder.seen = self.tracer.seen
