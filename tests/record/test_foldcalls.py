"""A process's calls folded while read (past the cap), and its stream's lines checked and shipped.

The fold must give dynamic.txt the same lines as the unfolded record, count every call it
does not store, and keep memory bounded by the cap; a line the recorder did not sign is not
evidence, neither in the record nor in the shipped stream.
"""

from __future__ import annotations

import gzip
import json

from harness.record import streams
from harness.record.foldcalls import CallFolder, count_calls
from harness.record.process import FoldedProcess
from harness.record.streams import SignedLines, read_events, ship_streams
from harness.report.fold import fold
from harness.report.render import _line_key
from harness.summarize import PathScrubber
from harness.trace.eventstream import EventStream, signed

SCRUB = PathScrubber(None, None)


def _call(i, parent, q, line, phase="loop"):
    return {
        "e": "call",
        "i": i,
        "p": parent,
        "mod": "loop",
        "q": q,
        "path": "loop/__init__.py",
        "line": line,
        "cl": 7,
        "dr": parent is not None,
        "th": "main",
        "tn": 0,
        "ph": phase,
        "t": float(i),
    }


def loop_events(n, returns=lambda k: "None", inner=1):
    """spin() calling tick(k) n times, each tick calling tock() `inner` times."""
    yield {"e": "start", "t": 0.0}
    yield {"e": "phase", "name": "loop", "t": 0.0}
    yield _call(0, None, "spin", 5)
    index = 0
    for k in range(n):
        index += 1
        tick = index
        yield _call(tick, 0, "tick", 1)
        for _ in range(inner):
            index += 1
            yield _call(index, tick, "tock", 3)
            yield {"e": "ret", "i": index, "v": "None", "t": float(index)}
        yield {"e": "ret", "i": tick, "v": returns(k), "t": float(index)}
    yield {"e": "tap", "key": "k", "call": 1, "status": "hit", "value": "1"}
    yield {"e": "ret", "i": 0, "v": "None", "t": float(index)}
    yield {"e": "end", "t": float(index)}


def lines(process):
    return [(line.call["function"], line.depth, line.count) for line in fold(process.calls, _line_key)]


def test_a_folded_record_gives_dynamic_txt_the_lines_of_the_unfolded_one():
    whole = FoldedProcess("cycle", loop_events(500, inner=2), 0, SCRUB)
    folded = FoldedProcess("cycle", loop_events(500, inner=2), 0, SCRUB, cap=50)
    assert len(whole.calls) == 1501 and whole.kept == 1501
    assert len(folded.calls) == 3 and folded.kept == 1501  # spin, tick ×500, tock ×2 under it
    assert [c.get("repeat") for c in folded.calls] == [None, 500, 2]
    assert lines(folded) == lines(whole) == [("loop:spin", 0, 1), ("loop:tick", 1, 500), ("loop:tock", 2, 2)]
    assert folded.phases[0]["calls"] == whole.phases[0]["calls"] == 1501
    assert folded.taps[0]["call"] == folded.calls[1]["i"]  # a tap of a folded call: the line standing for it


def test_calls_that_differ_are_never_folded_and_past_the_cap_are_counted_not_stored():
    process = FoldedProcess("cycle", loop_events(1000, returns=str), 0, SCRUB, cap=100)
    assert len(process.calls) == 100
    assert not any(call.get("repeat") for call in process.calls[:2])
    assert process.kept == 1 + 2 * 1000  # every call counted: stored, or dropped per phase
    assert sum(process.folder.dropped.values()) == process.kept - 100
    assert process.phases[0]["calls"] == process.kept
    returned = [c["returned"] for c in process.calls if c["function"] == "loop:tick"]
    assert returned == [str(k) for k in range(len(returned))]  # the first calls, in order, none folded


def test_the_folder_holds_no_more_than_the_cap_whatever_the_stream():
    process = FoldedProcess("cycle", loop_events(3000, returns=str), 0, SCRUB, cap=10)
    assert len(process.calls) == 10
    folder = process.folder
    assert isinstance(folder, CallFolder)
    assert len(folder.sig) <= 10 and len(folder.shapes) <= 10 and not folder.dropped_open


