"""`callchain diff`: two runs of the same code agree; a moved function and a changed tap value
are named with their anchors and values; bad input gives one line and exit 2."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from conftest import DEMO, callchain, report_of

from harness.report.diff import diff_records, render_text

pytestmark = pytest.mark.slow  # every test here traces in a subprocess


MOVED = "ptycho.model:create_model_with_gridsize"
BLANK_LINES = 3


@pytest.fixture(scope="module")
def variant(tmp_path_factory):
    """The demo with one function pushed down three lines and the archive format version bumped."""
    root = tmp_path_factory.mktemp("variant") / "demo"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("__pycache__"))
    model = root / "ptycho" / "model.py"
    text = model.read_text()
    assert text.count("\ndef create_model_with_gridsize(") == 1
    model.write_text(
        text.replace("\ndef create_model_with_gridsize(", "\n" * (BLANK_LINES + 1) + "def create_model_with_gridsize(")
    )
    manager = root / "ptycho" / "model_manager.py"
    text = manager.read_text()
    assert text.count("FORMAT_VERSION = '1.0'") == 1
    manager.write_text(text.replace("FORMAT_VERSION = '1.0'", "FORMAT_VERSION = '1.1'"))
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path_factory.mktemp("variant-out")))
    assert done.returncode == 0, done.stderr
    return report_of(done)


def test_two_runs_of_the_demo_do_not_differ(demo_runs):
    done = callchain("diff", str(demo_runs.first.report), str(demo_runs.second.report))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no differences in the call chain" in done.stdout
    assert str(demo_runs.first.report) in done.stdout and str(demo_runs.second.report) in done.stdout


def test_json_output_is_stable_and_accepts_run_json(demo_runs):
    done = callchain("diff", "--json", str(demo_runs.first.report / "trace" / "run.json"), str(demo_runs.second.report))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert done.stdout == json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert result["same"] is True and not any(result["counts"].values())
    assert result["a"]["report"] == str(demo_runs.first.report)


def test_moved_function_and_changed_tap_are_named(demo_runs, variant):
    before = next(c["anchor"] for c in demo_runs.first.record["calls"] if c["function"] == MOVED)
    path, line = before.rsplit(":", 1)
    after = f"{path}:{int(line) + BLANK_LINES}"
    done = callchain("diff", str(demo_runs.first.report), str(variant))
    assert done.returncode == 1, done.stdout + done.stderr
    text = done.stdout
    assert f"{MOVED}  {before} → {after}" in text
    assert "save.manifest" in text
    assert "A: dict[2] {models: list[2], version: '1.0'}" in text
    assert "B: dict[2] {models: list[2], version: '1.1'}" in text
    assert "ptycho/model_manager.py:" in text.split("save.manifest", 1)[1].splitlines()[0]  # the tap's owner anchor
    # Without --lines nothing else changed: same functions, same edges, same params.cfg flow.
    assert "functions only in" not in text and "edges " not in text and "params.cfg" not in text


def test_moved_function_alone_exits_1_and_lines_shows_edges(demo_runs, variant):
    result = diff_records(demo_runs.first.record, json.loads((variant / "trace" / "run.json").read_text()))
    assert not result["same"]
    assert result["counts"]["edges_added"] == result["counts"]["edges_removed"] == 0
    moved = {m["function"] for m in result["moved"]}
    assert MOVED in moved
    assert {t["key"] for t in result["taps"]} == {"save.manifest"}
    with_lines = diff_records(
        demo_runs.first.record, json.loads((variant / "trace" / "run.json").read_text()), lines=True
    )
    assert any(e["callee"] == MOVED for e in with_lines["edges"]["added"])


def test_bad_input_is_one_message_and_exit_2(demo_runs, tmp_path):
    done = callchain("diff", str(demo_runs.first.report), str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: no trace/run.json in {tmp_path}")
    assert "Traceback" not in done.stderr and done.stdout == ""
    broken = tmp_path / "run.json"
    broken.write_text("{not json")
    done = callchain("diff", str(broken), str(demo_runs.first.report))
    assert done.returncode == 2 and "is not valid JSON" in done.stderr and "Traceback" not in done.stderr
    broken.write_text('{"calls": 3}')
    done = callchain("diff", str(broken), str(demo_runs.first.report))
    assert done.returncode == 2 and "not a callchain run record" in done.stderr


# -- diff_records on edited copies of one record (no extra traced runs) ----------------------


@pytest.fixture
def pair(demo_run):
    return demo_run.record, copy.deepcopy(demo_run.record)


def test_identical_records(pair):
    a, b = pair
    result = diff_records(a, b, lines=True, sizes=True)
    assert result["same"]
    assert "no differences in the call chain" in render_text(result)


def test_edges_compare_by_names_unless_lines(pair):
    a, b = pair
    edge = next(e for e in b["edges"] if e["call_site"])
    edge["call_site"] = edge["call_site"].rsplit(":", 1)[0] + ":9999"
    assert diff_records(a, b)["same"]
    result = diff_records(a, b, lines=True)
    assert [e["call_site"] for e in result["edges"]["added"]] == [edge["call_site"]]
    assert len(result["edges"]["removed"]) == 1


def test_an_edge_removed_is_named_once_by_its_functions(pair):
    a, b = pair
    pairs = [(e["caller"], e["callee"]) for e in b["edges"]]
    edge = next(e for e in b["edges"] if pairs.count((e["caller"], e["callee"])) == 1)
    b["edges"].remove(edge)
    removed = [(e["caller"], e["callee"]) for e in diff_records(a, b)["edges"]["removed"]]
    assert removed == [(edge["caller"], edge["callee"])]


def test_an_edge_still_present_at_another_line_is_not_removed_by_name(pair):
    a, b = pair
    pairs = [(e["caller"], e["callee"]) for e in b["edges"]]
    twice = [e for e in b["edges"] if pairs.count((e["caller"], e["callee"])) > 1]
    assert twice, "the demo has a caller → callee pair at two call sites"
    b["edges"].remove(twice[0])
    assert diff_records(a, b)["edges"]["removed"] == []


def test_functions_only_on_one_side(pair):
    a, b = pair
    gone = b["calls"][-1]["function"]
    b["calls"] = [c for c in b["calls"] if c["function"] != gone]
    result = diff_records(a, b)
    assert [f["function"] for f in result["functions"]["only_a"]] == [gone]
    assert result["functions"]["only_b"] == []
    assert f"functions only in A (1):\n  {gone}" in render_text(result)


def test_config_and_tap_status(pair):
    a, b = pair
    change = b["config"]["changes"][0]
    change["new"] = "12345"
    hit = b["tap_hits"][0]
    b["tap_hits"][0] = {k: v for k, v in hit.items() if k != "value"} | {"status": "error", "error": "KeyError: 'x'"}
    result = diff_records(a, b)
    assert [r["new"] for r in result["config"]["only_b"]] == ["12345"]
    assert len(result["config"]["only_a"]) == 1
    tap = next(t for t in result["taps"] if t["key"] == hit["key"])
    assert tap["a"] == {"hit": hit["value"]} and tap["b"] == {"error": "KeyError: 'x'"}
    text = render_text(result)
    assert f"[{change['phase']}] {change['key']} {change['op']}: {change['old']} → 12345" in text
    assert "B: error: KeyError: 'x'" in text


def test_archive_names_and_sizes(pair):
    a, b = pair
    members = b["archive_description"]["members"]
    dropped = members.pop(0)
    members[0]["size"] += 1
    result = diff_records(a, b)
    assert result["archive"]["only_a"] == [dropped["name"]] and result["archive"]["sizes"] == []
    sized = diff_records(a, b, sizes=True)
    assert sized["archive"]["sizes"] == [
        {"name": members[0]["name"], "a": members[0]["size"] - 1, "b": members[0]["size"]}
    ]
    b["archive_description"] = None
    result = diff_records(a, b)
    assert result["archive"]["present"] == {"a": True, "b": False}
    assert "archive produced only by A" in render_text(result)


def test_library_calls_added_and_removed_by_function_and_callee(pair):
    a, b = pair
    assert a["library_calls"], "the demo run makes library calls"
    dropped = b["library_calls"].pop(0)
    b["library_calls"].append(dict(dropped, callee="shutil:rmtree", count=1))
    moved = dict(b["library_calls"][0])
    b["library_calls"][0] = dict(moved, at=(moved["at"] or "x.py:1").rsplit(":", 1)[0] + ":9999", count=7)
    result = diff_records(a, b)
    assert result["library"]["added"] == [{"function": dropped["function"], "callee": "shutil:rmtree"}]
    still_called = any(
        r["function"] == dropped["function"] and r["callee"] == dropped["callee"] for r in b["library_calls"]
    )
    assert result["library"]["removed"] == (
        [] if still_called else [{"function": dropped["function"], "callee": dropped["callee"]}]
    )
    text = render_text(result)
    assert f"{dropped['function']} → shutil:rmtree" in text and "library call" in text
    assert len(diff_records(a, b, lines=True)["library"]["added"]) >= 2  # the moved line counts with --lines


def test_a_recipe_fact_that_moved_is_reported(demo_runs):
    """The first screen's facts: a member read back at another line shows with --lines, and a
    member whose contents changed shows always."""
    moved = copy.deepcopy(demo_runs.first.record)
    read = next(
        s
        for s in moved["sinks"]
        if s["op"] == "read" and s["phase"] == "load" and s["path"].endswith("/autoencoder/params.dill")
    )
    read["by"] = "ptycho/model_manager.py:999"
    assert diff_records(demo_runs.first.record, moved)["same"]  # line numbers are not compared by default
    result = diff_records(demo_runs.first.record, moved, lines=True)
    assert [(r["member"], r["fact"]) for r in result["recipe"]] == [("autoencoder/params.dill", "readers")]
    assert "archive recipe facts that differ (1):" in render_text(result)
    changed = copy.deepcopy(demo_runs.first.record)
    changed["archive_description"]["models"]["autoencoder"]["params_keys"].append("extra")
    facts = {(r["member"], r["fact"]) for r in diff_records(demo_runs.first.record, changed)["recipe"]}
    assert ("autoencoder/params.dill", "holds") in facts
