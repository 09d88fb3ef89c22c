"""The `hunter` backend: the reference the faster backends are measured against.

hunter builds an event for every call and line of every frame, which is why it is slow on
call-heavy code; its threading support traces new threads. It is a trace function, so it
shares the exception bookkeeping and the still-installed check of settrace.py.

Runs inside the traced process: standard library + hunter, Python 3.10+.
"""

from __future__ import annotations

from .base import Backend
from .settrace import ExceptionNames, TraceFunctionCheck


class HunterBackend(TraceFunctionCheck, Backend):
    name = "hunter"
    settings = (
        "hunter.Tracer(threading_support=True), callable predicate on event.kind call/return/exception, "
        "namespace decided by the recorder"
    )

    def start(self) -> None:
        import hunter

        recorder, errors = self.recorder, ExceptionNames()
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
