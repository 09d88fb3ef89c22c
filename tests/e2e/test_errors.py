"""Bad input: one plain message, a non-zero exit, and what was recorded kept and marked partial."""

from __future__ import annotations

import pytest
from helpers import body, manager_source, tiny_target
from tracing import start, stop, trace, wait_for

pytestmark = pytest.mark.slow  # every test here traces in a subprocess


def test_tiny_target_runs_and_records_gaps(tmp_path):
    record = trace(tiny_target(tmp_path / "target"), tmp_path / "out").ok().record
    gaps = [gap for process in record["processes"] for gap in process["gaps"]]
    assert {
        "phase": "load",
        "missing": "workflows.components.load_inference_bundle",
        "used": "ModelManager.load_multiple_models",
    } in gaps
    functions = [c["function"] for c in record["calls"]]
    assert "ptycho.model_manager:ModelManager.load_multiple_models" in functions


def test_wrong_root(tmp_path):
    trace(tmp_path / "missing", tmp_path / "out").fails(2, "does not exist", "fix: pass --root")
    assert not (tmp_path / "out").exists()


def test_root_without_package(tmp_path):
    (tmp_path / "empty").mkdir()
    trace(tmp_path / "empty", tmp_path / "out").fails(2, "no 'ptycho' package")


def test_target_that_fails_to_import(tmp_path):
    root = tiny_target(tmp_path / "target", {"ptycho/model.py": "import not_a_real_dependency_xyz\n"})
    run = trace(root, tmp_path / "out")
    run.fails(3, "failed to import", "not_a_real_dependency_xyz", "ptycho/model.py:1", "install")
    record = run.record
    assert record["status"] in ("partial", "failed")
    assert record["errors"][0]["phase"] == "import"


def test_namespace_that_matches_nothing(tmp_path):
    root = tiny_target(tmp_path / "target")
    run = trace(root, tmp_path / "out", "--namespace", "ptycho.nothing")
    run.fails(3, "'ptycho.nothing' matched no call", "--namespace")


def test_a_misspelt_namespace_on_a_target_whose_load_raises_names_both(tmp_path):
    """Several problems at once: each named, the likely cause first, and no claim of calls
    that were not kept."""
    manager = manager_source().replace("        return {}", "        raise ValueError('cannot load')")
    root = tiny_target(tmp_path / "target", {"ptycho/model_manager.py": manager})
    run = trace(root, tmp_path / "out", "--namespace", "ptychoo", "--no-fresh-load")
    run.fails(3, "the namespace 'ptychoo' matched no call", "no module 'ptychoo' under", "check --namespace")
    lines = run.stderr.splitlines()
    assert lines[0].startswith("error: the namespace 'ptychoo'")
    assert (
        lines[2] == "  also: the scenario raised ValueError: cannot load in phase 'load' at ptycho/model_manager.py:11"
    )
    assert "no call of the namespace 'ptychoo' was kept before it" in lines[3]
    assert "dynamic.txt" not in run.stderr
    assert run.record["status"] == "failed" and [p["problem"] for p in run.record["failure"]["also"]] == [lines[2][8:]]
    for name in ("summary.md", "callchain/static.md"):
        assert "> Also: the scenario raised ValueError: cannot load" in run.text(name)
    assert body(run.text("callgraph/dynamic.txt"))[-1].startswith("[also: the scenario raised ValueError")


def test_scenario_that_raises(tmp_path):
    root = tiny_target(
        tmp_path / "target",
        {
            "ptycho/model.py": """
        def create_model_with_gridsize(gridsize, N):
            raise ValueError("boom: no model today")
    """
        },
    )
    run = trace(root, tmp_path / "out").fails(3, "ValueError: boom", "phase 'build'", "ptycho/model.py:3")
    assert run.record["status"] == "partial"
    dynamic = run.text("callgraph/dynamic.txt")
    assert "# status: partial" in dynamic
    lines = body(dynamic)
    assert "ptycho.model:create_model_with_gridsize" in "\n".join(lines)
    assert lines[-1].startswith("[incomplete: the run stopped here")


# A build phase that never returns: create_model_with_gridsize is defined at ptycho/model.py:4
# and sleeps at line 6.
HANGS = {
    "ptycho/model.py": """
    import time

    def create_model_with_gridsize(gridsize, N):
        while True:
            time.sleep(0.1)
"""
}


