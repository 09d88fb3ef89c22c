"""Sinks: every file the run writes, creates, renames or deletes, and who did it.

Reads are recorded too, but only of files the run itself wrote (an archive member extracted
by the load, read back by `dill.load` or Keras): op `read`, once per file, line and phase,
so the report can name the line that read each member back.

An audit hook (PEP 578) sees Python-level file operations; the responsible code is the
innermost frame of the traced namespace on the stack, at the line it is executing. Native
libraries (HDF5 through h5py) write without an audit event, so folders created during the
run are also listed at kept-call boundaries: a file that appears there unannounced is
recorded as a native write of the innermost kept call.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import dis
import os
import sys
import threading
import time
from collections.abc import Callable

from .. import frames
from . import audit

_CLOCK_SLACK_NS = 100_000_000  # file-system timestamps can be as coarse as a few ms
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_UNKNOWN = "<dir_fd ?>"  # a relative path whose folder could not be named: never guess the cwd
# Audit event -> (op, where the affected path is, where its dir_fd is or None, follows a final symlink).
# The affected path is the one the operation creates, writes or removes (the new name of a
# symlink or hard link, not its target); renames and copies also have a destination.
_PATH_EVENTS = {
    "os.mkdir": ("mkdir", 0, 2, False),
    "os.remove": ("remove", 0, 1, False),
    "os.rmdir": ("rmdir", 0, 1, False),
    "shutil.rmtree": ("rmtree", 0, 1, False),
    "os.truncate": ("truncate", 0, None, True),
    "os.symlink": ("symlink", 1, 2, False),
    "os.chmod": ("chmod", 0, 2, True),
    "os.chown": ("chown", 0, 3, True),
    "os.utime": ("utime", 0, 3, True),
    "os.chflags": ("chflags", 0, None, True),
    "os.lchflags": ("chflags", 0, None, False),
    "os.lchmod": ("chmod", 0, None, False),
    "os.lchown": ("chown", 0, None, False),
}
# Audit event -> (op, source index, its dir_fd index, destination index, its dir_fd index).
_PAIR_EVENTS = {
    "os.rename": ("rename", 0, 2, 1, 3),
    "os.link": ("link", 0, 2, 1, 3),
    "shutil.copyfile": ("copy", 0, None, 1, None),
    "shutil.copymode": ("copymode", 0, None, 1, None),
    "shutil.copystat": ("copystat", 0, None, 1, None),
    "shutil.copytree": ("copytree", 0, None, 1, None),
    "shutil.move": ("move", 0, None, 1, None),
}
# Every audit event the handler acts on (audit.py dispatches only these to it).
_WATCHED = frozenset({"open", *_PATH_EVENTS, *_PAIR_EVENTS})
_SIMPLE_LOADS = {"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_DEREF", "LOAD_CONST", "LOAD_NAME", "LOAD_GLOBAL"}


def _is_write(mode, flags) -> bool:
    if isinstance(mode, str):
        return any(ch in mode for ch in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def fd_path(fd: int) -> str | None:
    """The path an open descriptor names (Linux /proc, macOS F_GETPATH), or None."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
    try:
        import fcntl

        if hasattr(fcntl, "F_GETPATH"):
            return fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024)).rstrip(b"\0").decode()
    except (OSError, ValueError, ImportError):
        pass
    return None


def resolve(path, dir_fd: int | None, follow: bool) -> str:
    """Absolute real path an operation acts on: relative paths against `dir_fd`'s folder
    (or the cwd when there is none), the final component kept as is unless the operation
    follows symlinks (removing or renaming a symlink acts on the link, not its target)."""
    if isinstance(path, int):
        return fd_path(path) or f"<fd {path}>"
    text = os.fsdecode(path)
    if not os.path.isabs(text) and dir_fd is not None and dir_fd >= 0:
        base = fd_path(dir_fd)
        text = os.path.join(base if base else _UNKNOWN, text)
        if not base:
            return text
    if follow:
        return os.path.realpath(text)
    head, tail = os.path.split(os.path.abspath(text))
    return os.path.join(os.path.realpath(head), tail)


