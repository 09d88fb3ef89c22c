"""Renderers never crash: any record a run can produce renders, with the reason in the gaps.

The fast tests feed the renderers records with fields missing or emptied (a property over
every field); the slow ones do the same to a real demo record and run the cases a user
meets: a namespace matching nothing, a namespace whose module writes nothing itself.
"""

from __future__ import annotations

import copy
import json
import re
from typing import get_args, get_origin, get_type_hints, is_typeddict

import pytest
from tracing import trace

from harness.record.complete import LOOSE, complete
from harness.record.types import RunRecord
from harness.report.perfetto import trace_events
from harness.report.render import env_view, render_texts, rerender, write_report

TOP = get_type_hints(RunRecord)
# List fields whose items are records of their own: field → the item's field names.
ITEMS = {
    name: list(get_type_hints(get_args(tp)[0]))
    for name, tp in TOP.items()
    if get_origin(tp) is list and is_typeddict(get_args(tp)[0])
}

EMPTIES = (None, "", [], {}, 7, ["x"], {"x": 1})


def _renders(record) -> dict:
    """Every deliverable's text, plus the JSON ones; raises if any renderer does."""
    from harness.record.complete import complete

    texts = render_texts(record)
    json.dumps(trace_events(complete(record)))
    json.dumps(env_view(complete(record)), default=str)
    return texts


def _gaps(texts: dict) -> str:
    static = texts["callchain/static.md"]
    return static[static.index("## 11.") :]


def test_an_empty_record_renders_and_says_what_is_missing():
    texts = _renders({})
    assert set(texts) == {
        "callgraph/dynamic.txt",
        "callchain/static.md",
        "callchain/diagram.mmd",
        "trace/tap_points.md",
        "summary.md",
    }
    gaps = _gaps(texts)
    assert "The run record lacks" in gaps and "`calls`" in gaps
    assert "No archive was produced" in gaps


@pytest.mark.parametrize("field", sorted(TOP))
@pytest.mark.parametrize("value", EMPTIES, ids=repr)
def test_any_top_level_field_emptied_or_wrong_renders(field, value):
    _renders({field: value})


@pytest.mark.parametrize("field", sorted(ITEMS))
def test_list_items_with_fields_missing_or_wrong_render(field):
    for value in (
        {},
        {"x": 1},
        None,
        "text",
        dict.fromkeys(ITEMS[field]),
        {key: "" for key in ITEMS[field]},
        {key: [] for key in ITEMS[field]},
    ):
        _renders({field: [value], "calls": [{"i": 0, "function": "m:f"}], "tap_hits": [{"call": 0, "status": "hit"}]})


def _nest(path: str, value):
    """A record holding `value` at a LOOSE path (`a.b[]`: an item of list a.b; `a{}`: a value of dict a)."""
    for step in reversed(re.findall(r"[^.\[\]{}]+|\[\]|\{\}", path)):
        value = [value] if step == "[]" else {"k": value} if step == "{}" else {step: value}
    return value


@pytest.mark.parametrize("path", sorted(LOOSE))
def test_loosely_typed_parts_with_fields_missing_or_wrong_render(path):
    """The parts runrecord types as Dict[str, Any] (archive description, spec, errors, …)."""
    for value in (None, "text", 7, [], {}, {"x": 1}):
        _renders(_nest(path, value))
    for field in LOOSE[path]:
        for wrong in (None, "", 7, ["x"], {"x": 1}):
            _renders(_nest(path, dict(LOOSE[path], **{field: wrong})))


def _assert_preserved(original, completed, where: str = "record") -> None:
    """Completion only adds: every value the record holds is still there, unchanged."""
    if isinstance(original, dict):
        assert isinstance(completed, dict), where
        for key, value in original.items():
            _assert_preserved(value, completed[key], f"{where}.{key}")
    elif isinstance(original, list):
        assert isinstance(completed, list) and len(completed) == len(original), where
        for i, (value, done) in enumerate(zip(original, completed)):
            _assert_preserved(value, done, f"{where}[{i}]")
    else:
        assert completed == original, where


