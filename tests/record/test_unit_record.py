"""The run record: built once from the streams, scrubbed once, versioned, and read back safely."""

from __future__ import annotations

import json

import pytest
from inprocess import AVAILABLE as BACKENDS
from inprocess import MINIPKG, fixture_meta, record_package

from harness.errors import HarnessError
from harness.record import build as record
from harness.record import outcome, runjson
from harness.record.streams import read_events
from harness.record.types import SCHEMA_VERSION


@pytest.fixture
def run(tmp_path):
    def drive(imp):
        core = imp("minipkg.core")
        core.outer(1)
        core.outer(2)
        core.configure()

    return record_package(tmp_path, MINIPKG, drive, BACKENDS[0], config_global="minipkg.params:cfg")


def test_record_carries_its_schema_version_first_in_run_json(run, tmp_path):
    text = runjson.dumps(run)
    assert text.splitlines()[1] == f'  "schema_version": {SCHEMA_VERSION},'
    assert json.loads(text)["calls"] == run["calls"]


def test_load_reads_back_what_dumps_wrote(run, tmp_path):
    (tmp_path / "rep" / "trace").mkdir(parents=True)
    (tmp_path / "rep" / "trace" / "run.json").write_text(runjson.dumps(run))
    loaded = runjson.load(str(tmp_path / "rep"))
    assert loaded["calls"] == run["calls"] and loaded["report"] == str((tmp_path / "rep").resolve())


@pytest.mark.parametrize("version", [None, 1, SCHEMA_VERSION + 1])
def test_load_refuses_another_schema_version_with_a_message(run, tmp_path, version):
    data = json.loads(runjson.dumps(run))
    if version is None:
        del data["schema_version"]
    else:
        data["schema_version"] = version
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(HarnessError) as raised:
        runjson.load(str(tmp_path / "run.json"))
    assert "schema version" in raised.value.problem and "re-run callchain trace" in raised.value.fix


def test_load_refuses_what_is_not_a_run_record(tmp_path):
    (tmp_path / "run.json").write_text('{"hello": 1}')
    with pytest.raises(HarnessError, match="not a callchain run record"):
        runjson.load(str(tmp_path / "run.json"))


def test_edges_are_distinct_and_counted(run):
    edge = next(e for e in run["edges"] if e["callee"] == "minipkg.core:leaf")
    assert edge["caller"] == "minipkg.core:outer" and edge["count"] == 2 and edge["phases"] == ["run"]
    top = next(e for e in run["edges"] if e["callee"] == "minipkg.core:outer")
    assert top["caller"] == "<scenario>" and top["call_site"] is None


def test_processes_hold_the_outcome_and_the_end_event_once(run):
    (process,) = run["processes"]
    assert process["label"] == "main" and process["completed"] and process["exit"] == 0
    assert process["kept"] == len(run["calls"]) and process["stderr"] == "<scratch>/stderr.txt"
    assert "children" not in run


def test_paths_are_scrubbed_once_at_build(tmp_path):
    events = tmp_path / "events.jsonl"
    root = tmp_path / "root"
    lines = [
        {"e": "phase", "name": "save", "t": 0.0},
        {
            "e": "sink",
            "op": "write",
            "path": f"{tmp_path}/out/wts.h5.zip",
            "dest": None,
            "by": None,
            "mod": None,
            "ph": "save",
            "native": False,
        },
        {  # written by code TensorFlow generated into the run's TMPDIR (autograph): a random name
            "e": "sink",
            "op": "write",
            "path": f"{tmp_path}/tmp/tmpabc123/x.py",
            "dest": None,
            "by": f"{tmp_path}/tmp/__autograph_generated_file7t24tw7m.py:16",
            "mod": "ptycho.model",
            "ph": "save",
            "native": False,
        },
        {"e": "end", "seen": 0, "kept": 0, "t": 1.0},
    ]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    meta = dict(fixture_meta(tmp_path, root, "settrace"), environment={"TMPDIR": f"{tmp_path}/tmp"})
    outcome_ = {
        "label": "main",
        "phases": ["save"],
        "exit": 0,
        "timed_out": False,
        "interrupted": False,
        "wall_seconds": 1.5,
        "events": str(events),
        "stderr": str(tmp_path / "err"),
    }
    built = record.build(meta, [outcome_], lambda calls: {"archive_description": None})
    assert built["sinks"][0]["path"] == "<scratch>/out/wts.h5.zip"
    assert built["sinks"][1]["by"] == "<scratch>/tmp/<tmp>"  # no machine path, the same in every run
    assert built["environment"] == {"TMPDIR": "<scratch>/tmp"}
    assert built["durations"] == {"save": 1.0, "total": 1.5}


def test_a_stream_cut_by_a_crash_keeps_what_was_written(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"e": "phase", "name": "a", "t": 0}\n{"e": "call", "i": 0, "p"')
    assert list(read_events(str(path))) == [{"e": "phase", "name": "a", "t": 0}]


def test_outcome_ok_partial_and_failed(run):
    assert outcome.judge(run, 10, False) == ("ok", None)
    touched = dict(run, evidence_only=dict(run["evidence_only"], changes=["modified: ptycho/x.py"]))
    status, failure = outcome.judge(touched, 10, False)
    assert status == "partial" and failure["exit_code"] == 4 and "ptycho/x.py" in failure["problem"]
    empty = dict(run, calls=[])
    status, failure = outcome.judge(empty, 10, False)
    assert status == "failed" and "matched no call" in failure["problem"]
    assert outcome.judge(empty, 10, True) == ("ok", None)


def test_outcome_names_a_timeout_and_the_last_call(run):
    timed = dict(run, processes=[dict(run["processes"][0], timed_out=True)])
    status, failure = outcome.judge(timed, 5, False)
    assert failure["exit_code"] == 3 and "within 5 s" in failure["problem"]
    assert run["calls"][-1]["anchor"] in failure["problem"]


def test_outcome_points_at_the_real_stderr_of_a_dead_process(run):
    dead = dict(run, processes=[dict(run["processes"][0], exit=-9)])
    status, failure = outcome.judge(dead, 5, False)
    assert "exited with code -9" in failure["problem"] and failure["fix"].endswith(f"{run['scratch']}/stderr.txt")
