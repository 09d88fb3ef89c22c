"""The event stream writes with what it bound at start: a target replacing json.dumps,
os.write or EventStream.emit later does not garble or silence it."""

from __future__ import annotations

import json
import os

from harness.record.streams import read_events
from harness.trace import eventstream
from harness.trace.eventstream import EventStream, mark_done, read_key


def test_replacing_what_the_stream_writes_with_changes_nothing(tmp_path, monkeypatch):
    key = b"s" * 16
    path = tmp_path / "events-cycle.jsonl"
    stream = EventStream(str(path), key)
    monkeypatch.setattr(json, "dumps", lambda *a, **k: "garbage")
    monkeypatch.setattr(os, "write", lambda fd, data: len(data))  # would swallow every line
    monkeypatch.setattr(EventStream, "emit", lambda self, kind, **fields: None, raising=False)
    monkeypatch.setattr(EventStream, "now", lambda self: -1.0, raising=False)
    stream.emit("phase", name="build", t=stream.now())
    monkeypatch.undo()
    events = list(read_events(str(path), key))
    assert events[0]["name"] == "build" and events[0]["t"] >= 0


def test_the_key_comes_from_the_pipe_once_and_the_pipe_is_closed():
    reader, writer = os.pipe()
    os.write(writer, b"k" * 16)
    os.close(writer)
    assert read_key(reader) == b"k" * 16
    try:
        os.fstat(reader)
        closed = False
    except OSError:
        closed = True
    assert closed
    assert read_key(None) is None


def test_mark_done_leaves_a_file_beside_the_stream(tmp_path):
    mark_done(str(tmp_path / "child-cycle.done"))
    assert (tmp_path / "child-cycle.done").exists()
    mark_done(None)
    assert eventstream.SIGNATURE == ',"s":"'
