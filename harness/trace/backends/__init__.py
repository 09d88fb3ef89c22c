"""Recorder backends by name: how "a frame started / a frame ended" reaches the recorder.

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
One module per family: settrace.py (settrace, ctrace), monitoring.py, hunter.py, on the
common base of base.py; this module names them (`BACKENDS`).
Runs inside the traced process: standard library only (+ hunter for its backend, and the
extension `accel` built for `ctrace`).
"""

from __future__ import annotations

from .base import Backend
from .hunter import HunterBackend
from .monitoring import MonitoringBackend
from .settrace import CTraceBackend, SettraceBackend

BACKENDS: dict[str, type[Backend]] = {
    backend.name: backend for backend in (HunterBackend, SettraceBackend, CTraceBackend, MonitoringBackend)
}
