"""The recorder: decides which calls are evidence and streams them to disk.

Backends (tracer.py) only deliver "a frame started" and "a frame ended"; everything that
makes the evidence lives here, once, so every backend yields the same run record:

- the namespace is exact: module `ptycho` or `ptycho.*`, never `ptycho_torch`;
- a kept call made by framework code (Keras calling a ptycho layer's `get_config`) is kept,
  and its caller is the innermost *kept* frame, with the line that frame was executing;
- depth comes from our own stack of kept frames, not from the interpreter's;
- every event is written as one JSON line as it happens, so a crash or a timeout keeps
  everything recorded so far.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import dis
import json
import sys
import time
from typing import IO, Any, Dict, List, Optional, Tuple

from .anchors import Anchor, AnchorIndex
from .summarize import summarize

_identity = object.__hash__  # unique per live object, like id(), but raises no audit event
_NORMAL_EXIT = {dis.opmap[name] for name in ("RETURN_VALUE", "YIELD_VALUE", "RETURN_CONST") if name in dis.opmap}


def exited_normally(frame) -> bool:
    """True when a frame leaves by return/yield rather than by an exception unwinding it."""
    code = frame.f_code.co_code
    offset = frame.f_lasti
    return 0 <= offset < len(code) and code[offset] in _NORMAL_EXIT


class EventStream:
    """Line-buffered JSON lines: each event reaches the file before the next one starts.

    Every line is one event; `e` names its kind, the other keys are short because a run
    writes thousands of them. `record.build` is their only reader. The kinds and keys:

    - `start`: pid, python, executable, implementation, platform, backend, t (child.py)
    - `phase`: name, t — a scenario phase begins (Recorder.set_phase)
    - `call`: i (index in this stream), p (parent's i or null), d (depth in the namespace),
      mod (module), q (qualname), path/line (the `def` anchor, path relative to the root),
      cl (line in the parent's frame that led here), dr (true: called directly by the
      parent), ph (phase), t (Recorder)
    - `ret`: i, v (stable summary of the value returned), t (Recorder)
    - `tap`: key, call (the call's i), status (`hit`/`error`), value or error (taps.py)
    - `cfg`: key, op, old, new, by (innermost kept call's i or null), ph (configflow.py)
    - `cfgsnap`: at (phase name or `end`), present, values (configflow.py)
    - `sink`: op, path, dest, by (anchor credited), mod, ph, native (sinks.py)
    - `error`: phase, type, message, scenario_error, last_call, traceback, namespace_frame,
      innermost_frame (child.py)
    - `end`: seen, kept, scenario_seconds, peak_rss_kb, gaps, blocked_imports,
      torch_imported, packages, devices, exit, t (child.py)
    """

    def __init__(self, path: str) -> None:
        self._file: IO[str] = open(path, "w", buffering=1, encoding="utf-8")
        self._t0 = time.perf_counter()

    def now(self) -> float:
        return round(time.perf_counter() - self._t0, 6)

    def emit(self, kind: str, **fields: Any) -> None:
        fields["e"] = kind
        self._file.write(json.dumps(fields, separators=(",", ":"), default=str) + "\n")

    def close(self) -> None:
        self._file.close()


class Recorder:
    """Keeps the calls of one namespace and everything observed at them."""

    def __init__(self, namespace: str, anchors: AnchorIndex, stream: EventStream,
                 taps=None, config=None, sinks=None, local_prefixes: Optional[Tuple[str, ...]] = None) -> None:
        self.namespace = namespace
        self._prefix = namespace + "."
        self.anchors = anchors
        self.stream = stream
        self.taps = taps
        self.config = config
        self.sinks = sinks
        self.phase = "start"
        self.seen = 0
        self.kept = 0
        self.stack: List[Tuple[Any, int, Anchor]] = []
        self.busy = False
        self._keep: Dict[int, Tuple[Any, Optional[Tuple[str, Anchor]]]] = {}
        self._local_prefixes = local_prefixes

    # -- which code is evidence ---------------------------------------------------------

    def in_namespace(self, module: Optional[str]) -> bool:
        return bool(module) and (module == self.namespace or module.startswith(self._prefix))

    def module_filter(self):
        """A fast `module name -> in namespace?` test, memoised per name, for hot paths."""
        cache: Dict[Optional[str], bool] = {}

        def test(module: Optional[str]) -> bool:
            answer = cache.get(module)
            if answer is None:
                answer = cache[module] = self.in_namespace(module)
            return answer

        return test

    def identify(self, code, frame=None) -> Optional[Tuple[str, Anchor]]:
        """(module, anchor) for kept code, None for foreign code; cached per code object.

        Keyed by the object's identity with the code object kept alive: code objects that
        differ only in their file name compare equal (every empty `__init__.py`), and a
        freed code's id can be reused, either of which would silently lose calls. The key is
        `object.__hash__(code)` rather than `id(code)` because `id()` raises an audit event.
        Code whose file is neither under the target root nor generated (`<string>`) is
        foreign without looking at its frame; otherwise the module name comes from the
        frame's globals (the caller's caller when no frame is given).
        """
        key = _identity(code)
        entry = self._keep.get(key)
        if entry is not None and entry[0] is code:
            return entry[1]
        found = None
        if self._local_prefixes is None or code.co_filename.startswith(self._local_prefixes):
            module = (frame or sys._getframe(2)).f_globals.get("__name__")
            if self.in_namespace(module):
                found = (module, self.anchors.resolve(code))
        self._keep[key] = (code, found)
        return found

    def known(self, code) -> Optional[Tuple[str, Anchor]]:
        """The cached identity of code already seen, without any lookup of its frame."""
        entry = self._keep.get(_identity(code))
        return entry[1] if entry is not None and entry[0] is code else None

    # -- events from a backend ----------------------------------------------------------

    def on_call(self, frame, identity: Tuple[str, Anchor]) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            module, anchor = identity
            parent = self.stack[-1] if self.stack else None
            index = self.kept
            self.kept += 1
            self._check_config(parent[1] if parent else None)
            self.stream.emit(
                "call", i=index, p=parent[1] if parent else None,
                cl=parent[0].f_lineno if parent else None, d=len(self.stack),
                dr=parent is not None and frame.f_back is parent[0],
                mod=module, q=anchor.qualname, path=anchor.path, line=anchor.line,
                ph=self.phase, t=self.stream.now(),
            )
            self.stack.append((frame, index, anchor))
            if self.taps is not None:
                self.taps.at_call(module, anchor.qualname, index, frame)
        finally:
            self.busy = False

    def on_return(self, frame, value: Any, raised: Optional[str] = None) -> None:
        if self.busy or not self.stack:
            return
        self.busy = True
        try:
            position = len(self.stack) - 1
            while position >= 0 and self.stack[position][0] is not frame:
                position -= 1
            if position < 0:
                return
            index, anchor = self.stack[position][1], self.stack[position][2]
            self._check_config(index)
            if self.sinks is not None:
                self.sinks.sweep(f"in {anchor.qualname} (def {anchor.text()})")
            if self.taps is not None:
                self.taps.at_return(index, frame, value, raised)
            result = f"raised {raised}" if raised else summarize(value)
            self.stream.emit("ret", i=index, v=result, t=self.stream.now())
            del self.stack[position:]
        finally:
            self.busy = False

    # -- phases and global state --------------------------------------------------------

    def current(self) -> Optional[int]:
        return self.stack[-1][1] if self.stack else None

    def set_phase(self, name: str) -> None:
        self.busy = True
        try:
            self._check_config(self.current())
            self.phase = name
            if self.sinks is not None:
                self.sinks.sweep(None)
                self.sinks.phase = name
            self.stream.emit("phase", name=name, t=self.stream.now())
            if self.config is not None:
                self.config.snapshot(name)
        finally:
            self.busy = False

    def _check_config(self, running: Optional[int]) -> None:
        if self.config is not None:
            self.config.check(running, self.phase)
