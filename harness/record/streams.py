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
from typing import Any


def read_events(path: str) -> list[dict[str, Any]]:
    """Events of one process; a last line cut off by a crash or a kill is dropped."""
    events = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    break
    except FileNotFoundError:
        pass
    return events


def _relevant(events: list[dict[str, Any]]) -> bool:
    """A forked or spawned process's stream matters when namespace or blocked code ran there,
    it wrote files, or it lost events."""
    return any(
        event.get("e") in ("call", "torch", "lost", "sink")
        or (event.get("e") == "end" and event.get("blocked_imports"))
        for event in events
    )


def streams_of(label: str, path: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """One traced process's stream, then the streams of the children it forked
    (`events-<label>.fork<N>.jsonl`, labelled `<label>/fork<N>`, nested forks likewise)."""
    found = [(label, read_events(path))]
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
        events = read_events(os.path.join(folder, name))
        if _relevant(events):  # a fork that only exec'd another program (preexec_fn) ran no namespace code
            found.append((f"{label}/{forks.replace('.', '/')}", events))
    spawned = []
    for name in os.listdir(folder):
        if name.startswith(os.path.basename(base) + ".spawn") and name.endswith(".jsonl"):
            events = read_events(os.path.join(folder, name))
            if not _relevant(events):  # e.g. multiprocessing's resource tracker: no namespace code ran
                continue
            wall = events[0].get("wall", 0.0) if events else 0.0
            spawned.append((wall, name, events))
    for number, (_, _, events) in enumerate(sorted(spawned, key=lambda item: item[:2]), 1):
        found.append((f"{label}/spawn{number}", events))
    return found