def test_scenario_that_hangs(tmp_path):
    root = tiny_target(tmp_path / "target", HANGS)
    run = trace(root, tmp_path / "out", "--timeout", "4")
    run.fails(3, "did not finish within 4 s", "ptycho/model.py:4", "--timeout")
    record = run.record
    assert record["status"] == "partial"
    assert record["calls"][-1]["function"] == "ptycho.model:create_model_with_gridsize"
    assert record["calls"][-1]["returned"] is None
    # where it hung, not only that it did: the stack of every thread at the stop
    model = str(root / "ptycho" / "model.py").replace(str(root), "<root>")
    assert f"{model}, line 6 in create_model_with_gridsize" in run.stderr
    stacks = record["processes"][0]["stacks"]
    assert "most recent call first" in stacks and f'File "{model}", line 6 in create_model_with_gridsize' in stacks
    summary = run.text("summary.md")
    assert "Every thread of process `cycle` when it was stopped" in summary and stacks in summary


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    root = tiny_target(tmp_path / "target")
    trace(root, blocker / "out").fails(2, "cannot write to the output folder", "--out")


def test_torch_import_is_blocked_despite_a_torch_folder(tmp_path):
    root = tiny_target(
        tmp_path / "target",
        {
            "torch/__init__.py": "",
            "ptycho/model.py": "import torch\n\ndef create_model_with_gridsize(g, N):\n    return 1, 2\n",
        },
    )
    trace(root, tmp_path / "out").fails(3, "blocked 'import torch'", "ptycho/model.py:1", "torch-free")


def test_optional_torch_import_is_recorded_not_fatal(tmp_path):
    root = tiny_target(
        tmp_path / "target",
        {
            "torch/__init__.py": "",
            "ptycho/probe.py": "try:\n    import torch\nexcept ImportError:\n    torch = None\n\ndef set_default_probe():\n    pass\n",
        },
    )
    env = trace(root, tmp_path / "out").ok().env
    assert env["torch"]["imported"] == []
    assert {"module": "torch", "importer": "ptycho/probe.py:2"} in env["torch"]["blocked_imports"]


def test_target_files_unchanged_and_nothing_added(tmp_path):
    from harness.static.target import fingerprint

    root = tiny_target(tmp_path / "target")
    before = fingerprint(root)
    trace(root, tmp_path / "out").ok()
    assert fingerprint(root)["digests"] == before["digests"]


def test_interrupt_stops_the_traced_process_and_keeps_the_report(tmp_path):
    import signal
    import subprocess

    root = tiny_target(tmp_path / "target", HANGS)
    out = tmp_path / "out"
    process = start(root, out)
    wait_for(out, "*/reports/*/*/trace/events-cycle.jsonl", "create_model_with_gridsize")  # the build phase
    run = stop(process, signal.SIGINT, out)
    assert run.code == 130, run.stderr
    assert "interrupted" in run.stderr and "Traceback" not in run.stderr
    assert run.record["status"] == "partial"
    config = next(out.glob("*/scratch/*/child-cycle.json"))
    survivors = subprocess.run(["pgrep", "-f", str(config)], capture_output=True, text=True).stdout.split()
    assert survivors == []


def test_a_relative_python_path_is_taken_from_the_users_folder(tmp_path):
    """The traced processes run in other folders, so `--python .venv/bin/python` must not be
    looked up there (it was: a FileNotFoundError traceback from the scenario probe)."""
    import os
    import sys

    from conftest import REPO

    root = tiny_target(tmp_path / "target")
    relative = os.path.relpath(sys.executable, REPO)
    assert trace(root, tmp_path / "out", "--python", relative).ok().record["status"] == "ok"
    missing = trace(root, tmp_path / "out", "--python", "no/such/python")
    assert missing.code == 2 and "Traceback" not in missing.stderr and "no/such/python" in missing.stderr


ALLOWING = '''
"""Import the target's torch stand-in."""

def use(ctx):
    import torch
    import ptycho.model
    ctx.value = torch.VALUE

PHASES = [("use", use)]
{allows}
'''


@pytest.mark.parametrize("allows", ["", "ALLOWS_TORCH = True"])
def test_only_a_scenario_that_declares_it_runs_with_torch_allowed(tmp_path, allows):
    """A stand-in `torch` package in the target: refused for a scenario that does not declare
    `ALLOWS_TORCH = True` (exit 3, as for every TensorFlow scenario), run when it does, and the
    report says so in summary.md's header and env/trace_env.json."""
    root = tiny_target(tmp_path / "target", {"torch/__init__.py": "VALUE = 1\n"})
    scenario = tmp_path / "scenario.py"
    scenario.write_text(ALLOWING.format(allows=allows))
    run = trace(root, tmp_path / "out", "--scenario", str(scenario))
    if not allows:
        run.fails(3, "blocked 'import torch'")
        assert run.env["torch"]["allowed"] is False
        assert "Torch allowed" not in run.text("summary.md")
        return
    run.ok()
    assert run.env["torch"]["allowed"] is True and run.env["torch"]["blocked_imports"] == []
    assert "**Torch allowed.**" in run.text("summary.md")
    assert "torch allowed" in run.text("callchain/static.md")
