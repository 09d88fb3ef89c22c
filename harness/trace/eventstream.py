"""The event stream: what the traced process writes, one JSON line per observation.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import time
from typing import Any

# What the stream writes with, bound once at import: a target that replaces `json.dumps`,
# `os.write`, `time.perf_counter` or a builtin later does not change what the recorder writes.
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
_write = os.write
_getpid = os.getpid
_open = os.open
_close = os.close
_perf_counter = time.perf_counter
_blake2b = hashlib.blake2b
_next = next
_round = round
SIGNATURE = ',"s":"'
"""Each line ends `,"s":"<16 hex>:<n>"}`: its number in the stream (from 1) and a keyed hash
of both (`signed`), so a line is known as the recorder's, and a copy of one as a copy."""


def _mac(body: str, number: int, key: bytes) -> str:
    return _blake2b(f"{number}:{body}".encode("utf-8", "surrogatepass"), key=key, digest_size=8).hexdigest()


def signed(body: str, key: bytes, number: int) -> str:
    """`body` (one JSON object) as line `number` of a signed stream: only who holds `key` can
    write such a line."""
    return f'{body[:-1]}{SIGNATURE}{_mac(body, number, key)}:{number}"}}\n'


def verified(line: str, key: bytes) -> int | None:
    """The number of `line` in its stream when it was signed with `key`, else None (a line the
    target appended to the file)."""
    at = line.rfind(SIGNATURE)
    if at < 0 or not line.endswith('"}\n'):
        return None
    mac, _, number = line[at + len(SIGNATURE) : -3].partition(":")
    if not number.isdigit() or len(number) > 18:
        return None
    expected = hashlib.blake2b(
        f"{number}:{line[:at]}}}".encode("utf-8", "surrogatepass"), key=key, digest_size=8
    ).hexdigest()
    return int(number) if hmac.compare_digest(mac, expected) else None


def read_key(fd: int | None) -> bytes | None:
    """The run's stream key, read from the pipe the harness passed (then closed), before any
    target code runs: it is in no file and no environment the target can read, so a line the
    target appends to the stream carries no valid signature."""
    if fd is None:
        return None
    try:
        return os.read(fd, 64) or None
    except OSError:
        return None
    finally:
        try:
            _close(fd)
        except OSError:
            pass


def mark_done(path: str | None) -> None:
    """Say, outside the stream, that the process reached its end (after writing `end`): a
    stream without its end marker from a process that did is a stream interfered with."""
    if path:
        try:
            _close(_open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        except OSError:
            pass


def spawn_key(key: bytes) -> bytes:
    """The key of the streams of spawned interpreters (it travels in their environment)."""
    return _blake2b(b"spawned", key=key, digest_size=16).digest()


class EventStream:
    """JSON lines, each written with one `os.write` on an O_APPEND descriptor.

    One write per event means the line is in the file before the next event starts (crash
    safety), and concurrent threads never interleave inside a line (no lock needed).
    Every line is one event; `e` names its kind, the other keys are short because a run
    writes thousands of them; with the run's key, `s` (last) numbers and signs the line
    (`signed`), so a line the target appends to the file, or a copy of one, is known. `record.build` is their only reader.
    The kinds and keys:

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

    def __init__(self, path: str, key: bytes | None = None) -> None:
        self.path = path
        self._fd: int | None = self._open(path)
        self._t0 = _perf_counter()
        self.failed: str | None = None
        self.key = key
        self._numbers = itertools.count(1)
        self._pid = _getpid()
        self._pending: list[str] = []  # written in a forked child before it has its own stream
        # Bound to this instance: replacing `EventStream.emit` or `now` on the class (the
        # traced process can import harness) does not reach the stream already running.
        self.emit = self._emit
        self.now = self._now

    @staticmethod
    def _open(path: str) -> int:
        return _open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)

    def _now(self) -> float:
        return _round(_perf_counter() - self._t0, 6)

    def _emit(self, kind: str, **fields: Any) -> None:
        fields["e"] = kind
        body = _encode(fields)
        if self._pid != _getpid():  # a forked child whose fork handler has not run yet (threading's
            self._pending.append(body)  # runs first): its events go to its own stream, never the parent's
            return
        self._write_line(body)

    def _write_line(self, body: str) -> None:
        line = signed(body, self.key, _next(self._numbers)) if self.key is not None else body + "\n"
        data = line.encode("utf-8", "surrogatepass")
        fd = self._fd
        if fd is None:
            return
        try:
            while data:
                data = data[_write(fd, data) :]
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
                _close(self._fd)
            except OSError:
                pass
        self.path = path
        self._numbers = itertools.count(1)
        self._pid = _getpid()
        self._fd = self._open(path)
        pending, self._pending = self._pending, []
        for body in pending:
            self._write_line(body)

    def close(self) -> None:
        if self._fd is not None:
            _close(self._fd)
            self._fd = None
