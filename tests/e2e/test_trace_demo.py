"""`callchain trace` on the embedded demo: what the report holds, and that it can be trusted."""

from __future__ import annotations

import json

import pytest
from conftest import DEMO
from helpers import body, call_lines, def_lines

pytestmark = pytest.mark.slow  # every test here traces in a subprocess


PHASES = ["import", "setup", "build", "save", "load"]


def dynamic(run) -> str:
    return (run.report / "callgraph" / "dynamic.txt").read_text()


def test_report_folder_layout(demo_run):
    report = demo_run.report
    assert report.name == "phase_d3_callchain"
    assert report.parent.parent.name == "reports"
    assert report.parent.parent.parent.name == "INTEGRATE-PYTORCH-001"
    for name in ("callgraph/dynamic.txt", "env/trace_env.json", "trace/run.json"):
        assert (report / name).is_file(), name
    assert str(report) == demo_run.done.stdout.strip().splitlines()[-1]


def test_dynamic_shows_every_phase_in_order(demo_run):
    markers = [line for line in body(dynamic(demo_run)) if line.startswith("[phase ")]
    names = [m[len("[phase ") :].split(" ")[0].rstrip("]") for m in markers]
    assert names[:5] == PHASES
    assert names[5:] == ["fresh-import", "fresh-load"]


def test_dynamic_holds_the_persistence_chain(demo_run):
    functions = {m.group("function") for m in call_lines(dynamic(demo_run))}
    for wanted in (
        "ptycho.model_manager:ModelManager.save_multiple_models",
        "ptycho.model_manager:ModelManager.save_model",
        "ptycho.workflows.components:load_inference_bundle",
        "ptycho.model_manager:ModelManager.load_multiple_models",
        "ptycho.model_manager:ModelManager.load_model",
        "ptycho.model:create_model_with_gridsize",
    ):
        assert wanted in functions, wanted


def test_keras_callbacks_into_custom_layers_are_kept(demo_run):
    """get_config/__init__ are called by Keras, not by ptycho code: they must still be there,
    attached to the innermost ptycho frame (save_model) at the line that called into Keras."""
    calls = demo_run.record["calls"]
    by_index = {c["i"]: c for c in calls}
    configs = [c for c in calls if c["qualname"].endswith(".get_config") and c["phase"] == "save"]
    inits = [c for c in calls if c["qualname"].endswith(".__init__") and c["path"] and c["phase"] == "build"]
    assert configs and inits
    rebuilt = [c for c in calls if c["qualname"].endswith(".__init__") and c["phase"] == "load" and not c["direct"]]
    assert rebuilt, "Keras deserialisation calls the custom layers' __init__ during load"
    assert all(by_index[c["parent"]]["qualname"] == "ModelManager.load_model" for c in rebuilt)
    for call in configs:
        parent = by_index[call["parent"]]
        assert parent["qualname"] == "ModelManager.save_model"
        source = (DEMO / parent["path"]).read_text().splitlines()[call["call_line"] - 1]
        assert ".save(" in source


def test_every_anchor_is_a_def_line(demo_run):
    checked = 0
    for match in call_lines(dynamic(demo_run)):
        anchor = match.group("anchor")
        if anchor.startswith("("):
            continue
        path, line = anchor.rsplit(":", 1)
        name = match.group("function").split(":", 1)[1].split(".")[-1]
        defs = def_lines(DEMO / path)
        if name == "<module>":
            assert line == "1"
        else:
            assert defs.get(int(line)) == name, f"{anchor} is not the def line of {name}"
        checked += 1
    assert checked > 50


def test_decorated_method_is_anchored_at_def_not_decorator(demo_run):
    call = next(c for c in demo_run.record["calls"] if c["qualname"] == "ModelManager.save_multiple_models")
    lines = (DEMO / call["path"]).read_text().splitlines()
    assert lines[call["line"] - 1].lstrip().startswith("def save_multiple_models")
    assert lines[call["line"] - 2].strip() == "@staticmethod"


def test_call_sites_point_at_the_calling_line(demo_run):
    calls = demo_run.record["calls"]
    by_index = {c["i"]: c for c in calls}
    direct = [c for c in calls if c["qualname"] == "ModelManager.save_model"]
    assert direct
    for call in direct:
        parent = by_index[call["parent"]]
        source = (DEMO / parent["path"]).read_text().splitlines()[call["call_line"] - 1]
        assert "save_model(" in source


