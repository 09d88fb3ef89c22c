"""Integration: the real PtychoPINN checkout named by PTYCHO_ROOT (skipped without it).

PtychoPINN's code is never part of this repository; point PTYCHO_ROOT at a checkout
(any branch: main, torchapi-devel, refactor) and install the 'ptychopinn' extra.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
from conftest import callchain, load_run, report_of
from firstscreen_checks import (
    FIRST_SCREEN_LINES,
    check_anchor_kinds,
    check_recipe_anchors,
    facts_from_record,
    facts_from_summary,
    first_screen,
    recipe_table,
    shim_rows,
)
from helpers import call_lines

from harness.static.target import fingerprint

ROOT = os.environ.get("PTYCHO_ROOT")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ROOT, reason="PTYCHO_ROOT is not set: point it at a PtychoPINN checkout to run the real-target tests"
    ),
]
ANCHOR = re.compile(r"((?:ptycho|ptycho_torch)/[\w/.\-]+\.py):(\d+)")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    root = Path(ROOT).expanduser().resolve()
    before = fingerprint(root)
    out = tmp_path_factory.mktemp("real-out")
    done = callchain("trace", "--root", str(root), "--out", str(out), timeout=1800)
    after = fingerprint(root)
    return root, done, before, after


def _def_line(root: Path, path: str, qualname: str) -> int:
    tree = ast.parse((root / path).read_text())
    parts = qualname.split(".")
    nodes = tree.body
    for part in parts:
        node = next(
            n for n in nodes if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and n.name == part
        )
        nodes = node.body
    return node.lineno


def test_run_succeeds(real):
    _, done, _, _ = real
    assert done.returncode == 0, done.stderr


def test_entry_points_are_anchored_at_their_def_lines(real):
    root, done, _, _ = real
    record = load_run(report_of(done))
    wanted = {
        "ptycho.model_manager:ModelManager.save_multiple_models": "ptycho/model_manager.py",
        "ptycho.model_manager:ModelManager.load_multiple_models": "ptycho/model_manager.py",
        "ptycho.workflows.components:load_inference_bundle": "ptycho/workflows/components.py",
    }
    for function, path in wanted.items():
        call = next(c for c in record["calls"] if c["function"] == function)
        assert call["path"] == path
        assert call["line"] == _def_line(root, path, function.split(":")[1])


def test_every_anchor_resolves(real):
    root, done, _, _ = real
    report = report_of(done)
    for name in (
        "callgraph/dynamic.txt",
        "callchain/static.md",
        "summary.md",
        "trace/tap_points.md",
        "callchain/diagram.mmd",
    ):
        for path, line in ANCHOR.findall((report / name).read_text()):
            lines = (root / path).read_text().splitlines()
            if line == "1":  # a module body; an empty __init__.py has no line to show
                continue
            assert int(line) <= len(lines) and lines[int(line) - 1].strip(), f"{name}: {path}:{line}"
    for match in call_lines((report / "callgraph/dynamic.txt").read_text()):
        anchor = match.group("anchor")
        if anchor.startswith("("):
            continue
        path, line = anchor.rsplit(":", 1)
        if line == "1":
            continue
        text = (root / path).read_text().splitlines()[int(line) - 1].lstrip()
        name = match.group("function").rsplit(".", 1)[-1]
        if name in ("<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>"):
            assert " for " in text, anchor  # a comprehension is anchored at its own line
        elif name == "<lambda>":
            assert "lambda" in text, anchor
        else:
            assert text.startswith(("def ", "async def ", "class ")), anchor


def test_tree_unchanged(real):
    _, _, before, after = real
    assert before["digests"] == after["digests"]


def test_summary_names_the_contract(real):
    _, done, _, _ = real
    summary = (report_of(done) / "summary.md").read_text()
    for word in (
        "manifest.dill",
        "params.dill",
        "model.keras",
        "model.h5",
        "intensity_scale",
        "contract check: **ok**",
    ):
        assert word in summary, word
    assert re.search(r"`ptycho_torch/[\w/]+\.py:\d+`", summary)
    record = load_run(report_of(done))
    assert record["archive_description"]["exit_code"] == 0


def test_generated_code_has_no_invented_anchor(real):
    _, done, _, _ = real
    record = load_run(report_of(done))
    for call in record["calls"]:
        if call["path"] is None:
            assert call["anchor"] is None and call["line"] is None


def test_inspect_accepts_the_real_archive(real):
    _, done, _, _ = real
    inspected = callchain("inspect", load_run(report_of(done))["archive"])
    assert inspected.returncode == 0, inspected.stdout + inspected.stderr
    described = json.loads(callchain("inspect", "--json", load_run(report_of(done))["archive"]).stdout)
    assert described["warnings"] == [] and described["problems"] == []
    assert all(p["hazards"] == [] for p in described["pickles"].values())


def test_static_md_cites_the_spec_clauses_with_archive_backed_verdicts(real):
    root, done, _, _ = real
    static = (report_of(done) / "callchain/static.md").read_text()
    part = static[static.index("## Spec Clauses") : static.index("## 1. Analysis Question")]
    spec = root / "specs" / "ptychodus_api_spec.md"
    if not spec.is_file():
        pytest.skip("this checkout has no specs/ptychodus_api_spec.md")
    lines = spec.read_text().splitlines()
    for words, check in (
        ("canonical base name `wts.h5`", "archive.basename"),
        ("`manifest.dill` at the root", "manifest"),
    ):
        line = next(n for n, text in enumerate(lines, 1) if words in text)
        row = next(r for r in part.splitlines() if f"`specs/ptychodus_api_spec.md:{line}`" in r)
        assert row.endswith("| **holds** |") and f"archive check `{check}" in row and "wts.h5.zip" in row, row
    record = load_run(report_of(done))
    for clause in record["spec"]["clauses"]:
        cited = (root / clause["path"]).read_text().splitlines()[clause["line"] - 1]
        assert clause["text"].split()[0] in cited, clause["anchor"]


# -- `--variant train`: the training path the request names --------------------------------

TRAIN_PATH = {
    "ptycho.workflows.components:run_cdi_example": "ptycho/workflows/components.py",
    "ptycho.workflows.components:train_cdi_model": "ptycho/workflows/components.py",
    "ptycho.model_manager:save": "ptycho/model_manager.py",
    "ptycho.model_manager:ModelManager.save_multiple_models": "ptycho/model_manager.py",
    "ptycho.workflows.components:load_inference_bundle": "ptycho/workflows/components.py",
}


@pytest.fixture(scope="module")
def real_train(tmp_path_factory):
    root = Path(ROOT).expanduser().resolve()
    before = fingerprint(root)
    out = tmp_path_factory.mktemp("real-train-out")
    done = callchain("trace", "--root", str(root), "--out", str(out), "--variant", "train", timeout=1800)
    return root, done, before, fingerprint(root)


def test_train_variant_runs_the_path_at_def_lines(real_train):
    root, done, before, after = real_train
    assert done.returncode == 0, done.stderr
    assert before["digests"] == after["digests"]
    shown = {
        m.group("function"): m.group("anchor")
        for m in call_lines((report_of(done) / "callgraph/dynamic.txt").read_text())
    }
    for function, path in TRAIN_PATH.items():
        assert shown[function] == f"{path}:{_def_line(root, path, function.split(':')[1])}", function


def test_train_variant_says_which_scale_the_archive_carries(real_train):
    _, done, _, _ = real_train
    summary = (report_of(done) / "summary.md").read_text()
    screen = first_screen(summary)
    assert "**Train:**" in summary
    assert "float32 log→exp round trip" in screen or "**Which `intensity_scale` the archive carries:**" in screen
    record = load_run(report_of(done))
    assert any(h["key"] == "train.log_scale" and h["status"] == "hit" for h in record["tap_hits"])


@pytest.mark.parametrize("variant", ["real", "real_train"])
def test_the_first_screen_answers_from_the_record_with_anchors_that_resolve(variant, request):
    """The recipe: one row per member, its facts equal to run.json's, every anchor at the line
    that did it (or the clause's text); the shim table without a memberless row; anchor words."""
    root, done, _, _ = request.getfixturevalue(variant)
    report = report_of(done)
    record = load_run(report)
    summary = (report / "summary.md").read_text()
    assert len(first_screen(summary).splitlines()) <= FIRST_SCREEN_LINES
    members = [m["name"] for m in record["archive_description"]["members"]]
    assert [r["Member"].split("`")[1] for r in recipe_table(summary)][1:] == members
    mine, theirs = facts_from_summary(summary), facts_from_record(record)
    assert set(mine) == set(theirs)
    for member, fact in mine.items():
        assert (fact["writer"], fact["readers"], fact["clauses"]) == (
            theirs[member]["writer"],
            theirs[member]["readers"],
            theirs[member]["clauses"],
        ), member
        assert set(fact["restores"]) <= set(theirs[member]["restores"]), member
    assert check_recipe_anchors(summary, record, root) > 20
    texts = {name: (report / name).read_text() for name in ("summary.md", "callchain/static.md")}
    assert check_anchor_kinds(texts, root) > 0
    rows = shim_rows(summary)
    assert rows and all(r["Archive member"] not in ("", "—") for r in rows)
