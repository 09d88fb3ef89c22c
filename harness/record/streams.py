"""The event stream files of one run on disk, and which of them belong in the record.

A traced process writes `events-<label>.jsonl`; the children it forks or spawns write
their own files beside it. This module finds them, labels them (`<label>/fork<N>`,
`<label>/spawn<N>`), keeps only those where something that matters happened, and reads
each one forgivingly: a process killed mid-write leaves a cut last line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from ..trace.eventstream import spawn_key, verified


def read_lines(path: str) -> Iterator[str]:
    """The stream's lines as they are on disk, one at a time (a stream may be large)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield from handle
    except FileNotFoundError:
        return


class SignedLines:
    """Which lines of one stream the recorder wrote: signed with its key (`verified`), each
    number once. Threads take numbers and write in nearly the same order, so what is held is
    a low-water mark and the few numbers seen above it (at most WINDOW: past a gap left by
    a line removed from the file, the mark moves on). `foreign` counts the lines refused."""

    WINDOW = 4096

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.low = 0
        self.above: set[int] = set()
        self.foreign = 0

    def accept(self, line: str) -> bool:
        number = verified(line, self.key)
        if number is None or number <= self.low or number in self.above:
            self.foreign += line.endswith("\n")  # a cut last line (no newline) is a crash, not the target
            return False
        self.above.add(number)
        if len(self.above) > self.WINDOW:
            self.low = min(self.above) - 1
        while self.low + 1 in self.above:
            self.low += 1
            self.above.discard(self.low)
        return True


def read_events(path: str, key: bytes | None = None, foreign: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """Events of one process, read one at a time; a last line cut off by a crash or a kill
    ends the stream. With the stream's `key`, a line the recorder did not sign, or a copy of
    one it did (the target wrote them into the file), is skipped and counted in `foreign[0]`."""
    lines = SignedLines(key) if key is not None else None
    for line in read_lines(path):
        if lines is not None and not lines.accept(line):
            if foreign is not None:
                foreign[0] = lines.foreign
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            return
        if isinstance(event, dict):
            event.pop("s", None)  # the signature differs between runs: never part of the record
        yield event


def key_of(path: str, keys: dict[str, bytes]) -> bytes | None:
    """The key a stream file was signed with: its traced process's (`keys`: events file name →
    key), derived for the streams of spawned interpreters (`trace.eventstream.spawn_key`)."""
    name = os.path.basename(path)
    for main, key in keys.items():
        base = main[: -len(".jsonl")]
        if name == main or name.startswith(base + "."):
            return spawn_key(key) if ".spawn" in name[len(base) :] else key
    return None


def _relevant(path: str, keys: dict[str, bytes]) -> bool:
    """A forked or spawned process's stream matters when namespace or blocked code ran there,
    it wrote files, or it lost events (by its signed lines: a file the target made is not one)."""
    return any(
        event.get("e") in ("call", "torch", "lost", "sink")
        or (event.get("e") == "end" and event.get("blocked_imports"))
        for event in read_events(path, key_of(path, keys))
    )


def streams_of(label: str, path: str, keys: dict[str, bytes] | None = None) -> list[tuple[str, str]]:
    """One traced process's stream file, then the stream files of the children it forked
    (`events-<label>.fork<N>.jsonl`, labelled `<label>/fork<N>`, nested forks likewise) and
    spawned, as (label, path): the events are read from the path when needed (`read_events`)."""
    found = [(label, path)]
    keys = keys or {}
    base = path[: -len(".jsonl")] if path.endswith(".jsonl") else path
    folder = os.path.dirname(path) or "."
    prefix = os.path.basename(base) + ".fork"
    names = sorted(
        (
            name
            for name in os.listdir(folder)
            if name.startswith(prefix) and name.endswith(".jsonl") and ".spawn" not in name
        ),
        key=lambda name: [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)],
    )
    for name in names:
        forks = name[len(os.path.basename(base)) + 1 : -len(".jsonl")]
        if _relevant(os.path.join(folder, name), keys):  # a fork that only exec'd another program ran no namespace code
            found.append((f"{label}/{forks.replace('.', '/')}", os.path.join(folder, name)))
    spawned = []
    for name in os.listdir(folder):
        if name.startswith(os.path.basename(base) + ".spawn") and name.endswith(".jsonl"):
            where = os.path.join(folder, name)
            if not _relevant(where, keys):  # e.g. multiprocessing's resource tracker: no namespace code ran
                continue
            wall = next(read_events(where, key_of(where, keys)), {}).get("wall", 0.0)
            spawned.append((wall, name, where))
    for number, (_, _, where) in enumerate(sorted(spawned, key=lambda item: item[:2]), 1):
        found.append((f"{label}/spawn{number}", where))
    return found


SHIP_PLAIN_BYTES = 8 << 20
"""An event stream larger than this is shipped gzip-compressed (`events-*.jsonl.gz`)."""
SHIP_MAX_BYTES = 64 << 20
"""Of a stream larger than this (uncompressed), the first SHIP_MAX_BYTES are shipped, then its
last SHIP_TAIL_BYTES (the end marker); the lines between are counted, not shipped."""
SHIP_TAIL_BYTES = 1 << 20


def ship_streams(folder: str, keys: dict[str, bytes]) -> list[dict[str, Any]]:
    """Ship the event streams of a finished run as the report keeps them, once the record is
    built from them: lines the recorder did not sign (`keys`, see `key_of`) are removed, a
    large stream is gzip-compressed (and past SHIP_MAX_BYTES cut in its middle). Returns what
    was done to each stream not shipped as written, for the Gaps (nothing in a normal run)."""
    shipped = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not (name.startswith("events-") and name.endswith(".jsonl")):
            continue
        size = os.path.getsize(path)
        large = size > SHIP_PLAIN_BYTES
        target = path + (".gz" if large else ".shipping")
        foreign, omitted = _rewrite(path, target, size, key_of(path, keys), large)
        if not large and not foreign:
            os.remove(target)  # shipped as written, byte for byte
            continue
        os.replace(target, path + ".gz" if large else path)
        if large:
            os.remove(path)
        shipped.append(
            {
                "name": name,
                "bytes": size,
                "shipped_as": name + ".gz" if large else name,
                "shipped_bytes": os.path.getsize(path + ".gz" if large else path),
                "omitted_lines": omitted,
                "foreign_lines": foreign,
            }
        )
    return shipped


def _rewrite(source: str, target: str, size: int, key: bytes | None, compress: bool) -> tuple[int, int]:
    """Copy `source` to `target` without foreign lines, gzip-compressed when asked; past
    SHIP_MAX_BYTES only its tail follows. Returns (foreign lines removed, lines left out)."""
    import gzip

    omitted, position = 0, 0
    tail_from = size - SHIP_TAIL_BYTES if size > SHIP_MAX_BYTES else size
    lines = SignedLines(key) if key is not None else None
    opened = gzip.open(target, "wb", compresslevel=6) if compress else open(target, "wb")
    with open(source, "rb") as handle, opened as out:
        for line in handle:
            position += len(line)
            if lines is not None and not lines.accept(line.decode("utf-8", "replace")):
                continue
            if position - len(line) < SHIP_MAX_BYTES or position > tail_from:
                out.write(line)
            else:
                omitted += 1
    return (lines.foreign if lines is not None else 0), omitted
