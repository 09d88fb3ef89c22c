"""Recorder backends: how "a frame started / a frame ended" reaches the recorder.

All of them feed the same `Recorder`, so they produce the same run record; they differ only
in cost:

- `hunter`: the reference. hunter builds an event for every call and line of every frame,
  which is why it is slow on call-heavy code. Its threading support traces new threads.
- `settrace`: a lean `sys.settrace` recorder. The global trace function fires only on
  `call`; returning None leaves foreign frames untraced, so only kept frames pay for
  `return` events. Installed for every thread (`threading.settrace_all_threads` where it
  exists, else `sys.settrace` + `threading.settrace`). The pure-Python fallback for 3.10–3.11.
- `ctrace`: the settrace filter compiled (`_ctrace.c`, built on demand by `accel`). On
  3.10/3.11 it sits in the frame-evaluation hook (PEP 523), so foreign frames run with no
  tracing mode at all; the default there when it builds. It sees every thread.
- `monitoring`: `sys.monitoring` (PEP 669, Python 3.12+), which sees every thread. Foreign
  code objects are switched off with DISABLE after their first event, so they run at full
  speed. It takes tool id 3 or 4, never the ids profilers (cProfile) and debuggers claim.

Every thread started through `threading` is traced by every backend, so their answers
agree; only `monitoring` and `ctrace` also see Python called from native threads.

The per-frame test is one step, `Recorder.identify(code, frame)` behind a per-globals
decision (`Recorder.globals_entry`), so a compiled per-frame filter can replace the Python
one without touching the recorder. Each backend can say whether it is still installed
(`check`): the recorder asks at every phase boundary, so a target that removes the trace
function or switches the events off makes the run partial instead of silently short.
Runs inside the traced process: standard library only (+ hunter for its backend, and the
extension `accel` built for `ctrace`).
"""

from __future__ import annotations

import itertools
import sys
import threading

from .recorder import Recorder, exited_normally

MONITORING_TOOL_IDS = (3, 4)  # not DEBUGGER_ID (0), COVERAGE_ID (1), PROFILER_ID (2), OPTIMIZER_ID (5)
_hash = object.__hash__


class BackendError(RuntimeError):
    """The backend cannot be installed in this process; the message says why."""


class Backend:
    name = "base"
    settings = ""
    seen_means = "every Python call event (all frames, all modules)"

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.details: dict[str, object] = {}

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def check(self) -> list[str]:
        """Problems that mean events are being lost (empty: still fully installed)."""
        return []


