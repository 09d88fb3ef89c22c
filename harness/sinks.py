"""Sinks: every file the run writes, creates, renames or deletes, and who did it.

An audit hook (PEP 578) sees Python-level file operations; the responsible code is the
innermost frame of the traced namespace on the stack, at the line it is executing. Native
libraries (HDF5 through h5py) write without an audit event, so folders created during the
run are also listed at kept-call boundaries: a file that appears there unannounced is
recorded as a native write of the innermost kept call.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable, Dict, Optional, Set, Tuple

_CLOCK_SLACK_NS = 100_000_000  # file-system timestamps can be as coarse as a few ms
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.mkdir": "mkdir", "os.remove": "remove", "os.rmdir": "rmdir", "shutil.rmtree": "rmtree",
    "os.truncate": "truncate", "os.symlink": "symlink", "os.link": "link",
}
_PAIR_EVENTS = {"os.rename": "rename", "shutil.copyfile": "copy", "shutil.move": "move"}


def _is_write(mode, flags) -> bool:
    if isinstance(mode, str):
        return any(ch in mode for ch in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


class SinkWatch:
    """Records writes with their responsible frame; installed once, toggled by `active`."""

    def __init__(self, stream, in_namespace: Callable[[str], bool], describe: Callable[[str, int], str]) -> None:
        self.stream = stream
        self.in_namespace = in_namespace
        self.describe = describe
        self.active = False
        self._local = threading.local()  # per thread: one thread's sweep must not hide another's writes
        self.phase = "start"
        self.known: Set[str] = set()
        self.folders: Dict[str, Optional[Tuple[int, int]]] = {}

    @property
    def _inside(self) -> bool:
        return getattr(self._local, "inside", False)

    @_inside.setter
    def _inside(self, value: bool) -> None:
        self._local.inside = value

    def quiet(self, value: bool) -> None:
        """Ignore this thread's own file operations (the recorder opening its stream)."""
        self._inside = value

    def install(self) -> "SinkWatch":
        sys.addaudithook(self._hook)
        self.active = True
        return self

    def _responsible(self) -> Tuple[Optional[str], Optional[str]]:
        frame = sys._getframe(2)
        while frame is not None:
            module = frame.f_globals.get("__name__")
            if module and self.in_namespace(module):
                return module, self.describe(frame.f_code.co_filename, frame.f_lineno)
            frame = frame.f_back
        return None, None

    def _hook(self, event: str, args: tuple) -> None:
        if not self.active or self._inside:
            return
        try:
            self._dispatch(event, args)
        except Exception:  # noqa: BLE001 - an audit hook that raises would fail the target's call
            pass

    def _dispatch(self, event: str, args: tuple) -> None:
        if event == "open":
            if len(args) < 3 or not _is_write(args[1], args[2]) or isinstance(args[0], int):
                return
            self._record("write", args[0])
        elif event in _PATH_EVENTS:
            self._record(_PATH_EVENTS[event], args[0])
        elif event in _PAIR_EVENTS:
            self._record(_PAIR_EVENTS[event], args[0], args[1])

    def _record(self, op: str, path, dest=None, native: bool = False) -> None:
        self._inside = True
        try:
            real = os.path.realpath(os.fsdecode(path))
            if real.startswith(("/dev/", "/proc/")):  # devices, not files
                return
            module, where = self._responsible() if not native else (None, None)
            target = os.path.realpath(os.fsdecode(dest)) if dest is not None else None
            if op == "mkdir":
                self.folders[real] = None
            self.known.add(target or real)
            self.stream.emit("sink", op=op, path=real, dest=target, by=where, mod=module, ph=self.phase, native=native)
        except (TypeError, ValueError):
            pass
        finally:
            self._inside = False

    def sweep(self, where: Optional[str]) -> None:
        """Report files in run-created folders that no audited call announced (native writes).

        Called at every kept return, so a folder is listed again only when its mtime moved,
        or when the last listing was too close to that mtime to trust a coarse clock."""
        self._inside = True
        try:
            for folder, last in list(self.folders.items()):
                try:
                    mtime = os.stat(folder).st_mtime_ns
                except OSError:
                    del self.folders[folder]
                    continue
                if last is not None and mtime == last[0] and last[1] - mtime > _CLOCK_SLACK_NS:
                    continue
                self.folders[folder] = (mtime, time.time_ns())
                for name in sorted(os.listdir(folder)):
                    path = os.path.join(folder, name)
                    if path not in self.known and not os.path.isdir(path):
                        self.known.add(path)
                        self.stream.emit("sink", op="write", path=path, dest=None, by=where, mod=None, ph=self.phase, native=True)
        finally:
            self._inside = False
