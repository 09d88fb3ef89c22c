"""Bounded static reading of the target: which files, how much of each, for how long.

The static passes (PyTorch scan, entry-point ranking, docstrings, mentions) read a tree
the harness does not control. A FIFO or a device named `x.py` would block or never end,
a symlinked folder can loop, a generated 50 MB file or a deadline-free walk of a huge tree
would hold the report hostage. Every pass reads through a `Budget`: regular files only,
opened without blocking, at most `max_file_bytes` each, folder symlinks not followed,
and nothing after the deadline; whatever was skipped is listed with the reason, so the
report says what it did not read.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

MAX_FILE_BYTES = 4 * 1024 * 1024  # larger sources are generated or data, not code a reader follows
STATIC_SECONDS = 120.0  # all static passes of one run together


class Budget:
    """A deadline and a per-file size limit shared by the static passes of one run."""

    def __init__(self, seconds: float = STATIC_SECONDS, max_file_bytes: int = MAX_FILE_BYTES) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.max_file_bytes = max_file_bytes
        self.skipped: list[dict[str, str]] = []
        self._seen: set = set()

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def skip(self, path: str, reason: str, what: str = "static reading") -> None:
        key = (path, reason, what)
        if key not in self._seen:
            self._seen.add(key)
            self.skipped.append({"path": path, "reason": reason, "pass": what})

    def read_bytes(self, path: Path, rel: str, what: str = "static reading") -> bytes | None:
        """The file's bytes, or None (and a note) when it is not a regular file, too big,
        unreadable, or the time is up. Symlinks to regular files are followed."""
        if self.expired():
            self.skip(rel, f"time budget of {self.seconds:g} s used up", what)
            return None
        try:
            info = os.stat(path)
        except OSError as error:
            self.skip(rel, f"cannot stat ({error.strerror})", what)
            return None
        if not stat.S_ISREG(info.st_mode):
            self.skip(rel, "not a regular file (never opened)", what)
            return None
        if info.st_size > self.max_file_bytes:
            self.skip(rel, f"{info.st_size} bytes, over the {self.max_file_bytes} byte limit", what)
            return None
        return self._read(path, rel, what)

    def _read(self, path: Path, rel: str, what: str) -> bytes | None:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        try:
            fd = os.open(path, flags)
        except OSError as error:
            self.skip(rel, f"unreadable ({error.strerror})", what)
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a FIFO since the stat
                self.skip(rel, "not a regular file (never opened)", what)
                return None
            chunks: list[bytes] = []
            size = 0
            while size <= self.max_file_bytes:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                size += len(chunk)
            self.skip(rel, f"grew over the {self.max_file_bytes} byte limit while read", what)
            return None
        except OSError as error:
            self.skip(rel, f"unreadable ({error.strerror})", what)
            return None
        finally:
            os.close(fd)

    def read_text(self, path: Path, rel: str, what: str = "static reading") -> str | None:
        data = self.read_bytes(path, rel, what)
        return None if data is None else data.decode("utf-8", "replace")


def files_under(folder: Path, suffix: str, budget: Budget, root: Path, what: str = "static reading") -> list[Path]:
    """Files ending in `suffix` below `folder`, sorted; folder symlinks are not followed
    (they can loop or leave the tree) and are listed as skipped."""
    found: list[Path] = []
    if folder.is_symlink():  # os.walk would follow a symlinked top folder, e.g. to '/'
        budget.skip(_rel(folder, root), "folder symlink (not followed)", what)
        return found
    if not folder.is_dir():
        return found
    for current, dirs, names in os.walk(
        folder,
        followlinks=False,
        onerror=lambda e: budget.skip(
            _rel(Path(e.filename or folder), root), f"unreadable folder ({e.strerror})", what
        ),
    ):
        base = Path(current)
        for name in list(dirs):
            if (base / name).is_symlink():
                budget.skip(_rel(base / name, root), "folder symlink (not followed)", what)
        dirs[:] = sorted(d for d in dirs if not (base / d).is_symlink())
        for name in names:
            if not name.endswith(suffix):
                continue
            if not _utf8(str(base / name)):  # such a name cannot be shown in a report as it is
                budget.skip(
                    _rel(base / name, root).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"),
                    "name is not UTF-8",
                    what,
                )
                continue
            found.append(base / name)
        if budget.expired():
            budget.skip(_rel(base, root), f"time budget of {budget.seconds:g} s used up while listing", what)
            break
    return sorted(found, key=lambda p: p.as_posix())


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
