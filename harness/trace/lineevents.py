"""Line events and library calls of kept frames: what a namespace line did, at that line.

A mixin of the `Recorder` (no per-event indirection: the backends call these methods
directly). Whatever changed since the previous line of a kept frame was done by that line:
config changes and files native code wrote are credited to it. Every Python function
outside the namespace that a kept line starts is a library call (libcalls.py), folded per
(callee, line, function, phase, thread).

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .anchors import Anchor
from .eventstream import EventStream
from .libcalls import call_offsets, callee_name, class_name, counted, is_class, library_callees, line_map
from .threadstate import ThreadState

_identity = object.__hash__  # unique per live object, like id(), but raises no audit event
_dict_get = dict.get


class LineEvents:
    """The line and library-call events of the Recorder (its attributes are declared here for mypy)."""

    stream: EventStream
    config: Any
    sinks: Any
    phase: str
    library: dict[tuple[str, str | None, str | None, str, str], int]
    _tls: threading.local
    _lock: Any
    _code_maps: dict[int, tuple[Any, tuple[dict[int, int], frozenset[int]]]]

    if TYPE_CHECKING:  # defined by the Recorder

        def in_namespace(self, module: str | None) -> bool: ...

        def _check_config(self, running: int | None, anchor: Anchor | None = None, line: int | None = None) -> None: ...

        def _internal(self, error: BaseException) -> None: ...

    def _idle_top(self) -> tuple[Any, Any]:
        """(this thread's state, its innermost kept frame's entry), or (None, None) when the
        thread has no kept frame open or is inside the recorder already."""
        state = getattr(self._tls, "state", None)
        if state is None or state.busy or not state.stack:
            return None, None
        return state, state.stack[-1]

    def on_line(self, frame, line: int, code=None) -> None:
        """A line of a kept frame is about to run (backends call this only for kept code, and
        only when `self.lines`). Whatever changed since the previous line of the same frame
        was done by that line (or by a helper outside the namespace that it called): the
        config change and a file native code wrote are credited to it. `frame` may be None
        when the backend has only the code object (sys.monitoring): the innermost kept frame
        of this thread stands for it when it runs that code."""
        state, top = self._idle_top()
        if top is None or ((top[0] is not frame) if frame is not None else (top[4] is not code)):
            return
        previous, top[3] = top[3], line
        if previous is None:
            return
        config, sinks = self.config, self.sinks
        config_moved = config is not None and not config.unchanged()
        # Every line, not only lines with a call instruction: an `import` statement runs
        # foreign code too (matplotlib writing its font cache), and the backends must agree.
        sweep = sinks is not None and sinks.folders
        if not config_moved and not sweep:
            return
        state.busy = True
        try:
            with self._lock:
                if config_moved:
                    self._check_config(top[1], top[2], previous)
                if sweep:
                    sinks.sweep(self._where(top[2], previous))
        except Exception as error:  # noqa: BLE001
            self._internal(error)
        finally:
            state.busy = False

    def on_foreign_start(self, frame) -> None:
        """Trace backends: a foreign Python frame started. It is a library call when its
        caller is this thread's innermost kept frame, stopped at a call instruction."""
        state, top = self._idle_top()
        if top is None or frame.f_back is not top[0]:
            return
        caller = top[0]
        state.busy = True
        try:
            lasti = caller.f_lasti
            if lasti in self._code_facts(top[4])[1]:
                callee = frame.f_code
                module = _dict_get(frame.f_globals, "__name__")
                if counted(callee, module) and not self.in_namespace(module):
                    name = self._foreign_name(top, lasti, frame, callee, module)
                    if name is not None and not self.in_namespace(name.partition(":")[0]):
                        self._library(state, top, name, caller.f_lineno)
        except Exception as error:  # noqa: BLE001
            self._internal(error)
        finally:
            state.busy = False

    @staticmethod
    def _foreign_name(top: list, lasti: int, frame, callee, module) -> str | None:
        """The library call's name (libcalls.py): a `__new__` stands for its class call, named
        by the class it received; the `__init__` that follows it at the same instruction is
        part of that call (None)."""
        name = callee.co_name
        if name == "__init__" and top[5] == lasti:
            top[5] = None
            return None
        if name == "__new__" and callee.co_argcount:
            top[5] = lasti
            cls = frame.f_locals.get(callee.co_varnames[0])
            if cls is not None and is_class(cls):
                return class_name(cls)
        if hasattr(callee, "co_qualname") or not callee.co_argcount:
            return callee_name(callee, module)
        return callee_name(callee, module, frame.f_locals.get(callee.co_varnames[0]))  # 3.10: by its class

    def on_call_instruction(self, code, offset: int, target: Any) -> None:
        """sys.monitoring: kept `code` is about to call `target` at `offset`; the Python
        functions that call starts, named statically, are its library calls."""
        state, top = self._idle_top()
        if top is None or top[4] is not code:
            return
        state.busy = True
        try:
            if offset in self._code_facts(code)[1]:
                for name in library_callees(target):
                    if not self.in_namespace(name.partition(":")[0]):
                        self._library(state, top, name, self._line_of(code, offset))
        except Exception as error:  # noqa: BLE001
            self._internal(error)
        finally:
            state.busy = False

    def _code_facts(self, code) -> tuple[dict[int, int], frozenset[int]]:
        """(offset → line, offsets of call instructions) of kept code, computed once."""
        key = _identity(code)
        entry = self._code_maps.get(key)
        if entry is None or entry[0] is not code:
            entry = (code, (line_map(code), call_offsets(code)))
            self._code_maps[key] = entry
        return entry[1]

    def _line_of(self, code, offset: int) -> int | None:
        return self._code_facts(code)[0].get(offset)

    def _library(self, state: ThreadState, top: list, callee: str, line: int | None) -> None:
        """Fold one library call; its first sighting is written at once (crash-safe), the
        further count at the next phase boundary or at the end (`flush_library`)."""
        anchor = top[2]
        at = f"{anchor.path}:{line}" if anchor.path and line else None
        key = (callee, at, anchor.qualname, self.phase, state.label)
        with self._lock:
            if key in self.library:
                self.library[key] += 1
                return
            self.library[key] = 0
            self.stream.emit("lib", callee=callee, at=at, fn=anchor.qualname, ph=self.phase, th=state.label, n=1)

    def flush_library(self) -> None:
        """The counts of library calls seen again since their last report."""
        for key, pending in list(self.library.items()):
            if pending:
                callee, at, function, phase, thread = key
                self.stream.emit("lib", callee=callee, at=at, fn=function, ph=phase, th=thread, n=pending)
                self.library[key] = 0

    @staticmethod
    def _where(anchor: Anchor, line: int | None) -> str:
        """The credit of a native write: the function and the line of it that was running."""
        if anchor.path and line:
            return f"{anchor.path}:{line} in {anchor.qualname}"
        return f"in {anchor.qualname} (def {anchor.text()})"
