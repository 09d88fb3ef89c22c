"""What every recorder backend is: started, stopped, and asked whether it is still installed.

A backend only delivers "a frame started / a frame ended" to the `Recorder`; the families
that do so (settrace.py, monitoring.py, hunter.py) share this base
so that the traced process and the harness can treat them alike (backends.BACKENDS).

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

from ..recorder import Recorder


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
