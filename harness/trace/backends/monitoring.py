"""The `monitoring` backend: `sys.monitoring` (PEP 669, Python 3.12+), which sees every thread.

Foreign code objects are switched off with DISABLE after their first event, so they run at
full speed; kept code gets its returns, lines and calls out as local events. It takes tool
id 3 or 4, never the ids profilers (cProfile) and debuggers claim.

Runs inside the traced process: standard library only (imported on every supported Python;
`sys.monitoring` is touched only when the backend starts).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .base import Backend, BackendError

MONITORING_TOOL_IDS = (3, 4)  # not DEBUGGER_ID (0), COVERAGE_ID (1), PROFILER_ID (2), OPTIMIZER_ID (5)
_hash = object.__hash__


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
        free = [tool for tool in MONITORING_TOOL_IDS if monitoring.get_tool(tool) is None]
        if not free:
            raise BackendError(f"sys.monitoring tool ids {MONITORING_TOOL_IDS} are both in use in the traced process")
        self.tool = free[0]
        monitoring.use_tool_id(self.tool, "callchain")
        self.details["monitoring_tool_id"] = self.tool
        self.instrumented: dict[int, Any] = {}  # kept code with its local events on (kept alive)
        self.local = events.PY_RETURN | events.PY_YIELD | events.CALL | (events.LINE if self.recorder.lines else 0)
        self.noted: set[str] = set()
        self.callbacks = self._callbacks(monitoring)
        for event, callback in self.callbacks:
            monitoring.register_callback(self.tool, event, callback)
        self.mask = events.PY_START | events.PY_RESUME | events.PY_THROW | events.PY_UNWIND
        monitoring.set_events(self.tool, self.mask)

    def _started(self, monitoring: Any) -> Callable[[Any, int], Any]:
        """PY_START/PY_RESUME: a kept call (its code's local events switched on when first
        seen), or DISABLE for foreign code."""
        recorder = self.recorder
        identify, on_call, disable = recorder.identify, recorder.on_call, monitoring.DISABLE
        getframe = sys._getframe
        # Returns are local events of kept code: foreign code then costs one PY_START event
        # (disabled at once) instead of one more per return location. PY_UNWIND and PY_THROW
        # cannot be local, so they stay global and cheap.
        local_events = self.local
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

        return started

    def _callbacks(self, monitoring: Any) -> tuple[tuple[int, Callable[..., Any]], ...]:
        """(event, callback) for every event the tool registers."""
        events, recorder = monitoring.events, self.recorder
        known, on_call, on_return = recorder.known, recorder.on_call, recorder.on_return
        on_line, on_call_instruction = recorder.on_line, recorder.on_call_instruction
        getframe = sys._getframe
        started = self._started(monitoring)

        def line(code, line_number):
            on_line(None, line_number, code)

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

        return (
            (events.PY_START, started),
            (events.PY_RESUME, started),
            (events.PY_THROW, thrown),
            (events.PY_RETURN, returned),
            (events.PY_YIELD, returned),
            (events.PY_UNWIND, unwound),
            (events.LINE, line),
            (events.CALL, called),
        )

    def check(self) -> list[str]:
        """What the target did to callchain's tool since the last check, said as what was seen:
        each change is undone here (the tool is callchain's), and only a change that can have
        hidden evidence is a problem (the run becomes partial: the recorder cannot tell whether
        anything ran while it lasted); one that hid nothing is a note."""
        monitoring = sys.monitoring  # type: ignore[attr-defined]  # Python 3.12+
        try:
            owner = monitoring.get_tool(self.tool)
            if owner is None:  # freed (on 3.12 and 3.13 its events and callbacks stay): take it back
                monitoring.use_tool_id(self.tool, "callchain")
                self._note(f"the target freed sys.monitoring tool {self.tool} (callchain's); callchain took it back")
            elif owner != "callchain":
                self._note(f"the target took sys.monitoring tool {self.tool} (callchain's) as {owner!r}")
            return (
                self._events_problems(monitoring)
                + self._callback_problems(monitoring)
                + self._local_problems(monitoring)
            )
        except Exception as error:  # noqa: BLE001 - a check must never raise into the scenario
            return [f"callchain could not check its sys.monitoring tool {self.tool} ({type(error).__name__}: {error})"]

    def _events_problems(self, monitoring: Any) -> list[str]:
        """The global events: any of callchain's switched off is a problem, extra ones a note."""
        current = monitoring.get_events(self.tool)
        if current == self.mask:
            return []
        monitoring.set_events(self.tool, self.mask)
        removed, added = self.mask & ~current, current & ~self.mask
        if added and not removed:
            self._note(
                f"the target switched on {_names(monitoring, added)} of sys.monitoring tool {self.tool} "
                "(callchain's); nothing was missed, and callchain switched them off again"
            )
            return []
        what = "calls that started" if removed & ~monitoring.events.PY_UNWIND else "returns by an exception"
        return [
            f"the target switched off {_names(monitoring, removed)} of sys.monitoring tool {self.tool} (callchain's): "
            f"{what} while they were off were not recorded (callchain cannot tell whether there were any); "
            "it switched them on again at the end of the phase"
        ]

    def _callback_problems(self, monitoring: Any) -> list[str]:
        """callchain's callbacks, put back where the target replaced them; what each one feeds."""
        replaced = 0
        for event, callback in self.callbacks:
            if monitoring.register_callback(self.tool, event, callback) is not callback:
                replaced |= event
        if not replaced:
            return []
        events = monitoring.events
        if replaced & (events.PY_START | events.PY_RESUME | events.PY_THROW):
            missed = "calls that started"
        elif replaced & (events.PY_RETURN | events.PY_YIELD | events.PY_UNWIND):
            missed = "returns of kept calls"
        else:
            missed = (
                "every call was still recorded, but lines run (config changes and native writes there are "
                "credited to the line seen before them) and library calls made"
            )
        return [
            f"the target replaced callchain's {_names(monitoring, replaced)} callback of sys.monitoring tool "
            f"{self.tool}: {missed} while it was replaced were not seen (callchain cannot tell whether there "
            "were any); callchain put its own back at the end of the phase"
        ]

    def _local_problems(self, monitoring: Any) -> list[str]:
        """The local events of kept code (returns, lines, calls out), put back where changed."""
        changed = [
            code for code in self.instrumented.values() if monitoring.get_local_events(self.tool, code) != self.local
        ]
        for code in changed:
            monitoring.set_local_events(self.tool, code, self.local)
        if not changed:
            return []
        return [
            f"the target changed the local events of sys.monitoring tool {self.tool} (callchain's) on {len(changed)} "
            f"kept function(s) (e.g. {changed[0].co_qualname}): their returns, lines and library calls while "
            "changed were not seen (callchain cannot tell whether there were any); callchain set them again"
        ]

    def _note(self, text: str) -> None:
        """Said once per process, as a note of the run (not a loss)."""
        if text not in self.noted:
            self.noted.add(text)
            self.recorder.stream.emit("note", text=text)

    def stop(self) -> None:
        monitoring = sys.monitoring  # type: ignore[attr-defined]  # Python 3.12+
        try:
            if monitoring.get_tool(self.tool) == "callchain":
                monitoring.set_events(self.tool, 0)
                monitoring.free_tool_id(self.tool)
        except ValueError:
            pass


def _names(monitoring: Any, mask: int) -> str:
    """`PY_START, PY_RESUME events` for the bits of `mask`."""
    events = monitoring.events
    bits = {name: getattr(events, name) for name in dir(events) if name.isupper()}
    names = [
        name for name, bit in sorted(bits.items(), key=lambda item: item[1]) if bit & (bit - 1) == 0 and bit & mask
    ]
    return ", ".join(names) + (" events" if len(names) > 1 else " event")
