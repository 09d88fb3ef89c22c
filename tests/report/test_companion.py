"""summary.md with a companion PyTorch run: the recipe's PyTorch-run columns and § PyTorch side,
as run, checked against the companion record itself; `callchain render --companion`; the
PyTorch run of `trace --torch-python` failing (the TensorFlow report still renders, the Gaps say it).

Both records are built in-process (tests/inprocess.py `rich_record`): the TensorFlow one with a
genuine TensorFlow archive, the companion with the PyTorch archive main's `save_torch_bundle`
writes (tests/fixtures/torch/torch-main: no manifest backend tag, `model.pth`, not a `.ckpt`), sinks naming the lines that wrote each
member, and a tracking clause the run judged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from archive_builders import TORCH_FIXTURES
from firstscreen_checks import recipe_table
from inprocess import rich_record

from harness import cli, torchrun
from harness.errors import HarnessError
from harness.inspect.parity import verdict
from harness.inspect.sandbox import describe_archive
from harness.report.render import render_markdown, render_texts, write_report
from harness.report.views.companion import parity_rows
from harness.runner import Options

TRACKING = "Implementations MUST NOT require MLflow in environments where it is not installed."


def _sinks(members: list[str], file: str) -> list[dict]:
    """A write of each member (and the archive) in the save phase, each by its own line of `file`."""
    names = members + ["wts.h5.zip"]
    return [
        {"op": "write", "phase": "run", "process": "main", "path": f"<scratch>/tmp/<tmp>/{m}", "by": f"{file}:{10 + i}"}
        for i, m in enumerate(names)
    ]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    tf = rich_record(tmp_path_factory.mktemp("tf"))
    tf["sinks"] = _sinks([m["name"] for m in tf["archive_description"]["members"]], "minipkg/manager.py")
    folder = tmp_path_factory.mktemp("torch")
    torch = rich_record(folder)
    archive = TORCH_FIXTURES / "torch-main" / "wts.h5.zip"  # what main's save_torch_bundle writes
    torch["archive_description"] = dict(describe_archive(str(archive)), display_path="<scratch>/out/wts.h5.zip")
    torch["sinks"] = _sinks([m["name"] for m in torch["archive_description"]["members"]], "minipkg_torch/mm.py")
    torch["sinks"].append(
        {
            "op": "write",
            "phase": "run",
            "process": "main",
            "path": "<scratch>/out/ckpt/last.ckpt",
            "by": "minipkg_torch/train.py:7",
        }
    )
    torch["torch_delta"] = dict(torch.get("torch_delta") or {}, package="minipkg_torch")
    torch["scenario"] = dict(torch["scenario"], name="torch-persistence", allows_torch=True)
    run = {
        "source": "run",
        "status": "fail",
        "detail": "load failed with `mlflow` absent",
        "anchor": "minipkg_torch/utils.py:22",
    }
    clause = {"anchor": "docs/spec.md:9", "level": "MUST NOT", "text": TRACKING, "verdict": "broken", "evidence": [run]}
    torch["spec"] = dict(torch["spec"], clauses=[*torch["spec"]["clauses"], clause])
    return tf, torch


def _writer_of(record: dict, member: str) -> str:
    return next(s["by"] for s in record["sinks"] if s["path"].endswith("/" + member))


def test_the_recipe_names_the_pytorch_runs_line_and_what_must_change_per_member(records):
    tf, torch = records
    table = recipe_table(render_texts(tf, torch)["summary.md"])
    by_member = {r["Member"].split("`")[1]: r for r in table}
    torch_members_ = {m["name"] for m in torch["archive_description"]["members"]}
    for member, row in by_member.items():
        cell = row["PyTorch run: written at"]
        if member in torch_members_ or member == "wts.h5.zip":
            assert cell == f"`{_writer_of(torch, member)}`", member  # the same member, as the companion wrote it
        elif member.endswith("model.keras"):  # its counterpart in the contract: the Lightning checkpoint
            model = member.split("/")[0]
            weights = next(f"{model}/{b}" for b in ("model.ckpt", "model.pth") if f"{model}/{b}" in torch_members_)
            assert cell == f"`{_writer_of(torch, weights)}` (as `torch.ckpt[{model}]`)"
    code, summary = verdict(tf["archive_description"], torch["archive_description"], parity_rows(tf, torch))
    assert code == 1 and "manifest.backend" in summary
    assert "breaks `manifest.backend`" in by_member["manifest.dill"]["What must change (parity)"]
    broken = [item.strip() for item in summary.split(":", 1)[1].split(",")]
    changes = " ".join(r["What must change (parity)"] for r in table)
    assert all(f"breaks `{item}" in changes for item in broken)  # every broken clause lands on a member


def test_the_pytorch_section_says_what_the_run_wrote_the_parity_and_its_verdicts(records):
    tf, torch = records
    summary = render_texts(tf, torch)["summary.md"]
    section = summary[summary.index("## PyTorch side, as run") : summary.index("## PyTorch delta")]
    for member in torch["archive_description"]["members"]:
        assert f"| `{member['name']}` |" in section and f"`{_writer_of(torch, member['name'])}`" in section
    assert "`<scratch>/out/ckpt/last.ckpt` (`minipkg_torch/train.py:7`, run)" in section
    assert "exit 1 — B breaks" in section and "| **✗** | `manifest.backend` |" in section
    assert f"*tracking* `docs/spec.md:9` MUST NOT: {TRACKING} — **broken**" in section
    assert "load failed with `mlflow` absent (`minipkg_torch/utils.py:22`)" in section
    assert summary.index("## The archive recipe") < summary.index("## PyTorch side, as run")
    assert "## PyTorch delta (read statically" in summary  # the static scan stays beside it
    assert "PyTorch side, as run" not in render_texts(tf)["summary.md"]


def test_render_companion_names_it_in_run_json_and_a_plain_render_keeps_it(records, tmp_path, capsys):
    tf, torch = records
    write_report(tmp_path / "tf", tf)
    write_report(tmp_path / "tf" / "torch", torch)
    assert cli.main(["render", str(tmp_path / "tf"), "--companion", str(tmp_path / "tf" / "torch")]) == 0
    stored = json.loads((tmp_path / "tf" / "trace" / "run.json").read_text())
    assert stored["companion"] == {"report": "torch", "problem": None}
    first = (tmp_path / "tf" / "summary.md").read_text()
    assert "## PyTorch side, as run" in first and "From the PyTorch run in `torch`" in first
    assert cli.main(["render", str(tmp_path / "tf")]) == 0
    assert (tmp_path / "tf" / "summary.md").read_text() == first  # byte-identical, the link kept


def test_a_companion_that_is_no_pytorch_run_is_refused(records, tmp_path, capsys):
    tf, _ = records
    write_report(tmp_path / "tf", tf)
    write_report(tmp_path / "other", tf)
    assert cli.main(["render", str(tmp_path / "tf"), "--companion", str(tmp_path / "other")]) == 2
    assert "is not the report of a PyTorch run" in capsys.readouterr().err


def test_a_link_that_cannot_be_followed_is_a_gap_not_a_silence(records, tmp_path):
    tf, _ = records
    render_markdown(tmp_path, dict(tf, companion={"report": "torch", "problem": None}))
    for name in ("summary.md", "callchain/static.md"):
        text = (tmp_path / name).read_text()
        assert "The PyTorch run asked for: the PyTorch run's record was not read" in text, name
    assert "## PyTorch side, as run" not in (tmp_path / "summary.md").read_text()


def test_a_failed_pytorch_run_leaves_the_tensorflow_report_rendered_with_the_gap(records, tmp_path, monkeypatch):
    tf, _ = records
    report = tmp_path / "tf"
    calls: list[Options] = []

    def fake_trace(options: Options):
        calls.append(options)
        if len(calls) == 1:
            write_report(report, tf)
            return report, tf
        raise HarnessError("the target has no 'ptycho_torch' package", "use a revision with it", exit_code=2)

    monkeypatch.setattr(torchrun, "trace", fake_trace)
    with pytest.raises(HarnessError) as raised:
        torchrun.trace_with_torch(Options(out=str(tmp_path), command="callchain trace"), "/usr/bin/python3")
    assert raised.value.exit_code == 2 and str(report) in raised.value.fix
    second = calls[1]
    assert (second.scenario, second.python, Path(second.out)) == (
        "torch-persistence",
        "/usr/bin/python3",
        report / "torch",
    )
    summary = (report / "summary.md").read_text()
    assert "The PyTorch run asked for: the target has no 'ptycho_torch' package" in summary
    assert json.loads((report / "trace" / "run.json").read_text())["companion"]["report"] is None
