"""The run record: the event streams of the traced processes, as plain data.

Everything downstream (dynamic.txt, the Markdown deliverables, `callchain diff`, the
Perfetto trace) reads this record and nothing else, so it holds every fact once, keyed by
stable names: a call is `module:qualname` at `path:line`, an edge is caller → callee with
the line of the call. Times are kept (for the timeline) but never used for identity.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from ..errors import HarnessError
from ..summarize import PathScrubber
from .types import SCHEMA_VERSION, Call, RunRecord


def load(path: str) -> RunRecord:
    """The run record of a report folder, its trace/ folder, or the run.json file itself."""
    given = Path(path).expanduser()
    candidates = [given] if given.is_file() else [given / "trace" / "run.json", given / "run.json"]
    source = next((c for c in candidates if c.is_file()), None)
    if source is None:
        raise HarnessError(
            f"no trace/run.json in {given}",
            "pass a report folder written by callchain trace (…/<plan phase>/) or its trace/run.json",
        )
    try:
        record = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise HarnessError(f"cannot read {source} ({error})", "check the path and its permissions") from None
    except json.JSONDecodeError as error:
        raise HarnessError(
            f"{source} is not valid JSON ({error})", "re-run callchain trace; the run record is damaged"
        ) from None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("calls"), list)
        or not isinstance(record.get("edges"), list)
    ):
        raise HarnessError(
            f"{source} is not a callchain run record (no calls/edges)",
            "pass the trace/run.json of a callchain trace report",
        )
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        written = f"schema version {version}" if version is not None else "an older callchain (no schema_version)"
        raise HarnessError(
            f"{source} was written by {written}; this callchain reads schema version {SCHEMA_VERSION}",
            "re-run callchain trace with this version, or use the callchain version that wrote the report",
        )
    # Name the folder the user gave (report folders can be moved), not where it was written.
    folder = source.parent.parent if source.parent.name == "trace" else source.parent
    record["report"] = str(folder.resolve())
    return cast(RunRecord, record)


def dumps(record: Mapping[str, Any]) -> str:
    """`trace/run.json`: `schema_version` first, every other key sorted, so the file diffs cleanly."""
    rest = {key: value for key, value in record.items() if key != "schema_version"}
    body = json.dumps(rest, indent=2, sort_keys=True, default=str)
    if not rest:
        return json.dumps({"schema_version": record.get("schema_version")}, indent=2) + "\n"
    return "{\n  " + f'"schema_version": {json.dumps(record.get("schema_version"))},' + body[1:] + "\n"


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


def anchor(path: str | None, line: int | None) -> str | None:
    return None if path is None else f"{path}:{line}"


class _Process:
    """Folds one process's events into calls, phases and observations.

    Calls are collected by the index the recorder gave them (threads write their events
    concurrently, so the file order is not the index order), then put in a canonical order
    that does not depend on how threads were scheduled: per phase, the main thread's calls,
    then each other thread's (by label), each thread's root calls with their subtrees in
    the order they started. Indices are renumbered in that order, so everything downstream
    (dynamic.txt, edges, diagrams) is identical between runs of deterministic code."""

    def __init__(self, label: str, events: list[dict[str, Any]], offset: int, scrub: PathScrubber) -> None:
        self.label = label
        self.offset = offset
        self.scrub = scrub
        self.calls: list[dict[str, Any]] = []
        self._raw: dict[int, dict[str, Any]] = {}
        self.phases: list[dict[str, Any]] = []
        self.taps: list[dict[str, Any]] = []
        self.config_changes: list[dict[str, Any]] = []
        self.snapshots: dict[str, dict[str, Any] | None] = {}
        self.sinks: list[dict[str, Any]] = []
        self.library: dict[tuple, dict[str, Any]] = {}
        self.losses: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.torch: list[dict[str, Any]] = []
        self.forks: list[dict[str, Any]] = []
        self.started: list[dict[str, Any]] = []
        self.start: dict[str, Any] = {}
        self.end: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.last_t = 0.0
        for event in events:
            self.last_t = max(self.last_t, event.get("t") or 0.0)
            getattr(self, "_on_" + str(event.get("e")), self._ignore)(event)
        self._order()

    def _ignore(self, event: dict[str, Any]) -> None:
        pass

    def _on_start(self, event):
        self.start = event
        if (event.get("fork") is not None or event.get("spawn")) and not self.phases:
            self.phases.append({"name": event.get("ph") or "start", "process": self.label, "t": event["t"], "calls": 0})

    def _on_end(self, event):
        self.end = event

    def _on_error(self, event):
        self.error = dict(event, process=self.label)

    def _on_phase(self, event):
        self.phases.append({"name": event["name"], "process": self.label, "t": event["t"], "calls": 0})

    def _on_lost(self, event):
        self.losses.append({"reason": event["reason"], "phase": event["ph"], "process": self.label})

    def _on_note(self, event):
        if event["text"] not in self.notes:
            self.notes.append(event["text"])

    def _on_torch(self, event):
        self.torch.append(
            {"module": event["module"], "importer": event["importer"], "phase": event["ph"], "process": self.label}
        )

    def _on_proc(self, event):
        self.started.append(
            {
                "how": event["how"],
                "program": event["program"],
                "by": event.get("by"),
                "thread": event.get("th", "main"),
                "phase": event["ph"],
                "process": self.label,
            }
        )

    def _on_fork(self, event):
        self.forks.append(
            {"n": event["n"], "phase": event["ph"], "thread": event.get("th", "main"), "process": self.label}
        )

    def _on_call(self, event):
        parent = self._raw.get(event["p"]) if event["p"] is not None else None
        self._raw[event["i"]] = {
            "i": event["i"],
            "process": self.label,
            "phase": event["ph"],
            "depth": parent["depth"] + 1 if parent else 0,
            "thread": event.get("th", "main"),
            "thread_n": event.get("tn", 0),
            "module": event["mod"],
            "qualname": event["q"],
            "function": f"{event['mod']}:{event['q']}",
            "anchor": anchor(event["path"], event["line"]),
            "path": event["path"],
            "line": event["line"],
            "parent": event["p"] if parent else None,
            "call_line": event["cl"] if parent else None,
            "call_site": f"{parent['path']}:{event['cl']}" if parent and parent["path"] else None,
            "direct": event.get("dr", False) if parent else False,
            "returned": None,
            "t0": event["t"],
            "t1": None,
        }

    def _on_ret(self, event):
        call = self._raw.get(event["i"])
        if call is not None:
            call["returned"] = event["v"]
            call["t1"] = event["t"]

    def _on_tap(self, event):
        self.taps.append(dict(event, process=self.label))

    def _on_cfg(self, event):
        self.config_changes.append(
            {
                "key": event["key"],
                "op": event["op"],
                "old": event["old"],
                "new": event["new"],
                "by": event["by"],
                "at": event.get("at"),
                "function": event.get("fn"),
                "phase": event["ph"],
                "process": self.label,
            }
        )

    def _on_cfgsnap(self, event):
        self.snapshots[f"{self.label}:{event['at']}"] = event["values"] if event["present"] else None

    def _on_lib(self, event):
        key = (event["callee"], event["at"], event["fn"], event["ph"], event["th"])
        row = self.library.setdefault(
            key,
            {
                "callee": event["callee"],
                "at": event["at"],
                "function": event["fn"],
                "phase": event["ph"],
                "thread": event["th"],
                "count": 0,
                "process": self.label,
            },
        )
        row["count"] += event["n"]

    def _on_sink(self, event):
        self.sinks.append(
            {
                "op": event["op"],
                "path": self.scrub(event["path"]),
                "dest": self.scrub(event["dest"]) if event.get("dest") else None,
                "by": self.scrub(event["by"]) if event.get("by") else event.get("by"),
                "module": event["mod"],
                "phase": event["ph"],
                "native": event["native"],
                "process": self.label,
            }
        )

    def _order(self) -> None:
        """Canonical order and final indices (see the class docstring)."""
        raw = self._raw
        phase_rank: dict[str, int] = {}
        for phase in self.phases:
            phase_rank.setdefault(phase["name"], len(phase_rank))
        roots: dict[int, dict[str, Any]] = {}
        for index in sorted(raw):
            call = raw[index]
            roots[index] = roots[call["parent"]] if call["parent"] is not None else call

        def key(index: int) -> tuple:
            call, root = raw[index], roots[index]
            main = call["thread"] == "main"
            return (
                phase_rank.get(root["phase"], len(phase_rank)),
                0 if main else 1,
                "" if main else call["thread"],
                0 if main else root["i"],
                index,
            )

        order = sorted(raw, key=key)
        final = {old: self.offset + position for position, old in enumerate(order)}
        for old in order:
            call = raw[old]
            call["i"] = final[old]
            call["parent"] = final.get(call["parent"]) if call["parent"] is not None else None
            self.calls.append(call)
        for phase in self.phases:
            phase["calls"] = sum(1 for call in self.calls if call["phase"] == phase["name"])
        for tap in self.taps:
            tap["call"] = final.get(tap["call"], tap["call"])
        for change in self.config_changes:
            change["by"] = final.get(change["by"]) if change["by"] is not None else None
        if self.error and self.error.get("last_call") is not None:
            self.error["last_call"] = final.get(self.error["last_call"])


def _edges(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Distinct caller → callee edges with the call site, in a stable order."""
    by_index = {call["i"]: call for call in calls}
    merged: dict[tuple, dict[str, Any]] = {}
    for call in calls:
        parent = by_index.get(call["parent"]) if call["parent"] is not None else None
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
        edge["count"] += 1
        if call["phase"] not in edge["phases"]:
            edge["phases"].append(call["phase"])
    return sorted(
        merged.values(), key=lambda e: (e["caller"], e["callee"], e["call_site"] or "", e["callee_anchor"] or "")
    )


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
    processes: list[_Process] = []
    expanded: list[dict[str, Any]] = []
    offset = 0
    for outcome in outcomes:
        for label, events in streams_of(outcome["label"], outcome["events"]):
            process = _Process(label, events, offset, scrub)
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
            "events": {"seen": sum((p.end or {}).get("seen") or 0 for p in processes), "kept": len(calls)},
        }
    )
    record["environment"] = {key: scrub(value) for key, value in sorted(record.get("environment", {}).items())}
    record.update(static(cast(list[Call], calls)))
    description = record.get("archive_description")
    if description:
        description["display_path"] = PathScrubber(record["scratch"])(description["path"])
    record["durations"] = _durations(record["phases"], outcomes)
    return record  # type: ignore[return-value]


