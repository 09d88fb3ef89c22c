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


def test_a_forked_child_writes_nothing_into_its_parents_stream_before_it_has_its_own(tmp_path):
    """threading's fork handler runs before the recorder's: what the child records then waits
    for its own stream (numbered from 1 there), so the parent's numbers stay its own."""
    key = b"f" * 16
    parent = tmp_path / "events-cycle.jsonl"
    stream = EventStream(str(parent), key)
    stream.emit("note", text="before")
    pid = os.fork()
    if pid == 0:  # the child: an event before its stream is reopened, then one after
        try:
            stream.emit("lib", callee="threading:_after_fork")
            stream.reopen(str(tmp_path / "events-cycle.fork1.jsonl"))
            stream.emit("start", fork=1)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    stream.emit("fork", n=1)
    assert [e["e"] for e in read_events(str(parent), key)] == ["note", "fork"]
    child = list(read_events(str(tmp_path / "events-cycle.fork1.jsonl"), key))
    assert [e["e"] for e in child] == ["lib", "start"]
