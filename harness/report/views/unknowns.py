"""Gaps and unknowns: what the run could not see or had to leave open, as items.

static.md and summary.md both end with this list, so it is built once: a failure, taps not
hit, scenario fallbacks, blocked imports, code without source, writes outside the scratch
folder, what the recorder reports beyond the main thread, errors, spec clauses left open,
archive clauses that failed. Items are plain data with a `kind`; the templates word them.
"""

from __future__ import annotations

from typing import Any

from ...summarize import PathScrubber
from ..queries.archive import sinks
from .common import spec_view


def unknowns(record: dict[str, Any], taps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gaps and unknowns as items (`kind` + data); the templates word them."""
    items: list[dict[str, Any]] = _run_gaps(record)
    link = record.get("companion")
    if isinstance(link, dict) and link.get("problem"):  # the PyTorch run asked for (report/companion.py)
        items.append({"kind": "companion", "problem": link["problem"], "report": link.get("report")})
    items += [dict(t, kind="tap") for t in taps if t["status"] != "hit"]
    items += [dict(g, kind="gap") for g in gaps(record)]
    items += [dict(a, kind="blocked") for p in record["processes"] for a in p.get("blocked_imports") or []]
    no_source = sorted({c["function"] for c in record["calls"] if c["anchor"] is None})
    if no_source:
        items.append({"kind": "no_source", "count": len(no_source), "functions": no_source[:5]})
    items += _unseen(record)
    items += _bounded(record)
    outside = [s["path"] for s in sinks(record) if s["outside"]]
    if outside:
        items.append({"kind": "outside", "count": len(outside), "paths": outside[:5]})
    items += _recorder_items(record)
    for error in record["errors"]:
        items.append(
            {
                "kind": "error",
                "type": error["type"],
                "message": error["message"][:200],
                "where": error.get("namespace_frame") or error.get("innermost_frame"),
            }
        )
    items += _spec_items(record)
    description = record.get("archive_description")
    if description:
        items += [dict(c, kind="clause") for c in description.get("clauses", []) if c["status"] == "fail"]
    return items


def gaps(record: dict[str, Any]) -> list[dict[str, str]]:
    """Scenario fallbacks, once each (a later process meets the same ones again)."""
    unique: dict[tuple, dict[str, str]] = {}
    for process in record["processes"]:
        for gap in process.get("gaps") or []:
            unique.setdefault((gap["missing"], gap["used"]), gap)
    return list(unique.values())


def _run_gaps(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What this run could not see, and why: a failure, nothing kept, no archive, writes that
    no namespace frame made, fields the record lacks. A run can stop anywhere; the report says where."""
    items: list[dict[str, Any]] = []
    if record.get("failure"):
        items.append(dict(record["failure"], kind="failure", status=record.get("status")))
        items += [dict(problem, kind="also") for problem in record["failure"].get("also") or []]
    if (record.get("recorder") or {}).get("untraced"):
        items.append({"kind": "untraced"})
    elif not record["calls"]:
        items.append({"kind": "nothing_kept", "namespace": record.get("namespace")})
    if not record.get("archive_description"):
        items.append(
            {"kind": "no_archive", "path": PathScrubber(record.get("scratch") or None)(record.get("archive") or "")}
        )
    anonymous = [s["path"] for s in record["sinks"] if not s.get("by") and s.get("op") == "write"]
    if anonymous:
        items.append(
            {
                "kind": "anonymous_writes",
                "count": len(anonymous),
                "paths": anonymous[:5],
                "namespace": record.get("namespace"),
            }
        )
    if record.get("missing_fields"):
        items.append({"kind": "missing_fields", "fields": record["missing_fields"]})
    return items


def _unseen(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What the run could not read or had to end: evidence-check notes, processes left
    running by a traced process, files the static passes skipped."""
    items: list[dict[str, Any]] = [
        {"kind": "evidence_note", "note": note} for note in (record.get("evidence_only") or {}).get("notes", [])
    ]
    items += [
        {"kind": "leftover", "label": p["label"], "count": p["leftover_processes"]}
        for p in record["processes"]
        if p.get("leftover_processes")
    ]
    skipped = record.get("static_skipped") or []
    items += [dict(item, kind="static_skipped") for item in skipped[:10]]
    if len(skipped) > 10:
        items.append({"kind": "static_skipped_more", "count": len(skipped) - 10})
    return items


def _bounded(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What the report stores in less than full: a process's calls folded (and past the cap not
    stored) in run.json, an event stream shipped compressed, cut, or without foreign lines."""
    items: list[dict[str, Any]] = []
    for process in record["processes"]:
        stored = [call for call in record["calls"] if call["process"] == process["label"]]
        folded = [call for call in stored if call.get("repeat")]
        dropped = sum((process.get("dropped") or {}).values())
        if folded or dropped:
            items.append(
                {
                    "kind": "folded",
                    "process": process["label"],
                    "kept": process.get("kept"),
                    "stored": len(stored),
                    "dropped": dropped,
                }
            )
    items += [dict(shipped, kind="events_file") for shipped in record.get("events_files") or []]
    return items


def _recorder_items(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What the recorder says the evidence lacks or holds beyond the main thread: torch that
    ran, events lost, a process without its end marker, forks, spawned interpreters, notes
    (a module that renamed itself), and the other threads that ran namespace code."""
    items: list[dict[str, Any]] = []
    for process in record["processes"]:
        label = process["label"]
        items += [dict(found, kind="torch_executed", process=label) for found in process.get("torch_executed") or []]
        items += [dict(loss, kind="lost") for loss in process.get("losses") or []]
        if not process.get("completed", True) and not process.get("fork") and not process.get("spawn"):
            items.append({"kind": "no_end", "process": label, "interfered": process.get("reached_end")})
        forks = process.get("forks") or []
        if forks:
            items.append(
                {
                    "kind": "forks",
                    "process": label,
                    "count": len(forks),
                    "phases": sorted({fork["phase"] for fork in forks}),
                }
            )
        items += [{"kind": "note", "text": note, "process": label} for note in process.get("notes") or []]
    started = [s for p in record["processes"] for s in p.get("started") or []]
    if started:
        programs: dict[str, int] = {}
        for item in started:
            programs[item["program"]] = programs.get(item["program"], 0) + 1
        items.append(
            {
                "kind": "started",
                "count": len(started),
                "programs": sorted(programs.items()),
                "by": sorted({s["by"] for s in started if s["by"]})[:5],
                "traced": sum(1 for p in record["processes"] if p.get("spawn")),
            }
        )
    spawned = [p for p in record["processes"] if p.get("spawn")]
    if spawned:
        items.append({"kind": "spawned", "count": len(spawned), "calls": sum(p["kept"] for p in spawned)})
    threads = sorted({call.get("thread", "main") for call in record["calls"]} - {"main"})
    if threads:
        items.append({"kind": "threads", "threads": threads})
    return items


def _spec_items(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What the spec part leaves open: no contract in the docs, broken clauses, docs not read."""
    spec = spec_view(record)
    items = [dict(spec["missing"], kind="spec_missing")] if spec["missing"] else []
    items += [dict(c, kind="spec_broken") for c in spec["clauses"] if c["verdict"] == "broken"]
    if spec["skipped"]:
        items.append({"kind": "spec_skipped", "count": len(spec["skipped"]), "files": spec["skipped"][:5]})
    return items
