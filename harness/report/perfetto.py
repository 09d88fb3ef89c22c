"""The run record as a Chrome/Perfetto trace: open `trace/trace.json` in ui.perfetto.dev.

The Markdown deliverables say *what* ran; this file shows *when* and *for how long*, which
is what you want when a save or a fresh load is slow. It is built from the run record alone
(times live only in `t0`/`t1`, seconds since each process's stream start), in the Chrome
Trace Event format that Perfetto and chrome://tracing both read:

* one process (`pid`) per traced process (`cycle`, `fresh`), laid end to end on the time
  axis in the order they ran, so the fresh load does not appear to overlap the cycle;
* thread `calls` (tid 1): one complete event (`ph: "X"`) per kept call of the main thread,
  plus the tap observations as thread-scoped instant events (`ph: "i"`) at the moment they
  were taken (on the track of the call they belong to);
* thread `phases` (tid 2): one complete event per scenario phase;
* one more track per other thread that ran namespace code (tid 3, 4, …), named
  `calls · <thread label>` (`#2`, `#3` when several threads share a label).

Events are sorted per track (by start, longer first on ties) because viewers expect it.

The trace is bounded: at most `MAX_CALL_SLICES` call slices (the first in record order),
and a record that folded a process's calls (past `record.foldcalls.CALL_CAP`) gives one
slice per stored call, its `repeat` in the args (the times are the first repeat's). What
the trace does not show is said in `otherData.calls` (stored, folded, not stored, not shown).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CALLS_TID = 1
PHASES_TID = 2
TRACK_NAMES = {CALLS_TID: "calls", PHASES_TID: "phases"}
_KIND_ORDER = {"X": 0, "i": 1}
MAX_CALL_SLICES = 50_000


def _us(seconds: float) -> int:
    """Microseconds as an integer: the record keeps six decimals, so nothing is lost."""
    return int(round(seconds * 1_000_000))


def _process_labels(record: dict[str, Any]) -> list[str]:
    """Process labels in the order they ran (the record's process list, then any stragglers)."""
    labels = [p["label"] for p in record.get("processes", [])]
    for item in list(record.get("calls", [])) + list(record.get("phases", [])):
        if item["process"] not in labels:
            labels.append(item["process"])
    return labels


def _process_ends(record: dict[str, Any], labels: Iterable[str]) -> dict[str, float]:
    """Seconds at which each process's last event happened (its stream end, or later stamps)."""
    ends = {label: 0.0 for label in labels}
    for process in record.get("processes", []):
        ends[process["label"]] = max(ends[process["label"]], process.get("seconds") or 0.0)
    for call in record.get("calls", []):
        ends[call["process"]] = max(ends[call["process"]], call["t0"], call["t1"] or 0.0)
    for span in record.get("phases", []):
        ends[span["process"]] = max(ends[span["process"]], span["t"] + span["seconds"])
    return ends


def _offsets(labels: list[str], ends: dict[str, float]) -> dict[str, int]:
    """Where each process starts on the shared time axis (µs): after the ones before it.

    Kept in whole microseconds and added to each event's own rounded times, so a child
    call never ends past its parent because of rounding."""
    offsets, start = {}, 0
    for label in labels:
        offsets[label] = start
        start += _us(ends[label])
    return offsets


def _thread_tracks(record: dict[str, Any], pids: dict[str, int]) -> dict[tuple[str, str, int], tuple[int, str]]:
    """(process, thread label, thread number) → (tid, track name), main thread on CALLS_TID."""
    tracks: dict[tuple[str, str, int], tuple[int, str]] = {}
    used: dict[str, int] = {}
    for call in record.get("calls", []):
        label = call.get("thread", "main")
        key = (call["process"], label, call.get("thread_n", 0))
        if key in tracks:
            continue
        if label == "main":
            tracks[key] = (CALLS_TID, TRACK_NAMES[CALLS_TID])
            continue
        count = used[f"{call['process']}:{label}"] = used.get(f"{call['process']}:{label}", 0) + 1
        tid = 3 + sum(1 for k, v in tracks.items() if k[0] == call["process"] and v[0] != CALLS_TID)
        tracks[key] = (tid, f"calls · {label}" + (f" #{count}" if count > 1 else ""))
    return tracks


def _tid(call: dict[str, Any], tracks: dict[tuple[str, str, int], tuple[int, str]]) -> int:
    return tracks.get((call["process"], call.get("thread", "main"), call.get("thread_n", 0)), (CALLS_TID, ""))[0]


def _call_events(
    record: dict[str, Any], pids: dict[str, int], ends: dict[str, float], offsets: dict[str, int], tracks
) -> list[dict[str, Any]]:
    events = []
    for call in record.get("calls", [])[:MAX_CALL_SLICES]:
        label = call["process"]
        # A call that never returned (crash, kill) lasts until its process's last event.
        stop = call["t1"] if call["t1"] is not None else ends[label]
        events.append(
            {
                "name": call["function"],
                "cat": call["phase"],
                "ph": "X",
                "pid": pids[label],
                "tid": _tid(call, tracks),
                "ts": offsets[label] + _us(call["t0"]),
                "dur": max(0, _us(stop) - _us(call["t0"])),
                "args": {
                    "anchor": call["anchor"],
                    "returned": call["returned"],
                    "call_site": call["call_site"],
                    "i": call["i"],
                    "depth": call["depth"],
                    "completed": call["t1"] is not None,
                    "thread": call.get("thread", "main"),
                    **({"repeat": call["repeat"]} if call.get("repeat") else {}),
                },
            }
        )
    return events


def _not_shown(record: dict[str, Any]) -> dict[str, int] | None:
    """What of the calls the trace does not show one by one (None: it shows every call)."""
    calls = record.get("calls", [])
    kept = (record.get("events") or {}).get("kept", len(calls))
    not_stored = sum(sum((p.get("dropped") or {}).values()) for p in record.get("processes", []))
    not_shown = max(0, len(calls) - MAX_CALL_SLICES)
    if kept == len(calls) and not not_shown:
        return None
    return {
        "kept": kept,
        "stored": len(calls),
        "folded": kept - len(calls) - not_stored,
        "not_stored": not_stored,
        "not_shown": not_shown,
    }


def _phase_events(record: dict[str, Any], pids: dict[str, int], offsets: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "name": span["name"],
            "cat": "phase",
            "ph": "X",
            "pid": pids[span["process"]],
            "tid": PHASES_TID,
            "ts": offsets[span["process"]] + _us(span["t"]),
            "dur": max(0, _us(span["seconds"])),
            "args": {"calls": span["calls"], "process": span["process"]},
        }
        for span in record.get("phases", [])
    ]


