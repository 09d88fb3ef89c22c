"""Recorder backends: how "a frame started / a frame ended" reaches the recorder.

All three feed the same `Recorder`, so they produce the same run record; they differ only
in cost:

- `hunter`: the reference. hunter builds an event for every call and line of every frame,
  which is why it is slow on call-heavy code.
- `settrace`: a lean `sys.settrace` recorder. The global trace function fires only on
  `call`; returning None leaves foreign frames untraced, so only kept frames pay for
  `return` events. For Python 3.10–3.11.
- `monitoring`: `sys.monitoring` (PEP 669, Python 3.12+). Foreign code objects are
  switched off with DISABLE after their first event, so they run at full speed.

Only the main thread is traced, by every backend, so their answers agree.
Runs inside the traced process: standard library only (+ hunter for its backend).
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import Dict, List

from .recorder import Recorder, exited_normally


class Backend:
    name = "base"
    settings = ""
    seen_means = "every Python call event (all frames, all modules)"

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class _ExceptionNames:
    """Remembers, per kept frame, the exception that is unwinding it (trace-based backends)."""

    def __init__(self) -> None:
        self.names: Dict[int, str] = {}

    def seen(self, frame, arg) -> None:
        self.names[id(frame)] = arg[0].__name__ if arg and isinstance(arg[0], type) else "exception"

    def reason(self, frame):
        name = self.names.pop(id(frame), "exception")
        return None if exited_normally(frame) else name


class HunterBackend(Backend):
    name = "hunter"
    settings = "hunter.Tracer(threading_support=False), callable predicate on event.kind call/return/exception, module filter in the recorder"

    def start(self) -> None:
        import hunter

        recorder, errors = self.recorder, _ExceptionNames()
        modules = recorder.module_filter()

        def predicate(event) -> bool:
            kind = event.kind
            if kind == "call":
                recorder.seen += 1
            if kind not in ("call", "return", "exception") or not modules(event.module):
                return False
            frame = event.frame
            identity = recorder.identify(frame.f_code, frame)
            if identity is None:
                return False
            if kind == "call":
                recorder.on_call(frame, identity)
            elif kind == "return":
                recorder.on_return(frame, event.arg, errors.reason(frame))
            else:
                errors.seen(frame, event.arg)
            return False

        self.tracer = hunter.Tracer(threading_support=False)
        self.tracer.trace(predicate)

    def stop(self) -> None:
        self.tracer.stop()


class SettraceBackend(Backend):
    name = "settrace"
    settings = "sys.settrace on the main thread; global function on call only, local tracer for kept frames only, line events off"

    def start(self) -> None:
        recorder, errors = self.recorder, _ExceptionNames()
        self.counter = itertools.count()
        count = self.counter.__next__
        modules = recorder.module_filter()
        identify, on_call, on_return = recorder.identify, recorder.on_call, recorder.on_return

        def local(frame, event, arg):
            if event == "return":
                on_return(frame, arg, errors.reason(frame))
            elif event == "exception":
                errors.seen(frame, arg)
            return local

        def global_trace(frame, event, arg):
            # The hot path: one call per Python frame started. Foreign code costs a counter
            # tick and a dict lookup on its module name; `frame.f_code` is read only for
            # kept frames, because reading it raises an audit event.
            count()
            if not modules(frame.f_globals.get("__name__")):
                return None
            identity = identify(frame.f_code, frame)
            if identity is None:
                return None
            frame.f_trace_lines = False
            on_call(frame, identity)
            return local

        sys.settrace(global_trace)

    def stop(self) -> None:
        sys.settrace(None)
        self.recorder.seen = next(self.counter)


class MonitoringBackend(Backend):
    name = "monitoring"
    settings = "sys.monitoring PY_START/PY_RESUME/PY_THROW as call, PY_RETURN/PY_YIELD/PY_UNWIND as return; DISABLE for foreign code; main thread only"
    seen_means = "call events delivered before DISABLE: about one per code object and call site"

    def start(self) -> None:
        monitoring = sys.monitoring
        events = monitoring.events
        recorder, main = self.recorder, threading.main_thread().ident
        disable = monitoring.DISABLE
        self.tool = next(tool for tool in (monitoring.PROFILER_ID, 3, 4, 5) if monitoring.get_tool(tool) is None)
        monitoring.use_tool_id(self.tool, "callchain")

        identify, known = recorder.identify, recorder.known

        def started(code, offset):
            recorder.seen += 1
            identity = identify(code)
            if identity is None:
                return disable
            if threading.get_ident() == main:
                recorder.on_call(sys._getframe(1), identity)
            return None

        def thrown(code, offset, exception):
            identity = known(code)
            if identity is not None and threading.get_ident() == main:
                recorder.on_call(sys._getframe(1), identity)

        def returned(code, offset, value):
            if identify(code) is None:
                return disable
            recorder.on_return(sys._getframe(1), value, None)
            return None

        def unwound(code, offset, exception):
            if recorder.stack and known(code) is not None:
                recorder.on_return(sys._getframe(1), None, type(exception).__name__)

        for event, callback in ((events.PY_START, started), (events.PY_RESUME, started),
                                (events.PY_THROW, thrown), (events.PY_RETURN, returned),
                                (events.PY_YIELD, returned), (events.PY_UNWIND, unwound)):
            monitoring.register_callback(self.tool, event, callback)
        monitoring.set_events(self.tool, events.PY_START | events.PY_RESUME | events.PY_THROW
                              | events.PY_RETURN | events.PY_YIELD | events.PY_UNWIND)

    def stop(self) -> None:
        monitoring = sys.monitoring
        monitoring.set_events(self.tool, 0)
        monitoring.free_tool_id(self.tool)


BACKENDS = {backend.name: backend for backend in (HunterBackend, SettraceBackend, MonitoringBackend)}