def test_completion_keeps_every_value_of_a_real_record(tmp_path):
    """Defaults fill holes only: a record with every part present (calls, config, archive,
    spec with verdicts, PyTorch surfaces) comes out of `complete` with all its values."""
    from inprocess import rich_record

    from harness.record.complete import complete

    record = rich_record(tmp_path)
    assert record["spec"]["clauses"] and record["spec"]["sections"] and record["torch_delta"]["surfaces"]
    _assert_preserved(record, complete(record))


def test_rendering_leaves_the_record_unchanged():
    record = {"calls": [{"i": 0}], "failure": {"problem": "p"}}
    before = copy.deepcopy(record)
    _renders(record)
    assert record == before


def test_write_report_keeps_the_record_as_given(tmp_path):
    write_report(tmp_path, {"status": "failed", "failure": {"problem": "it broke", "fix": "f", "exit_code": 3}})
    stored = json.loads((tmp_path / "trace" / "run.json").read_text())
    stored.pop("schema_version", None)
    assert stored == {"status": "failed", "failure": {"problem": "it broke", "fix": "f", "exit_code": 3}}
    static = (tmp_path / "callchain" / "static.md").read_text()
    assert "it broke" in static and "could not be rendered" not in static
    for name in ("summary.md", "callgraph/dynamic.txt", "trace/trace.json", "env/trace_env.json"):
        assert "could not be rendered" not in (tmp_path / name).read_text()


def test_a_write_with_no_namespace_author_renders_with_its_reason():
    record = {
        "namespace": "ptycho.params",
        "scratch": "/s",
        "sinks": [
            {"op": "write", "phase": "save", "path": "<scratch>/tmp/x/manifest.dill", "by": None, "native": False}
        ],
        "archive_description": {"members": [{"name": "manifest.dill", "size": 80}], "clauses": []},
    }
    texts = _renders(record)
    assert "scenario / framework (no namespace frame)" in texts["callchain/static.md"]
    assert "1 file writes ran with no frame of `ptycho.params`" in _gaps(texts)


# -- real records ------------------------------------------------------------------------


@pytest.mark.slow
def test_every_field_of_a_real_record_removed_or_emptied_renders(demo_run):
    record = demo_run.record
    for field in sorted(record):
        for mutate in ("drop", "empty", "drop-item-fields"):
            changed = copy.deepcopy(record)
            if mutate == "drop":
                del changed[field]
            elif mutate == "empty":
                changed[field] = type(changed[field])() if changed[field] is not None else None
            elif isinstance(changed[field], list):
                changed[field] = [{} for _ in changed[field]]
            else:
                continue
            _renders(changed)
    _assert_preserved(record, complete(record))


@pytest.mark.slow
@pytest.mark.parametrize("namespace", ["zzz", "ptycho.nothing"])
def test_namespace_matching_nothing_on_the_demo(tmp_path, namespace):
    run = trace(None, tmp_path / "out", "--namespace", namespace, cwd=tmp_path)
    run.fails(3, f"the namespace '{namespace}' matched no call")
    assert f"No call of the namespace `{namespace}` was kept" in run.text("callchain/static.md")
    assert f"the namespace '{namespace}' matched no call" in run.text("summary.md")
    assert run.record["status"] == "failed"


@pytest.mark.slow
def test_a_namespace_whose_code_writes_nothing_itself(tmp_path):
    """ptycho.params runs but writes no archive member: the writers are anonymous."""
    run = trace(None, tmp_path / "out", "--namespace", "ptycho.params", cwd=tmp_path).ok()
    static = run.text("callchain/static.md")
    assert "scenario / framework (no namespace frame)" in static
    assert "file writes ran with no frame of `ptycho.params`" in static
    assert rerender(str(run.report)) == run.report