def test_two_runs_give_the_same_tree(demo_runs):
    first, second = dynamic(demo_runs.first), dynamic(demo_runs.second)
    assert body(first) == body(second)
    assert demo_runs.first.report != demo_runs.second.report


def test_target_untouched(demo_runs):
    assert demo_runs.before["digests"] == demo_runs.after["digests"]
    for run in (demo_runs.first, demo_runs.second):
        assert run.record["evidence_only"]["changes"] == []
    assert not list(DEMO.rglob("__pycache__"))
    assert not (DEMO / "memoized_data").exists()


def test_nothing_written_outside_out(demo_runs):
    """Every write the run saw is inside its scratch folder (TMPDIR and KERAS_HOME point there)."""
    for run in (demo_runs.first, demo_runs.second):
        for sink in run.record["sinks"]:
            assert sink["path"].startswith("<scratch>"), sink


def test_trace_env(demo_run):
    env = json.loads((demo_run.report / "env" / "trace_env.json").read_text())
    for key in ("python", "platform", "packages", "target", "command", "durations", "events"):
        assert key in env, key
    assert set(env["target"]) >= {"root", "commit", "dirty"}
    assert env["target"]["root"] == str(DEMO)
    assert env["durations"]["total"] > 0 and set(PHASES) <= set(env["durations"])
    assert env["events"]["kept"] == len(demo_run.record["calls"]) > 0
    assert env["events"]["seen"] >= env["events"]["kept"]
    assert env["packages"]["tensorflow"] and env["packages"]["callchain"]
    assert env["torch"]["imported"] == []


def test_run_record_is_plain_data(demo_run):
    record = demo_run.record
    assert record["status"] == "ok" and record["failure"] is None
    assert record["calls"] and record["edges"] and record["phases"]
    assert record["scratch"] and (demo_run.out / "INTEGRATE-PYTORCH-001" / "scratch").is_dir()
    assert record["archive"].endswith("wts.h5.zip")


def test_archive_stays_in_scratch(demo_run):
    from pathlib import Path

    archive = Path(demo_run.record["archive"])
    assert archive.is_file()
    assert not str(archive).startswith(str(demo_run.report))


def test_trainflow_variant_saves_through_module_level_save(tmp_path):
    """The training scripts' path: ptycho.model_manager.save(out) with the float32 round trip."""
    from conftest import traced_demo

    run = traced_demo(tmp_path / "out", "--variant", "trainflow", "--no-fresh-load")
    calls = run.record["calls"]
    save = next(c for c in calls if c["function"] == "ptycho.model_manager:save")
    assert save["depth"] == 0 and save["phase"] == "save"
    inner = [c for c in calls if c["parent"] == save["i"]]
    assert "ptycho.model_manager:ModelManager.save_multiple_models" in {c["function"] for c in inner}
    scale = next(h for h in run.record["tap_hits"] if h["key"] == "save.intensity_scale")
    assert scale["value"] == "988.211669921875"


def _line_of(path: str, snippet: str) -> str:
    lines = (DEMO / path).read_text().splitlines()
    return f"{path}:{next(n for n, line in enumerate(lines, 1) if snippet in line)}"


def test_writes_config_changes_and_library_calls_are_at_their_lines(demo_run):
    record = demo_run.record
    h5 = [s for s in record["sinks"] if s["path"].endswith("/model.h5") and s["native"]]
    assert h5 and all(s["by"].startswith(_line_of("ptycho/model_manager.py", "h5py.File(") + " ") for s in h5)
    update = _line_of("ptycho/model_manager.py", "params.cfg.update(saved_params)")
    loads = [c for c in record["config"]["changes"] if c["phase"] == "fresh-load"]
    assert loads and all(c["at"] == update for c in loads)
    for change in record["config"]["changes"]:  # every anchor resolves to a line of the target
        if change["at"]:
            path, line = change["at"].rsplit(":", 1)
            assert 0 < int(line) <= len((DEMO / path).read_text().splitlines())
    calls = {(r["callee"], r["at"]) for r in record["library_calls"]}
    assert ("h5py._hl.files:File.__init__", _line_of("ptycho/model_manager.py", "h5py.File(")) in calls
    assert any(callee.startswith("dill") for callee, _ in calls)
    static = (demo_run.report / "callchain" / "static.md").read_text()
    assert "### Library calls on the path" in static and f"`{update}`" in static
