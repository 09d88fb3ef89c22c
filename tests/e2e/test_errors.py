"""Bad input: one plain message, a non-zero exit, and what was recorded kept and marked partial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import callchain, load_run
from helpers import body, tiny_target

pytestmark = pytest.mark.slow  # every test here traces in a subprocess


def _report_from_message(stderr: str) -> Path:
    line = next(text for text in stderr.splitlines() if "report (partial):" in text)
    return Path(line.split("report (partial):", 1)[1].strip())


def _assert_plain(done, code: int, *phrases: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    for phrase in phrases:
        assert phrase in done.stderr, (phrase, done.stderr)


def test_tiny_target_runs_and_records_gaps(tmp_path):
    root = tiny_target(tmp_path / "target")
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    record = load_run(Path(done.stdout.strip().splitlines()[-1]))
    gaps = [gap for process in record["processes"] for gap in process["gaps"]]
    assert {
        "phase": "load",
        "missing": "workflows.components.load_inference_bundle",
        "used": "ModelManager.load_multiple_models",
    } in gaps
    functions = [c["function"] for c in record["calls"]]
    assert "ptycho.model_manager:ModelManager.load_multiple_models" in functions


def test_wrong_root(tmp_path):
    done = callchain("trace", "--root", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    _assert_plain(done, 2, "does not exist", "fix: pass --root")
    assert not (tmp_path / "out").exists()


def test_root_without_package(tmp_path):
    (tmp_path / "empty").mkdir()
    done = callchain("trace", "--root", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    _assert_plain(done, 2, "no 'ptycho' package")


def test_target_that_fails_to_import(tmp_path):
    root = tiny_target(tmp_path / "target", {"ptycho/model.py": "import not_a_real_dependency_xyz\n"})
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"))
    _assert_plain(done, 3, "failed to import", "not_a_real_dependency_xyz", "ptycho/model.py:1", "install")
    record = load_run(_report_from_message(done.stderr))
    assert record["status"] in ("partial", "failed")
    assert record["errors"][0]["phase"] == "import"


def test_namespace_that_matches_nothing(tmp_path):
    root = tiny_target(tmp_path / "target")
    done = callchain("trace", "--root", str(root), "--namespace", "ptycho.nothing", "--out", str(tmp_path / "out"))
    _assert_plain(done, 3, "'ptycho.nothing' matched no call", "--namespace")


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
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"))
    _assert_plain(done, 3, "ValueError: boom", "phase 'build'", "ptycho/model.py:3")
    report = _report_from_message(done.stderr)
    record = load_run(report)
    assert record["status"] == "partial"
    dynamic = (report / "callgraph" / "dynamic.txt").read_text()
    assert "# status: partial" in dynamic
    lines = body(dynamic)
    assert "ptycho.model:create_model_with_gridsize" in "\n".join(lines)
    assert lines[-1].startswith("[incomplete: the run stopped here")


def test_scenario_that_hangs(tmp_path):
    root = tiny_target(
        tmp_path / "target",
        {
            "ptycho/model.py": """
        import time

        def create_model_with_gridsize(gridsize, N):
            while True:
                time.sleep(0.1)
    """
        },
    )
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"), "--timeout", "4")
    _assert_plain(done, 3, "did not finish within 4 s", "ptycho/model.py:4", "--timeout")
    record = load_run(_report_from_message(done.stderr))
    assert record["status"] == "partial"
    assert record["calls"][-1]["function"] == "ptycho.model:create_model_with_gridsize"
    assert record["calls"][-1]["returned"] is None
    # where it hung, not only that it did: the stack of every thread at the stop
    model = str(root / "ptycho" / "model.py").replace(str(root), "<root>")
    assert f"{model}, line 6 in create_model_with_gridsize" in done.stderr
    stacks = record["processes"][0]["stacks"]
    assert "most recent call first" in stacks and f'File "{model}", line 6 in create_model_with_gridsize' in stacks
    summary = (_report_from_message(done.stderr) / "summary.md").read_text()
    assert "Every thread of process `cycle` when it was stopped" in summary and stacks in summary


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    root = tiny_target(tmp_path / "target")
    done = callchain("trace", "--root", str(root), "--out", str(blocker / "out"))
    _assert_plain(done, 2, "cannot write to the output folder", "--out")


def test_torch_import_is_blocked_despite_a_torch_folder(tmp_path):
    root = tiny_target(
        tmp_path / "target",
        {
            "torch/__init__.py": "",
            "ptycho/model.py": "import torch\n\ndef create_model_with_gridsize(g, N):\n    return 1, 2\n",
        },
    )
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"))
    _assert_plain(done, 3, "blocked 'import torch'", "ptycho/model.py:1", "torch-free")


def test_optional_torch_import_is_recorded_not_fatal(tmp_path):
    root = tiny_target(
        tmp_path / "target",
        {
            "torch/__init__.py": "",
            "ptycho/probe.py": "try:\n    import torch\nexcept ImportError:\n    torch = None\n\ndef set_default_probe():\n    pass\n",
        },
    )
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    report = Path(done.stdout.strip().splitlines()[-1])
    env = json.loads((report / "env" / "trace_env.json").read_text())
    assert env["torch"]["imported"] == []
    assert {"module": "torch", "importer": "ptycho/probe.py:2"} in env["torch"]["blocked_imports"]


def test_target_files_unchanged_and_nothing_added(tmp_path):
    from harness.static.target import fingerprint

    root = tiny_target(tmp_path / "target")
    before = fingerprint(root)
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert fingerprint(root)["digests"] == before["digests"]


def test_interrupt_stops_the_traced_process_and_keeps_the_report(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    root = tiny_target(
        tmp_path / "target",
        {
            "ptycho/model.py": """
        import time

        def create_model_with_gridsize(gridsize, N):
            while True:
                time.sleep(0.1)
    """
        },
    )
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "trace", "--root", str(root), "--out", str(out)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    events = None
    for _ in range(100):
        found = list(out.glob("*/reports/*/*/trace/events-cycle.jsonl"))
        if found and "create_model_with_gridsize" in found[0].read_text():
            events = found[0]
            break
        time.sleep(0.1)
    assert events is not None, "the traced process never reached the build phase"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    record = load_run(_report_from_message(stderr))
    assert record["status"] == "partial"
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
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"), "--python", relative)
    assert done.returncode == 0, done.stderr
    assert load_run(Path(done.stdout.strip().splitlines()[-1]))["status"] == "ok"
    missing = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"), "--python", "no/such/python")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "no/such/python" in missing.stderr
