"""The run record: the event streams of the traced processes, joined into plain data.

Everything downstream (dynamic.txt, the Markdown deliverables, `callchain diff`, the
Perfetto trace) reads this record and nothing else, so it holds every fact once, keyed by
stable names: a call is `module:qualname` at `path:line`, an edge is caller → callee with
the line of the call. Times are kept (for the timeline) but never used for identity.

Here the processes' folded streams (`process`, found by `streams`) are joined with what the
harness knew and the static evidence; `runjson` writes the result and reads it back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

from ..summarize import PathScrubber
from .foldcalls import CALL_CAP, count_calls
from .process import FoldedProcess
from .streams import key_of, read_events, read_lines, streams_of
from .types import SCHEMA_VERSION, Call, RunRecord


def _edges(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Distinct caller → callee edges with the call site, in a stable order; a folded call
    (`repeat`) counts as many times as it stands for, and so does its subtree."""
    by_index = {call["i"]: call for call in calls}
    merged: dict[tuple, dict[str, Any]] = {}
    weight: dict[int, int] = {}
    for call in calls:  # a parent comes before its children
        parent = by_index.get(call["parent"]) if call["parent"] is not None else None
        weight[call["i"]] = call.get("repeat", 1) * (weight.get(parent["i"], 1) if parent else 1)
        thread = call.get("thread", "main")
        caller = parent["function"] if parent else ("<scenario>" if thread == "main" else f"<thread {thread}>")
        site = call["call_site"]
        key = (caller, call["function"], site, call["anchor"])
        edge = merged.setdefault(
            key,
            {
                "caller": caller,
                "callee": call["function"],
                "call_site": site,
                "callee_anchor": call["anchor"],
                "count": 0,
                "phases": [],
                "direct": call["direct"] or parent is None,
            },
        )
        edge["count"] += weight[call["i"]]
        if call["phase"] not in edge["phases"]:
            edge["phases"].append(call["phase"])
    return sorted(
        merged.values(), key=lambda e: (e["caller"], e["callee"], e["call_site"] or "", e["callee_anchor"] or "")
    )


def scrubber(record: dict[str, Any]) -> PathScrubber:
    """The one rule for run-specific paths in a record: scratch → `<scratch>`, root → `<root>`."""
    return PathScrubber(record.get("scratch"), (record.get("target") or {}).get("root"))


def build(
    meta: dict[str, Any], outcomes: list[dict[str, Any]], static: Callable[[list[Call]], dict[str, Any]]
) -> RunRecord:
    """The run record from what the harness knew (`meta`), how each traced process ended
    (`outcomes`, in the order they ran, each naming its events file) and the static evidence
    read beside the trace (`static(calls)`: entry points, docs, archive, PyTorch side).

    Every run-specific path is scrubbed here, once; the renderers print what they get."""
    record: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    record.update(meta)
    scrub = scrubber(record)
    processes: list[FoldedProcess] = []
    expanded: list[dict[str, Any]] = []
    offset = 0
    keys = {os.path.basename(o["events"]): bytes.fromhex(o["key"]) for o in outcomes if o.get("key")}
    for outcome in outcomes:
        for label, path in streams_of(outcome["label"], outcome["events"], keys):
            cap = CALL_CAP if count_calls(read_lines(path)) > CALL_CAP else None  # else every call is stored
            process = FoldedProcess(label, read_events(path, key_of(path, keys)), offset, scrub, cap)
            processes.append(process)
            expanded.append(outcome if label == outcome["label"] else _subprocess_outcome(label, process))
            offset += len(process.calls)
    calls = [call for p in processes for call in p.calls]
    record.update(
        {
            "processes": [_process_info(p, o, scrub) for p, o in zip(processes, expanded)],
            "phases": _phase_spans(processes),
            "calls": calls,
            "edges": _edges(calls),
            "tap_hits": [tap for p in processes for tap in p.taps],
            "config": {
                "changes": [c for p in processes for c in p.config_changes],
                "snapshots": {k: v for p in processes for k, v in p.snapshots.items()},
            },
            "sinks": [s for p in processes for s in p.sinks],
            "library_calls": [row for p in processes for row in p.library.values()],
            "errors": [p.error for p in processes if p.error and not p.start.get("fork") and not p.start.get("spawn")],
            "events": {
                "seen": sum((p.end or {}).get("seen") or 0 for p in processes),
                "kept": sum(p.kept for p in processes),
            },
        }
    )
    record["environment"] = {key: scrub(value) for key, value in sorted(record.get("environment", {}).items())}
    record.update(static(cast(list[Call], calls)))
    description = record.get("archive_description")
    if description:
        description["display_path"] = PathScrubber(record["scratch"])(description["path"])
    record["durations"] = _durations(record["phases"], outcomes)
    return record  # type: ignore[return-value]