def _kw_values(code, lasti: int) -> tuple[tuple[str, ...], list] | None:
    """The keyword names of the call at `lasti` and the instructions that pushed their
    values, when each value is one plain load; None when the call cannot be read."""
    instructions = [i for i in dis.get_instructions(code) if i.offset <= lasti]
    if not instructions or not instructions[-1].opname.startswith("CALL"):
        return None
    call = instructions.pop()
    if call.opname == "CALL_FUNCTION_EX":  # f(*args, **kwargs): the keywords are not in the code
        return (("dir_fd",), []) if call.arg and call.arg & 1 else ((), [])
    if instructions and instructions[-1].opname == "PRECALL":  # 3.11: KW_NAMES, PRECALL, CALL
        instructions.pop()
    names: tuple[str, ...] = ()
    # The keyword names: a constant tuple just before CALL_FUNCTION_KW (3.10) or CALL_KW
    # (3.13+), or the KW_NAMES instruction before CALL (3.11, 3.12).
    if call.opname in ("CALL_FUNCTION_KW", "CALL_KW") and instructions and instructions[-1].opname == "LOAD_CONST":
        names = instructions.pop().argval
    elif instructions and instructions[-1].opname == "KW_NAMES":
        kw_names = instructions.pop()  # 3.11's dis does not resolve its constant
        names = kw_names.argval if isinstance(kw_names.argval, tuple) else code.co_consts[kw_names.arg]
    loads = instructions[-len(names) :] if names else []
    if len(loads) != len(names) or any(i.opname not in _SIMPLE_LOADS for i in loads):
        return names, []
    return names, loads


def open_dir_fd(frame) -> tuple[bool, int | None]:
    """Whether the `os.open` call running in `frame` passed `dir_fd`, and its value.

    The `open` audit event carries no dir_fd, so the calling instruction is read: dir_fd is
    keyword-only, and a value loaded from a plain variable is read without running code."""
    if frame is None:
        return False, None
    found = _kw_values(frame.f_code, frame.f_lasti)
    if found is None:
        return False, None
    names, loads = found
    if "dir_fd" not in names:
        return False, None
    if not loads:
        return True, None
    load = loads[names.index("dir_fd")]
    if load.opname == "LOAD_CONST":
        value = load.argval
    elif load.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
        value = frame.f_globals.get(
            load.argval, frame.f_locals.get(load.argval) if load.opname == "LOAD_NAME" else None
        )
    else:
        value = frame.f_locals.get(load.argval)
    return True, value if isinstance(value, int) and not isinstance(value, bool) else None