def test_count_calls_reads_lines_without_parsing():
    events = [json.dumps(e, separators=(",", ":")) + "\n" for e in loop_events(7)]
    assert count_calls(events) == 1 + 7 * 2


def test_lines_the_recorder_did_not_sign_are_not_evidence(tmp_path):
    key = b"k" * 16
    path = tmp_path / "events-cycle.jsonl"
    stream = EventStream(str(path), key)
    stream.emit("phase", name="a", t=0)
    with open(path, "a") as handle:  # what a target can append: a line copied from the file, or its own
        handle.write(open(path).read())
        handle.write('{"e":"phase","name":"forged","t":1}\n')
        handle.write(signed('{"e":"phase","name":"wrong key","t":1}', b"x" * 16, 2))
        handle.write('{"e":"phase","name":"guessed","t":1,"s":"c0ffee00c0ffee00:2"}\n')
    stream.emit("phase", name="b", t=2)
    foreign = [0]
    # a copy of the recorder's own line, a line of the target's, another key's, a made-up signature
    assert [e["name"] for e in read_events(str(path), key, foreign)] == ["a", "b"]
    assert foreign == [4]
    before = path.read_bytes()
    shipped = ship_streams(str(tmp_path), {"events-cycle.jsonl": key})
    assert shipped[0]["foreign_lines"] == 4 and shipped[0]["shipped_as"] == "events-cycle.jsonl"
    assert path.read_bytes().count(b"\n") == 2 and b'"name":"b"' in path.read_bytes()
    assert len(path.read_bytes()) < len(before)


def test_lines_of_threads_written_out_of_their_order_are_all_the_recorders():
    key = b"k" * 16
    numbered = [signed(f'{{"e":"note","text":"{n}"}}', key, n) for n in range(1, 10_001)]
    shuffled = [line for pair in zip(numbered[1::2], numbered[0::2]) for line in pair]  # 2,1,4,3,...
    lines = SignedLines(key)
    assert all(lines.accept(line) for line in shuffled)
    assert lines.low == 10_000 and not lines.above
    assert not lines.accept(numbered[5]) and lines.foreign == 1  # seen already
    gap = SignedLines(key)  # a line the target removed: the window moves on, memory stays bounded
    assert all(gap.accept(line) for line in numbered[:10] + numbered[11:])
    assert len(gap.above) <= SignedLines.WINDOW


def test_a_normal_stream_ships_byte_for_byte_and_a_large_one_compressed_and_cut(tmp_path, monkeypatch):
    key = b"k" * 16
    small, large = tmp_path / "events-cycle.jsonl", tmp_path / "events-fresh.jsonl"
    for path, count in ((small, 10), (large, 5000)):
        stream = EventStream(str(path), key)
        for n in range(count):
            stream.emit("note", text=f"line {n}")
    before = small.read_bytes()
    monkeypatch.setattr(streams, "SHIP_PLAIN_BYTES", 4096)
    monkeypatch.setattr(streams, "SHIP_MAX_BYTES", 50_000)
    monkeypatch.setattr(streams, "SHIP_TAIL_BYTES", 1000)
    keys = {"events-cycle.jsonl": key, "events-fresh.jsonl": key}
    shipped = ship_streams(str(tmp_path), keys)
    assert small.read_bytes() == before
    assert [s["name"] for s in shipped] == ["events-fresh.jsonl"] and not large.exists()
    text = gzip.open(tmp_path / "events-fresh.jsonl.gz", "rt").read().splitlines()
    assert shipped[0]["omitted_lines"] == 5000 - len(text) > 0
    assert '"line 0"' in text[0] and '"line 4999"' in text[-1]  # its head and its end


def test_the_signature_stays_out_of_the_record(tmp_path):
    path = tmp_path / "events-cycle.jsonl"
    EventStream(str(path), b"k" * 16).emit("tap", key="a", call=0, status="hit", value="1")
    assert '"s":"' in path.read_text()
    assert list(read_events(str(path), b"k" * 16)) == [
        {"key": "a", "call": 0, "status": "hit", "value": "1", "e": "tap"}
    ]
