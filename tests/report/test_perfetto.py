"""trace/trace.json: a valid Chrome Trace Event document with one complete event per kept call."""

from __future__ import annotations

import copy
import json
from collections import defaultdict

import pytest

from harness.report.perfetto import CALLS_TID, PHASES_TID, trace_events

pytestmark = pytest.mark.slow  # every test here traces in a subprocess


def load_trace(run) -> dict:
    return json.loads((run.report / "trace" / "trace.json").read_text())


def check_schema(document: dict) -> None:
    assert set(document) >= {"traceEvents", "displayTimeUnit"}
    assert document["displayTimeUnit"] == "ms"
    tracks = defaultdict(list)
    for event in document["traceEvents"]:
        assert event["ph"] in {"X", "i", "M"}, event
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        assert isinstance(event["name"], str) and event["name"]
        if event["ph"] == "M":
            assert event["name"] in {"process_name", "thread_name", "process_sort_index", "thread_sort_index"}
            continue
        assert isinstance(event["ts"], (int, float)) and event["ts"] >= 0
        if event["ph"] == "X":
            assert isinstance(event["dur"], (int, float)) and event["dur"] >= 0
        else:
            assert event["s"] == "t"
        tracks[(event["pid"], event["tid"])].append(event["ts"])
    for track, stamps in tracks.items():
        assert stamps == sorted(stamps), f"ts goes backwards on track {track}"


def complete_calls(document: dict) -> list:
    return [e for e in document["traceEvents"] if e["ph"] == "X" and e["tid"] == CALLS_TID]


def test_each_run_writes_a_valid_trace(demo_run):
    document = load_trace(demo_run)
    check_schema(document)
    record = demo_run.record
    calls = complete_calls(document)
    assert len(calls) == len(record["calls"])
    assert sorted(e["args"]["i"] for e in calls) == [c["i"] for c in record["calls"]]
    first = next(e for e in calls if e["args"]["i"] == record["calls"][0]["i"])
    assert first["name"] == record["calls"][0]["function"] and first["cat"] == record["calls"][0]["phase"]
    assert {"anchor", "returned", "call_site"} <= set(first["args"])


def test_processes_tracks_phases_and_taps(demo_run):
    document = load_trace(demo_run)
    record = demo_run.record
    names = {e["pid"]: e["args"]["name"] for e in document["traceEvents"] if e["name"] == "process_name"}
    assert sorted(names.values()) == ["cycle", "fresh"]
    pid = {label: number for number, label in names.items()}
    phases = [e for e in document["traceEvents"] if e["ph"] == "X" and e["tid"] == PHASES_TID]
    assert [(e["name"], e["pid"]) for e in phases] == [(p["name"], pid[p["process"]]) for p in record["phases"]]
    taps = [e for e in document["traceEvents"] if e["ph"] == "i"]
    assert sorted(e["name"] for e in taps) == sorted(h["key"] for h in record["tap_hits"])
    manifest = next(e for e in taps if e["name"] == "save.manifest")
    assert manifest["args"]["status"] == "hit" and "version" in manifest["args"]["value"]
    # The fresh process ran after the cycle: it starts where the cycle ended.
    cycle_end = max(
        e["ts"] + e.get("dur", 0) for e in document["traceEvents"] if e["ph"] != "M" and e["pid"] == pid["cycle"]
    )
    fresh_start = min(e["ts"] for e in document["traceEvents"] if e["ph"] != "M" and e["pid"] == pid["fresh"])
    assert fresh_start >= cycle_end


def test_calls_nest_inside_their_callers(demo_run):
    by_index = {e["args"]["i"]: e for e in complete_calls(load_trace(demo_run))}
    for call in demo_run.record["calls"]:
        if call["parent"] is None:
            continue
        inner, outer = by_index[call["i"]], by_index[call["parent"]]
        assert outer["ts"] <= inner["ts"] and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"], call["function"]


def test_unreturned_calls_last_until_the_process_ends(demo_run):
    record = copy.deepcopy(demo_run.record)
    cycle = [c for c in record["calls"] if c["process"] == "cycle"]
    open_calls = [cycle[-1]]
    parent = cycle[-1]["parent"]
    while parent is not None:  # a crash leaves the whole stack open
        call = record["calls"][parent]
        open_calls.append(call)
        parent = call["parent"]
    for call in open_calls:
        call["t1"] = None
    document = trace_events(record)
    check_schema(document)
    calls = {e["args"]["i"]: e for e in complete_calls(document)}
    assert len(calls) == len(record["calls"])
    end = max(
        e["ts"] + e.get("dur", 0)
        for e in document["traceEvents"]
        if e["ph"] != "M" and e["pid"] == calls[cycle[0]["i"]]["pid"]
    )
    for call in open_calls:
        event = calls[call["i"]]
        assert event["ts"] + event["dur"] == end and event["args"]["completed"] is False


def test_an_empty_record_gives_an_empty_trace():
    document = trace_events({"calls": [], "phases": [], "processes": [], "tap_hits": []})
    check_schema(document)
    assert document["traceEvents"] == []