def _subprocess_outcome(label: str, process: FoldedProcess) -> dict[str, Any]:
    """What stands for the harness's outcome of a process the target forked or spawned."""
    return {
        "label": label,
        "phases": [phase["name"] for phase in process.phases],
        "exit": None,
        "timed_out": False,
        "interrupted": False,
        "wall_seconds": 0.0,
        "stderr": "",
        "stacks": None,
    }


def _process_info(process: FoldedProcess, outcome: dict[str, Any], scrub: PathScrubber) -> dict[str, Any]:
    """One process: how the harness ran it (`outcome`) and what its end event reported."""
    end = process.end or {}
    return {
        "label": process.label,
        "phases": outcome["phases"],
        "start": process.start,
        "completed": process.end is not None,
        "reached_end": bool(outcome.get("reached_end")),
        "exit": outcome["exit"],
        "timed_out": outcome["timed_out"],
        "interrupted": outcome["interrupted"],
        "stopped_by": outcome.get("stopped_by"),
        "leftover_processes": outcome.get("leftover_processes", 0),
        "wall_seconds": outcome["wall_seconds"],
        "stderr": scrub(outcome["stderr"]),
        "stacks": _stacks(outcome, scrub),
        "seen": end.get("seen"),
        "kept": process.kept,
        "dropped": dict(sorted(process.folder.dropped.items())) if process.folder else {},
        "gaps": end.get("gaps", []),
        "findings": end.get("findings", []),
        "blocked_imports": end.get("blocked_imports", []),
        "torch_imported": end.get("torch_imported"),
        "packages": end.get("packages"),
        "devices": end.get("devices"),
        "peak_rss_kb": end.get("peak_rss_kb"),
        "cpu_seconds": end.get("cpu_seconds"),
        "seconds": end.get("t", process.last_t),
        "fork": process.start.get("fork"),
        "spawn": bool(process.start.get("spawn")),
        "losses": process.losses,
        "notes": process.notes,
        "torch_executed": process.torch,
        "forks": process.forks,
        "started": process.started,
        "threads": sorted({call["thread"] for call in process.calls}),
    }


def _stacks(outcome: dict[str, Any], scrub: PathScrubber) -> str | None:
    """The thread stacks a hung process wrote when it was stopped (None when it was not)."""
    path = outcome.get("stacks")
    if not outcome.get("timed_out") or not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(20000)
    except OSError:
        return None
    return scrub(text.strip()) or None


def _durations(spans: list[dict[str, Any]], outcomes: list[dict[str, Any]]) -> dict[str, float]:
    durations: dict[str, float] = {}
    for span in spans:
        if "/" in span["process"]:  # a forked or spawned child (`cycle/fork1`): its time overlaps its parent's
            continue
        durations[span["name"]] = round(durations.get(span["name"], 0.0) + span["seconds"], 6)
    durations["total"] = round(sum(outcome["wall_seconds"] for outcome in outcomes), 6)
    return durations


def _phase_spans(processes: list[FoldedProcess]) -> list[dict[str, Any]]:
    spans = []
    for process in processes:
        end = (process.end or {}).get("t", process.last_t)
        for position, phase in enumerate(process.phases):
            stop = process.phases[position + 1]["t"] if position + 1 < len(process.phases) else end
            spans.append(dict(phase, seconds=round(stop - phase["t"], 6)))
    return spans
