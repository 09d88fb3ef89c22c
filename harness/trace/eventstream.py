"""The event stream: what the traced process writes, one JSON line per observation.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


class EventStream:
    """JSON lines, each written with one `os.write` on an O_APPEND descriptor.

    One write per event means the line is in the file before the next event starts (crash
    safety), and concurrent threads never interleave inside a line (no lock needed).
    Every line is one event; `e` names its kind, the other keys are short because a run
    writes thousands of them. `record.build` is their only reader. The kinds and keys:

    - `start`: pid, python, executable, implementation, platform, backend, t, and
      monitoring_tool_id (child.py); in a forked child: fork (its number), ph, th; in a
      spawned interpreter: spawn, wall (time.time(), to order spawned streams)
    - `phase`: name, t — a scenario phase begins (Recorder.set_phase)
    - `call`: i (index in this process, unique across threads; file order may differ),
      p (parent's i in the same thread, or null), d (depth in that thread's namespace stack),
      mod (module), q (qualname), path/line (the `def` anchor, path relative to the root),
      cl (line in the parent's frame that led here), dr (true: called directly by the
      parent), th (thread label), tn (thread number, order of first kept event), ph, t
    - `ret`: i, v (stable summary of the value returned), t (Recorder)
    - `tap`: key, call (the call's i), status (`hit`/`error`), value or error (taps.py)
    - `cfg`: key, op, old, new, by (innermost kept call's i or null), at (`path:line` of the
      statement that made it: the previous line of that frame when found at a line event,
      else the frame's current line), fn (qualname of the function of `at`), ph (configflow.py)
    - `cfgsnap`: at (phase name or `end`), present, values (configflow.py)
    - `sink`: op (`read` only for files the run wrote), path, dest, by (anchor credited), mod, ph, native (sinks.py)
    - `lib`: callee (`module:qualname` of the foreign Python code started), at (`path:line`
      of the kept line that called it), fn (qualname of that line's function), ph, th,
      n (how many more times; the folded rows are the sum of n per key) (libcalls.py)
    - `lost`: reason, ph — the recorder found its evidence incomplete (Recorder.verify)
    - `note`: text — something the reader should know (a module renamed itself, a thread
      still running at the end)
    - `torch`: module, importer, ph, t — a torch/lightning/mlflow module executed
    - `fork`: n, ph, th, t — this process forked its child number n
    - `error`: phase, type, message, scenario_error, last_call, traceback, namespace_frame,
      innermost_frame, missing_module (the module a ModuleNotFoundError names, else null) (child.py)
    - `end`: seen, kept, scenario_seconds, peak_rss_kb, cpu_seconds, gaps, blocked_imports,
      torch_imported, packages, devices, exit, t (child.py)
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = self._open(path)
        self._t0 = time.perf_counter()
        self.failed: str | None = None

    @staticmethod
    def _open(path: str) -> int:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)

    def now(self) -> float:
        return round(time.perf_counter() - self._t0, 6)

    def emit(self, kind: str, **fields: Any) -> None:
        fields["e"] = kind
        data = (json.dumps(fields, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        fd = self._fd
        if fd is None:
            return
        try:
            while data:
                data = data[os.write(fd, data) :]
        except OSError as error:  # the target closed our descriptor: stop, and say so at the end
            self.failed = self.failed or f"the event stream could not be written ({error.strerror})"
            self._fd = None

    def intact(self) -> bool:
        """Our descriptor still refers to our file (a target may close it and reuse the number)."""
        if self._fd is None:
            return False
        try:
            return os.path.samestat(os.fstat(self._fd), os.stat(self.path))
        except OSError:
            return False

    def reopen(self, path: str) -> None:
        """In a forked child: write to a stream of its own, never into the parent's."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self.path = path
        self._fd = self._open(path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