def shown(path: str) -> str:
    """A path as text any report can hold: bytes that are not UTF-8 become `\\xNN`, as in
    the evidence check (a lone surrogate from `os.fsdecode` cannot be written as UTF-8)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _opens_for_writing(args: tuple) -> bool:
    """An `open` audit event that may create or change a file named by a path."""
    try:
        return len(args) >= 3 and _is_write(args[1], args[2]) and not isinstance(args[0], int)
    except Exception:  # noqa: BLE001 - hostile arguments: look closer in the guarded path
        return True


def _arg(args: tuple, index: int | None):
    return args[index] if index is not None and index < len(args) else None


class SinkWatch:
    """Records writes with their responsible frame; installed once, toggled by `active`."""

    def __init__(self, stream, in_namespace: Callable[[str], bool], describe: Callable[[str, int], str]) -> None:
        self.stream = stream
        self.in_namespace = in_namespace
        self.describe = describe
        self.active = False
        self._local = threading.local()  # re-entry guard per thread: another thread's events still count
        self.phase = "start"
        self.known: set[str] = set()
        self.folders: dict[str, tuple[int, int] | None] = {}
        self._reads: set[tuple[str, str | None, str]] = set()

    @property
    def _inside(self) -> bool:
        return getattr(self._local, "inside", False)

    @_inside.setter
    def _inside(self, value: bool) -> None:
        self._local.inside = value

    def quiet(self, value: bool) -> None:
        """Ignore this thread's own file operations (the recorder opening a forked child's stream)."""
        self._inside = value

    def install(self) -> SinkWatch:
        audit.watch(_WATCHED, self._hook)
        self.active = True
        return self

    def uninstall(self) -> None:
        """No more events (an in-process test that records again installs a new watch)."""
        self.active = False
        audit.unwatch(self._hook)

    def _responsible(self, frame) -> tuple[str | None, str | None]:
        found = frames.innermost(frames.from_stack(frame), lambda f: self.in_namespace(frames.module_of(f) or ""))
        if found is None:
            return None, None
        return frames.module_of(found[0]), self.describe(found[0].f_code.co_filename, found[1])

    def _hook(self, event: str, args: tuple) -> None:
        """Audit handler (audit.py) of the `_WATCHED` events: nothing may escape into the
        target, whatever the arguments are. Opens for reading, the most frequent of them,
        leave before anything costs: no frame, no thread-local lookup."""
        if not self.active:
            return
        if event == "open" and not _opens_for_writing(args):
            if args and isinstance(args[0], str) and args[0] in self.known and not self._inside:
                self._read(args[0], sys._getframe(2))
            return
        if self._inside:
            return
        self._inside = True
        try:
            self._dispatch(event, args, sys._getframe(2))  # 0: this handler, 1: audit._hook
        except Exception:  # noqa: BLE001 - a recorder failure must not change what the target does
            pass
        finally:
            self._inside = False

    def _read(self, path: str, caller) -> None:
        """A file the run wrote, opened for reading: recorded once per (path, line, phase)."""
        self._inside = True
        try:
            module, where = self._responsible(caller)
            key = (path, where, self.phase)
            if key not in self._reads:
                self._reads.add(key)
                self.stream.emit(
                    "sink", op="read", path=shown(path), dest=None, by=where, mod=module, ph=self.phase, native=False
                )
        except Exception:  # noqa: BLE001 - a recorder failure must not change what the target does
            pass
        finally:
            self._inside = False

    def _dispatch(self, event: str, args: tuple, caller) -> None:
        if event == "open":
            # Only os.open (mode None) takes dir_fd; the built-in open() passes its mode string.
            relative = args[1] is None and not os.path.isabs(os.fsdecode(args[0]))
            given, dir_fd = open_dir_fd(caller) if relative else (False, None)
            path = resolve(args[0], dir_fd if given and dir_fd is not None else None, True)
            if given and dir_fd is None:
                path = os.path.join(_UNKNOWN, os.fsdecode(args[0]))
            self._record("write", path, caller=caller)
        elif event in _PATH_EVENTS:
            op, at, fd_at, follow = _PATH_EVENTS[event]
            if isinstance(args[at], int) and op in ("mkdir", "remove", "rmdir", "symlink"):
                return
            self._record(op, resolve(args[at], _arg(args, fd_at), follow), caller=caller)
        elif event in _PAIR_EVENTS:
            op, src, src_fd, dst, dst_fd = _PAIR_EVENTS[event]
            self._record(
                op,
                resolve(args[src], _arg(args, src_fd), False),
                resolve(args[dst], _arg(args, dst_fd), False),
                caller=caller,
            )

    def _record(self, op: str, real: str, dest: str | None = None, native: bool = False, caller=None) -> None:
        if real.startswith(("/dev/", "/proc/")):  # devices, not files
            return
        module, where = self._responsible(caller) if not native else (None, None)
        if op == "mkdir":
            self.folders[real] = None
        self.known.add(dest or real)
        self.stream.emit(
            "sink",
            op=op,
            path=shown(real),
            dest=shown(dest) if dest else None,
            by=where,
            mod=module,
            ph=self.phase,
            native=native,
        )

    def sweep(self, where: str | None) -> None:
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
                        self.stream.emit(
                            "sink",
                            op="write",
                            path=shown(path),
                            dest=None,
                            by=where,
                            mod=None,
                            ph=self.phase,
                            native=True,
                        )
        except Exception:  # noqa: BLE001 - runs inside the target: a listing failure must not reach it
            pass
        finally:
            self._inside = False
