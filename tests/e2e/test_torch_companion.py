"""`callchain trace --torch-python PY` on the checkout named by PTYCHO_ROOT: the TensorFlow run,
then the torch-persistence run into `<report>/torch/`, then summary.md with the PyTorch side as run.

Skipped without PTYCHO_ROOT or without a torch interpreter (`.venv-torch/bin/python`, or
CALLCHAIN_TORCH_PYTHON, found as tests/e2e/test_torch_persistence.py finds it). One run of both
scenarios (about 4 minutes here) serves every test; each fact of the section is checked against
the PyTorch run's own record.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import callchain, load_run, report_of
from firstscreen_checks import recipe_table
from test_torch_persistence import HAS_TORCH, ROOT, TORCH_PYTHON

from harness.static.verdicts import _writer

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


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    out = tmp_path_factory.mktemp("companion-out")
    root = str(Path(ROOT).expanduser().resolve())
    done = callchain("trace", "--root", root, "--torch-python", TORCH_PYTHON, "--out", str(out), timeout=3600)
    assert done.returncode == 0, done.stderr
    report = report_of(done)
    record = load_run(report)
    torch_report = report / record["companion"]["report"]
    return {"done": done, "report": report, "record": record, "torch": load_run(torch_report)}


def test_the_pytorch_run_lands_beside_the_report_and_is_named_in_its_record(both):
    assert both["record"]["companion"]["problem"] is None
    assert both["record"]["companion"]["report"].startswith("torch/")
    assert both["torch"]["scenario"]["name"] == "torch-persistence" and both["torch"]["status"] == "ok"
    assert both["torch"]["target"]["root"] == both["record"]["target"]["root"]


def test_the_recipe_names_the_line_that_wrote_each_member_in_the_pytorch_run(both):
    summary = (both["report"] / "summary.md").read_text()
    rows = {r["Member"].split("`")[1]: r for r in recipe_table(summary)}
    torch_members = [m["name"] for m in both["torch"]["archive_description"]["members"]]
    shared = [m for m in torch_members if m in rows]
    assert "manifest.dill" in shared
    for member in shared:
        assert rows[member]["PyTorch run: written at"] == f"`{_writer(both['torch'], member).split(' ')[0]}`"


def test_the_section_shows_the_members_the_parity_and_the_run_judged_verdicts(both):
    summary = (both["report"] / "summary.md").read_text()
    section = summary[summary.index("## PyTorch side, as run") : summary.index("## PyTorch delta")]
    for member in both["torch"]["archive_description"]["members"]:
        assert f"| `{member['name']}` |" in section
    assert "**Parity**" in section and "| **✗** | `manifest.backend` |" in section
    for clause in both["torch"]["spec"]["clauses"]:
        if any(e.get("source") == "run" for e in clause["evidence"]) and "MLflow" in clause["text"]:
            assert f"`{clause['anchor']}` {clause['level']}: {clause['text']} — **{clause['verdict']}**" in section
    assert "*cross-backend*" in section and "*tracking*" in section