class _ExceptionNames:
    """Remembers, per kept frame, the exception that is unwinding it (trace-based backends)."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}

    def seen(self, frame, arg) -> None:
        self.names[_hash(frame)] = arg[0].__name__ if arg and isinstance(arg[0], type) else "exception"

    def reason(self, frame):
        name = self.names.pop(_hash(frame), "exception")
        return None if exited_normally(frame) else name


def _local_tracer(recorder: Recorder, errors: _ExceptionNames):
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


class _TraceFunctionCheck:
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
            problems.append(f"the recorder's trace function was {what}: later calls were not recorded")
        if hasattr(threading, "gettrace") and threading.gettrace() is not self._thread_hook:
            problems.append("threading.settrace was changed: threads started afterwards were not traced")
        return problems


class HunterBackend(_TraceFunctionCheck, Backend):
    name = "hunter"
    settings = (
        "hunter.Tracer(threading_support=True), callable predicate on event.kind call/return/exception, "
        "namespace decided by the recorder"
    )

    def start(self) -> None:
        import hunter

        recorder, errors = self.recorder, _ExceptionNames()
        identify = recorder.identify

        def predicate(event) -> bool:
            kind = event.kind
            if kind == "call":
                recorder.seen += 1
            elif kind == "line":
                if recorder.lines and recorder.open_calls:
                    recorder.on_line(event.frame, event.lineno)
                return False
            if kind not in ("call", "return", "exception"):
                return False
            frame = event.frame
            identity = identify(frame.f_code, frame)
            if identity is None:
                if kind == "call" and recorder.open_calls:
                    recorder.on_foreign_start(frame)
                return False
            if kind == "call":
                recorder.on_call(frame, identity)
            elif kind == "return":
                recorder.on_return(frame, event.arg, errors.reason(frame))
            else:
                errors.seen(frame, event.arg)
            return False

        self.tracer = hunter.Tracer(threading_support=True)
        self.tracer.trace(predicate)
        self._remember_installed()

    def stop(self) -> None:
        self.tracer.stop()


class SettraceBackend(_TraceFunctionCheck, Backend):
    name = "settrace"
    settings = (
        "sys.settrace in every thread; global function on call only, local tracer for kept frames only, "
        "line events on kept frames only"
    )

    def start(self) -> None:
        recorder, errors = self.recorder, _ExceptionNames()
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
        from . import accel

        module = accel.loaded()
        if module is None:
            raise RuntimeError(
                "the ctrace backend needs the C tracer built and loaded first (harness.trace.accel.ensure)"
            )
        recorder, errors = self.recorder, _ExceptionNames()
        by_name, name_verdict = recorder.by_name, recorder.name_verdict
        identify, on_call, on_return = recorder.identify, recorder.on_call, recorder.on_return
        getframe = sys._getframe

        def decide(code, namespace):
            # Once per (code, globals) pair: the same two steps as settrace's global function.
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

        local = _local_tracer(recorder, errors)

        # Kept lines reach `local`, and library calls `on_foreign_start`, on every mechanism: on
        # 3.10/3.11 a kept frame runs with a trace function of its own, taken away while the
        # foreign frames it calls run (_ctrace.c: kept_trace, foreign_child).
        self.tracer = tracer = module.Tracer(decide, on_call, on_return, local, on_foreign=recorder.on_foreign_start)
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
            "later calls were not recorded"
        ]

    def stop(self) -> None:
        if self.per_thread and self.all_threads:
            threading.settrace(None)
        self.tracer.uninstall()
        self.recorder.seen = self.tracer.seen


class MonitoringBackend(Backend):
    name = "monitoring"
    settings = (
        "sys.monitoring (tool id 3 or 4) PY_START/PY_RESUME/PY_THROW as call, "
        "PY_RETURN/PY_YIELD (local, kept code only)/PY_UNWIND as return; LINE and CALL enabled locally "
        "on kept code only; DISABLE for foreign code; every thread"
    )
    seen_means = "call events delivered before DISABLE: about one per code object and call site"

    def start(self) -> None:
        monitoring = sys.monitoring  # type: ignore[attr-defined]  # Python 3.12+
        events = monitoring.events
        recorder = self.recorder
        disable = monitoring.DISABLE
        free = [tool for tool in MONITORING_TOOL_IDS if monitoring.get_tool(tool) is None]
        if not free:
            raise BackendError(f"sys.monitoring tool ids {MONITORING_TOOL_IDS} are both in use in the traced process")
        self.tool = free[0]
        monitoring.use_tool_id(self.tool, "callchain")
        self.details["monitoring_tool_id"] = self.tool
        identify, known, on_call, on_return = recorder.identify, recorder.known, recorder.on_call, recorder.on_return
        on_line = recorder.on_line
        getframe = sys._getframe
        # Returns are local events of kept code: foreign code then costs one PY_START event
        # (disabled at once) instead of one more per return location. PY_UNWIND and PY_THROW
        # cannot be local, so they stay global and cheap.
        local_events = events.PY_RETURN | events.PY_YIELD | events.CALL | (events.LINE if recorder.lines else 0)
        self.instrumented: dict[int, object] = {}  # kept code with its local events on (kept alive)
        instrumented, set_local_events, tool = self.instrumented, monitoring.set_local_events, self.tool

        def started(code, offset):
            recorder.seen += 1
            identity = identify(code)
            if identity is None:
                return disable
            if _hash(code) not in instrumented:
                instrumented[_hash(code)] = code
                try:
                    set_local_events(tool, code, local_events)
                except Exception as error:  # noqa: BLE001 - e.g. the target freed our tool id (check() says so)
                    recorder._internal(error)  # counted: the run becomes partial, nothing raises into the target
            on_call(getframe(1), identity)
            return None

        def line(code, line_number):
            on_line(None, line_number, code)

        on_call_instruction = recorder.on_call_instruction

        def called(code, offset, target, arg0):
            on_call_instruction(code, offset, target)

        def thrown(code, offset, exception):
            identity = known(code)
            if identity is not None:
                on_call(getframe(1), identity)

        def returned(code, offset, value):
            if known(code) is not None:
                on_return(getframe(1), value, None)

        def unwound(code, offset, exception):
            # No DISABLE here: on 3.12.1 it raises ValueError and removes the callback. This runs
            # for every frame an exception leaves, so the common case (nothing kept is open)
            # costs one attribute read.
            if recorder.open_calls and known(code) is not None:
                on_return(getframe(1), None, type(exception).__name__)

        self.callbacks = (
            (events.PY_START, started),
            (events.PY_RESUME, started),
            (events.PY_THROW, thrown),
            (events.PY_RETURN, returned),
            (events.PY_YIELD, returned),
            (events.PY_UNWIND, unwound),
            (events.LINE, line),
            (events.CALL, called),
        )
        for event, callback in self.callbacks:
            monitoring.register_callback(self.tool, event, callback)
        self.mask = events.PY_START | events.PY_RESUME | events.PY_THROW | events.PY_UNWIND
        monitoring.set_events(self.tool, self.mask)

    def check(self) -> list[str]:
        monitoring = sys.monitoring  # type: ignore[attr-defined]  # Python 3.12+
        if monitoring.get_tool(self.tool) != "callchain":
            return [f"sys.monitoring tool {self.tool} was freed or taken by the target: later calls were not recorded"]
        problems = []
        if monitoring.get_events(self.tool) != self.mask:
            problems.append(
                f"the events of sys.monitoring tool {self.tool} were switched off or changed "
                "by the target: calls were lost"
            )
        for event, callback in self.callbacks:
            if monitoring.register_callback(self.tool, event, callback) is not callback:
                problems.append(
                    f"a callback of sys.monitoring tool {self.tool} was replaced by the target: events were lost"
                )
                break
        return problems

    def stop(self) -> None:
        monitoring = sys.monitoring  # type: ignore[attr-defined]  # Python 3.12+
        try:
            if monitoring.get_tool(self.tool) == "callchain":
                monitoring.set_events(self.tool, 0)
                monitoring.free_tool_id(self.tool)
        except ValueError:
            pass


BACKENDS = {backend.name: backend for backend in (HunterBackend, SettraceBackend, CTraceBackend, MonitoringBackend)}
