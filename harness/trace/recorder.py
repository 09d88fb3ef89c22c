"""The recorder: decides which calls are evidence and streams them to disk.

Backends (tracer.py) only deliver "a frame started" and "a frame ended"; everything that
makes the evidence lives here, once, so every backend yields the same run record:

- the namespace is decided by the module of the running code: its globals' `__name__`
  (the name it was imported as, cached per globals dict when first seen, so a module that
  renames itself later is still reported by that name, with a note), its `__spec__`, and
  for code run with borrowed globals, the file it came from; never by a path prefix alone;
- a kept call made by framework code (Keras calling a ptycho layer's `get_config`) is kept,
  and its caller is the innermost *kept* frame of the same thread, with its current line;
- every thread has its own stack, depth and busy flag, and a stable label (`main`, else the
  thread's name with its run-specific numbers replaced by `N`), so a worker thread can
  neither steal nor drop another thread's events;
- every event is one JSON line written with one `write()` (O_APPEND), so a crash keeps
  everything recorded so far and threads never interleave inside a line (eventstream.py);
- a kept frame's lines and the library calls it makes (lineevents.py), and the programs
  the run starts and the processes it forks (processes.py), are mixins of the recorder:
  the backends call their methods directly, with no per-event indirection;
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
import sys
import threading
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from typing import Any

from .anchors import Anchor, AnchorIndex
from .eventstream import EventStream
from .guard import BLOCKED
from .lineevents import LineEvents
from .processes import ProcessEvents
from ..summarize import scrub, summarize
from .threadstate import ThreadState, active_threads, static_name, thread_label

_identity = object.__hash__  # unique per live object, like id(), but raises no audit event
_IMPORT_MACHINERY = ("<frozen importlib", "importlib/", "importlib\\")
_LOOK_AT_CODE = "?"  # globals that belong to no module: decide by the code's own file
_dict_get = dict.get


def _module_dict(namespace: dict) -> bool:
    """Is this globals dict the `__dict__` of the module imported under its `__name__`?"""
    name = _dict_get(namespace, "__name__")
    if type(name) is not str:
        return False
    module = sys.modules.get(name)
    try:
        return module is not None and object.__getattribute__(module, "__dict__") is namespace
    except AttributeError:
        return False


class Recorder(LineEvents, ProcessEvents):
    """Keeps the calls of one namespace, in every thread, and everything observed at them."""

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
        self.namespace = namespace
        self._prefix = namespace + "."
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

    def in_namespace(self, module: str | None) -> bool:
        return bool(module) and type(module) is str and (module == self.namespace or module.startswith(self._prefix))

    def globals_entry(self, namespace: dict, frame=None) -> tuple[dict, str | None]:
        """(globals, module name | None | '?') for one globals dict, decided when first seen.

        The name is the one the module had when its first frame ran (its import name), so a
        later `__name__ = 'x'` does not drop its calls. '?' means the dict belongs to no
        imported module (e.g. `exec` into a fresh dict): the code's file decides."""
        key = _identity(namespace)
        entry = self._globals.get(key)
        if entry is not None and entry[0] is namespace:
            return entry
        try:
            decided = self._name_of_globals(namespace, frame)
        except Exception as error:  # noqa: BLE001 - a hostile globals dict must not break the run
            self._internal(error)
            decided = None
        entry = (namespace, decided)
        if _module_dict(namespace):
            # Only a module's own dict is remembered (it lives as long as the module): keeping
            # every exec() namespace alive (namedtuple, dataclass code) would cost memory and GC time.
            self._globals[key] = entry
        return entry

    def name_verdict(self, frame) -> Any:
        """For per-frame filters keyed by `__name__` (the settrace hot path): False when every
        frame with this globals name is foreign, True when it names a namespace module, '?'
        when the code object must decide (generated code, a module that renamed itself).
        Stored in `self.by_name`, which the filter reads directly."""
        namespace = frame.f_globals
        name = _dict_get(namespace, "__name__")
        decided = self.globals_entry(namespace, frame)[1]
        verdict = False if decided is None else True if decided == name else _LOOK_AT_CODE
        try:
            if self.by_name.get(name) is not _LOOK_AT_CODE:
                self.by_name[name] = verdict
        except TypeError:  # an unhashable __name__: decide on every call (it is never kept by name)
            return _LOOK_AT_CODE
        return verdict

    def _refresh_renamed(self) -> None:
        """A namespace module renamed to a name already judged foreign: decide its frames per code."""
        for _name, current in self.renamed_modules():
            if self.by_name.get(current) is False:
                self.by_name[current] = _LOOK_AT_CODE

    def _name_of_globals(self, namespace: dict, frame) -> str | None:
        name = _dict_get(namespace, "__name__")
        spec = _dict_get(namespace, "__spec__")
        spec_name = spec.name if type(spec) is ModuleSpec and type(spec.name) is str else None
        for candidate in (name, spec_name):
            if type(candidate) is str and candidate.partition(".")[0] in BLOCKED:
                self._torch(candidate, frame)
        if self.in_namespace(name):
            return name
        if self.in_namespace(spec_name):
            return spec_name
        if type(name) is str and name in sys.modules:
            return None
        return _LOOK_AT_CODE

    def _module_of_file(self, filename: str) -> str | None:
        """Dotted module name of a source file under the target root, if it is in the namespace."""
        if type(filename) is not str or not filename.startswith(self._root_prefix) or not filename.endswith(".py"):
            return None
        parts = filename[len(self._root_prefix) : -3].split(os.sep)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        module = ".".join(parts)
        return module if self.in_namespace(module) else None

    def identify(self, code, frame=None) -> tuple[str, Anchor] | None:
        """(module, anchor) for kept code, None for foreign code.

        Kept code is cached per code object, keyed by the object's identity with the code
        object kept alive: code objects that differ only in their file name compare equal
        (every empty `__init__.py`), and a freed code's id can be reused, either of which
        would silently lose calls. The key is `object.__hash__(code)` rather than `id(code)`
        because `id()` raises an audit event. The module comes from the running frame's
        globals (the caller's caller when no frame is given).

        Foreign code is not cached here: its verdict is one cached lookup per globals dict
        (`globals_entry`), and the backends ask again rarely (sys.monitoring disables it,
        settrace filters by module name first). Keeping tens of thousands of TensorFlow's
        short-lived code objects alive would keep their constants alive too, and those
        survivors bring the interpreter's full collections nearer: on real main one more
        full collection, ~0.2 s of a 4 s process, for nothing."""
        key = _identity(code)
        entry = self._keep.get(key)
        if entry is not None and entry[0] is code:
            return entry[1]
        found = None
        try:
            frame = frame or sys._getframe(2)
            module = self.globals_entry(frame.f_globals, frame)[1]
            if module == _LOOK_AT_CODE:
                module = self._module_of_file(code.co_filename)
            if module is not None:
                found = (module, self._anchor(code))
        except Exception as error:  # noqa: BLE001
            self._internal(error)
        if found is not None:
            self._keep[key] = (code, found)
        return found

    def _anchor(self, code) -> Anchor:
        """The def-line anchor; generated code (`compile(src, 'name.py')`, `<string>`) has none."""
        filename = code.co_filename
        if not filename or not os.path.isabs(filename):
            return Anchor(None, None, getattr(code, "co_qualname", code.co_name))
        anchor = self.anchors.resolve(code)
        if anchor.path and os.path.isabs(anchor.path):
            return Anchor(scrub(anchor.path), anchor.line, anchor.qualname)
        return anchor

    def known(self, code) -> tuple[str, Anchor] | None:
        """The cached identity of code already seen, without any lookup of its frame."""
        entry = self._keep.get(_identity(code))
        return entry[1] if entry is not None and entry[0] is code else None

    def _torch(self, module: str, frame) -> None:
        if module in self.torch_executed:
            return
        where = "<unknown>"
        while frame is not None:
            filename = frame.f_code.co_filename
            if _dict_get(frame.f_globals, "__name__") != module and not any(m in filename for m in _IMPORT_MACHINERY):
                where = self.describe(filename, frame.f_lineno)
                break
            frame = frame.f_back
        self.torch_executed[module] = where
        self.stream.emit("torch", module=module, importer=where, ph=self.phase, t=self.stream.now())

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

    def renamed_modules(self) -> list[tuple[str, str]]:
        """(import name, current __name__) of namespace modules that renamed themselves."""
        found = []
        for namespace, name in self._globals.values():
            if name is None or name == _LOOK_AT_CODE:
                continue
            current = _dict_get(namespace, "__name__")
            if current != name:
                found.append((name, current if type(current) is str else type(current).__name__))
        return sorted(set(found))

    def _check_config(self, running: int | None, anchor: Anchor | None = None, line: int | None = None) -> None:
        """Config changes since the last check, credited to call `running` at `line` of its function."""
        if self.config is not None:
            at = f"{anchor.path}:{line}" if anchor is not None and anchor.path and line else None
            self.config.check(running, self.phase, at, anchor.qualname if anchor is not None else None)