def _subprocess_outcome(label: str, process: _Process) -> dict[str, Any]:
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


def _process_info(process: _Process, outcome: dict[str, Any], scrub: PathScrubber) -> dict[str, Any]:
    """One process: how the harness ran it (`outcome`) and what its end event reported."""
    end = process.end or {}
    return {
        "label": process.label,
        "phases": outcome["phases"],
        "start": process.start,
        "completed": process.end is not None,
        "exit": outcome["exit"],
        "timed_out": outcome["timed_out"],
        "interrupted": outcome["interrupted"],
        "stopped_by": outcome.get("stopped_by"),
        "leftover_processes": outcome.get("leftover_processes", 0),
        "wall_seconds": outcome["wall_seconds"],
        "stderr": scrub(outcome["stderr"]),
        "stacks": _stacks(outcome, scrub),
        "seen": end.get("seen"),
        "kept": len(process.calls),
        "gaps": end.get("gaps", []),
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


def _phase_spans(processes: list[_Process]) -> list[dict[str, Any]]:
    spans = []
    for process in processes:
        end = (process.end or {}).get("t", process.last_t)
        for position, phase in enumerate(process.phases):
            stop = process.phases[position + 1]["t"] if position + 1 < len(process.phases) else end
            spans.append(dict(phase, seconds=round(stop - phase["t"], 6)))
    return spans