def _tap_events(record: dict[str, Any], pids: dict[str, int], offsets: dict[str, int], tracks) -> list[dict[str, Any]]:
    """A tap has no time of its own: it was taken when its call started or returned."""
    by_index = {call["i"]: call for call in record.get("calls", [])}
    when = {tap["key"]: tap.get("when", "call") for tap in record.get("taps_declared", [])}
    events = []
    for hit in record.get("tap_hits", []):
        call = by_index.get(hit["call"])
        if call is None or hit["process"] not in pids:
            continue
        moment = call["t1"] if when.get(hit["key"]) == "return" and call["t1"] is not None else call["t0"]
        summary = {"status": hit["status"], "function": call["function"], "anchor": call["anchor"], "call": call["i"]}
        summary.update({"value": hit["value"]} if "value" in hit else {"error": hit.get("error")})
        events.append(
            {
                "name": hit["key"],
                "cat": "tap",
                "ph": "i",
                "s": "t",
                "pid": pids[hit["process"]],
                "tid": _tid(call, tracks),
                "ts": offsets[hit["process"]] + _us(moment),
                "args": summary,
            }
        )
    return events


def _metadata(labels: list[str], pids: dict[str, int], tracks) -> list[dict[str, Any]]:
    events = []
    for (process, _, _), (tid, name) in sorted(tracks.items(), key=lambda item: (item[0][0], item[1][0])):
        if tid != CALLS_TID:
            events.append({"name": "thread_name", "ph": "M", "pid": pids[process], "tid": tid, "args": {"name": name}})
            events.append(
                {"name": "thread_sort_index", "ph": "M", "pid": pids[process], "tid": tid, "args": {"sort_index": tid}}
            )
    for position, label in enumerate(labels):
        pid = pids[label]
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": label}})
        events.append({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0, "args": {"sort_index": position}})
        for tid, name in TRACK_NAMES.items():
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}})
            events.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid, "args": {"sort_index": tid}})
    return events


def _track_order(event: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """Per track by start; on equal starts the enclosing (longer) span first, instants after."""
    return (event["pid"], event["tid"], event["ts"], _KIND_ORDER[event["ph"]], -event.get("dur", 0))


def trace_events(record: dict[str, Any]) -> dict[str, Any]:
    """The Chrome Trace Event document for one run record (a partial record works too)."""
    labels = _process_labels(record)
    pids = {label: position + 1 for position, label in enumerate(labels)}
    ends = _process_ends(record, labels)
    offsets = _offsets(labels, ends)
    tracks = _thread_tracks(record, pids)
    timed = (
        _call_events(record, pids, ends, offsets, tracks)
        + _phase_events(record, pids, offsets)
        + _tap_events(record, pids, offsets, tracks)
    )
    timed.sort(key=_track_order)  # stable: calls keep their record order on full ties
    other = {
        "callchain_version": record.get("callchain_version"),
        "status": record.get("status"),
        "target": (record.get("target") or {}).get("root"),
        "command": record.get("command"),
        "process_offsets_us": offsets,
    }
    missing = _not_shown(record)
    if missing:
        other["calls"] = missing
    return {"traceEvents": _metadata(labels, pids, tracks) + timed, "displayTimeUnit": "ms", "otherData": other}
