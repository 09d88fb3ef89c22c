"""The PyTorch side run for real: `callchain trace --scenario torch-persistence` on the checkout
named by PTYCHO_ROOT (main or torchapi-devel), with the torch environment `make torch-env` builds.

Skipped without PTYCHO_ROOT or without a torch interpreter (`.venv-torch/bin/python`, or
CALLCHAIN_TORCH_PYTHON). One traced run (about 2 minutes here) serves every test. The harness
process runs under a finder that records every attempt to import the PyTorch stack or
TensorFlow, with the torch environment's site-packages on its path (so such an import could
succeed): callchain stays torch-free when the traced process runs torch.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, load_run

from harness.static.target import fingerprint

ROOT = os.environ.get("PTYCHO_ROOT")
TORCH_PYTHON = os.environ.get("CALLCHAIN_TORCH_PYTHON") or str(REPO / ".venv-torch" / "bin" / "python")
HAS_TORCH = Path(TORCH_PYTHON).is_file()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.torch,
    pytest.mark.skipif(
        not ROOT, reason="PTYCHO_ROOT is not set: point it at a PtychoPINN checkout (main or torchapi-devel)"
    ),
    pytest.mark.skipif(
        not HAS_TORCH,
        reason=f"no torch environment at {TORCH_PYTHON}: run `make torch-env` (or set CALLCHAIN_TORCH_PYTHON)",
    ),
]
WATCHED = ("torch", "lightning", "pytorch_lightning", "mlflow", "tensorflow", "keras", "dill")
# Runs the real command line in this (callchain's) interpreter, with a finder that records every
# attempt to import what callchain must never import; writes them and sys.modules' matches as JSON.
HARNESS = """
import json, sys
WATCHED, result = tuple(sys.argv[2].split(",")), sys.argv[1]
asked = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in WATCHED:
            asked.append(name)
        return None
sys.meta_path.insert(0, Watch())
sys.path.extend(sys.argv[3].split(":"))  # the torch environment's packages: importable, were anything to ask
from harness.cli import main
try:
    code = main(sys.argv[4:])
except SystemExit as stop:
    code = stop.code
finally:
    loaded = sorted(n for n in sys.modules if n.split(".", 1)[0] in WATCHED)
    json.dump({"asked": asked, "loaded": loaded}, open(result, "w"))
sys.exit(code)
"""


def _torch_site_packages() -> str:
    done = subprocess.run(
        [TORCH_PYTHON, "-c", "import site; print(':'.join(site.getsitepackages()))"], capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    root = Path(ROOT).expanduser().resolve()
    out = tmp_path_factory.mktemp("torch-out")
    watched = out / "harness-imports.json"
    before = fingerprint(root)
    args = [
        "trace",
        "--root",
        str(root),
        "--scenario",
        "torch-persistence",
        "--python",
        TORCH_PYTHON,
        "--out",
        str(out),
    ]
    done = subprocess.run(
        [sys.executable, "-c", HARNESS, str(watched), ",".join(WATCHED), _torch_site_packages(), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        timeout=1800,
    )
    after = fingerprint(root)
    report = Path(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    return {"root": root, "done": done, "before": before, "after": after, "report": report, "imports": watched}


def test_the_run_exits_0(torch_run):
    assert torch_run["done"].returncode == 0, torch_run["done"].stderr


def test_the_harness_process_never_imports_torch(torch_run):
    imports = json.loads(torch_run["imports"].read_text())
    assert imports == {"asked": [], "loaded": []}


def test_the_target_tree_is_unchanged(torch_run):
    assert torch_run["before"]["digests"] == torch_run["after"]["digests"]
    assert load_run(torch_run["report"])["evidence_only"]["changes"] == []


def _def_line(root: Path, path: str, name: str) -> int:
    tree = ast.parse((root / path).read_text())
    return next(n.lineno for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def test_save_load_and_training_entry_are_in_dynamic_txt_at_their_def_lines(torch_run):
    root, text = torch_run["root"], (torch_run["report"] / "callgraph" / "dynamic.txt").read_text()
    wanted = {
        "ptycho_torch.model_manager:save_torch_bundle": "ptycho_torch/model_manager.py",
        "ptycho_torch.model_manager:load_torch_bundle": "ptycho_torch/model_manager.py",
        "ptycho_torch.workflows.components:run_cdi_example_torch": "ptycho_torch/workflows/components.py",
    }
    for function, path in wanted.items():
        line = _def_line(root, path, function.split(":")[1])
        assert re.search(rf"^\s*{re.escape(function)}  {re.escape(path)}:{line}\b", text, re.M), function


def test_the_report_says_torch_was_allowed(torch_run):
    report = torch_run["report"]
    summary = (report / "summary.md").read_text()
    assert "**Torch allowed.**" in summary and "`ptycho_torch`:" in summary and "`ptycho`:" in summary
    env = json.loads((report / "env" / "trace_env.json").read_text())
    assert env["torch"]["allowed"] is True and env["packages"]["torch"]


def test_every_file_the_run_wrote_is_in_scratch_and_in_sinks(torch_run):
    record = load_run(torch_run["report"])
    paths = {sink["path"] for sink in record["sinks"]}
    assert all(path.startswith("<scratch>") for path in paths), sorted(
        p for p in paths if not p.startswith("<scratch>")
    )
    assert "<scratch>/out/wts.h5.zip" in paths
    trained = not any(g["phase"] == "train" for p in record["processes"] for g in p["gaps"])
    if trained:  # torchapi-devel's training raises before Lightning writes (a gap): nothing under train/ then
        assert any(p.startswith("<scratch>/out/train/checkpoints/") for p in paths)  # Lightning's default_root_dir


def test_the_two_clauses_have_run_backed_verdicts(torch_run):
    record = load_run(torch_run["report"])
    found = {f["kind"]: f for p in record["processes"] for f in p.get("findings") or []}
    assert {"tracking", "cross-backend"} <= set(found)
    clauses = record["spec"]["clauses"]
    cross = next(c for c in clauses if "archived backend" in c["text"])
    tracking = next(c for c in clauses if re.search(r"require\w* MLflow|depend\w* on experiment tracking", c["text"]))
    assert cross["verdict"] in ("holds", "broken") and tracking["verdict"] in ("holds", "broken")
    assert all(e["source"] == "run" for e in cross["evidence"] + tracking["evidence"])
    cross_findings = [f for p in record["processes"] for f in p.get("findings") or [] if f["kind"] == "cross-backend"]
    descriptive = all(f["raised"] and f["names_archived_backend"] for f in cross_findings)
    assert cross["verdict"] == ("holds" if descriptive else "broken")
