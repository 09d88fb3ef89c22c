"""The rendered deliverables: sections, anchors that resolve, stable bytes, re-rendering."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import DEMO, callchain
from helpers import def_lines

pytestmark = pytest.mark.slow  # every test here traces in a subprocess


DELIVERABLES = [
    "callchain/static.md",
    "callchain/diagram.mmd",
    "callgraph/dynamic.txt",
    "trace/tap_points.md",
    "summary.md",
    "env/trace_env.json",
    "trace/run.json",
]
SECTIONS = [
    "Analysis Question",
    "Candidate Entry Points",
    "Selected Entrypoint(s)",
    "Config Flow",
    "Core Pipeline Stages",
    "Normalization/Scaling Chain",
    "Sinks/Outputs",
    "Callgraph Edge List",
    "Data/Units & Constants",
    "Device/dtype handling",
    "Gaps/Unknowns + Confirmation Plan",
]
ANCHOR = re.compile(r"`?((?:ptycho|ptycho_torch|docs)/[\w/.\-]+\.(?:py|md)):(\d+)")


def read(run, name: str) -> str:
    return (run.report / name).read_text()


def section(text: str, title: str) -> str:
    start = text.index(title)
    following = text.find("\n## ", start + len(title))
    return text[start : following if following > 0 else None]


def test_all_deliverables_written(demo_run):
    for name in DELIVERABLES:
        assert (demo_run.report / name).is_file(), name


def test_static_has_eleven_sections_in_order(demo_run):
    headings = re.findall(r"^## (\d+)\. (.+)$", read(demo_run, "callchain/static.md"), re.M)
    assert [int(n) for n, _ in headings] == list(range(1, 12))
    assert [title for _, title in headings] == SECTIONS


def test_taps_hit_with_observed_values(demo_run):
    rows = [line for line in read(demo_run, "trace/tap_points.md").splitlines() if line.startswith("| `")]
    hit = [row for row in rows if row.rstrip(" |").endswith("| hit")]
    assert len(hit) >= 5
    assert "988.2117688026185" in read(demo_run, "trace/tap_points.md")


def test_summary_names_members_and_load_side_effects(demo_run):
    summary = read(demo_run, "summary.md")
    members = [m["name"] for m in demo_run.record["archive_description"]["members"]]
    assert len(members) == 9
    for member in members:
        assert f"`{member}`" in summary
    fresh = [c["key"] for c in demo_run.record["config"]["changes"] if c["phase"] == "fresh-load"]
    assert {"N", "gridsize", "intensity_scale"} <= set(fresh)
    effects = section(summary, "## Side effects on params.cfg")
    for key in fresh:
        assert f"`{key}`" in effects
    assert "`N` changed: 128 → 64" in effects
    assert "contract check: **ok**" in summary


def test_every_anchor_in_every_deliverable_resolves(demo_run):
    checked = 0
    for name in DELIVERABLES[:5]:
        for path, line in ANCHOR.findall(read(demo_run, name)):
            lines = (DEMO / path).read_text().splitlines()
            assert 1 <= int(line) <= len(lines), f"{name}: {path}:{line} out of range"
            assert lines[int(line) - 1].strip(), f"{name}: {path}:{line} is blank"
            checked += 1
    assert checked > 100


def test_function_anchors_in_edge_list_are_def_lines(demo_run):
    for edge in demo_run.record["edges"]:
        anchor, callee = edge["callee_anchor"], edge["callee"]
        if anchor is None:
            continue
        path, line = anchor.rsplit(":", 1)
        name = callee.rsplit(".", 1)[-1].split(":")[-1]
        if name != "<module>":
            assert def_lines(DEMO / path).get(int(line)) == name, anchor


def test_call_sites_in_edge_list_call_the_callee_or_framework(demo_run):
    for edge in demo_run.record["edges"]:
        if not edge["call_site"] or not edge["direct"]:
            continue
        path, line = edge["call_site"].rsplit(":", 1)
        text = (DEMO / path).read_text().splitlines()[int(line) - 1]
        qualname = edge["callee"].split(":", 1)[1]
        name = qualname.rsplit(".", 1)[-1]
        if name == "__init__":  # `Layer(...)`, a subclass's `Sub(...)` or `super().__init__` runs Layer.__init__
            names = _subclasses(qualname.rsplit(".", 2)[-2]) | {"super().__init__"}
            assert any(n in text for n in names), (edge, text)
            continue
        if name == "<module>":  # an import runs the module body
            name = "import"
        assert name in text, (edge, text)


def _subclasses(name: str) -> set:
    """`name` and every class of the demo that derives from it, by the names of its bases."""
    import ast

    bases = {}
    for path in DEMO.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
    found, grew = {name}, True
    while grew:
        more = {cls for cls, parents in bases.items() if parents & found} - found
        found |= more
        grew = bool(more)
    return found


def test_mentions_quote_the_line_they_point_at(demo_run):
    for mention in demo_run.record["mentions"]["intensity_scale"]:
        path, line = mention["anchor"].rsplit(":", 1)
        assert (DEMO / path).read_text().splitlines()[int(line) - 1].strip()[:140] == mention["text"]


def test_two_runs_render_identical_evidence(demo_runs):
    a, b = demo_runs.first, demo_runs.second
    static_a, static_b = read(a, "callchain/static.md"), read(b, "callchain/static.md")
    assert section(static_a, "## 8. Callgraph Edge List") == section(static_b, "## 8. Callgraph Edge List")
    assert read(a, "trace/tap_points.md") == read(b, "trace/tap_points.md")
    assert read(a, "callchain/diagram.mmd") == read(b, "callchain/diagram.mmd")
    assert static_a == static_b
    assert (
        read(a, "summary.md").split("**Run.**")[1].split("\n", 1)[1]
        == read(b, "summary.md").split("**Run.**")[1].split("\n", 1)[1]
    )


def test_diagram_is_a_small_mermaid_flowchart(demo_run):
    diagram = read(demo_run, "callchain/diagram.mmd")
    assert diagram.startswith("flowchart TD")
    nodes = re.findall(r'^\s+n\d+\["', diagram, re.M)
    assert 5 < len(nodes) <= 60
    assert "<module>" not in diagram and "<locals>" not in diagram


def test_render_rebuilds_the_same_files(demo_run, tmp_path):
    copy = tmp_path / "report"
    shutil.copytree(demo_run.report, copy)
    rendered = [
        "callchain/static.md",
        "callchain/diagram.mmd",
        "callgraph/dynamic.txt",
        "trace/tap_points.md",
        "summary.md",
    ]
    for name in rendered:
        (copy / name).unlink()
    done = callchain("render", str(copy))
    assert done.returncode == 0, done.stderr
    for name in rendered:
        assert (copy / name).read_text() == read(demo_run, name), name


def test_render_of_a_folder_without_run_json(tmp_path):
    done = callchain("render", str(tmp_path))
    assert done.returncode == 2 and "no trace/run.json" in done.stderr and "Traceback" not in done.stderr


def test_report_folders_are_never_reused(demo_runs):
    reports = sorted((demo_runs.out / "INTEGRATE-PYTORCH-001" / "reports").iterdir())
    assert len(reports) == 2


def test_inspect_accepts_the_demo_archive(demo_run):
    done = callchain("inspect", demo_run.record["archive"])
    assert done.returncode == 0, done.stderr
    as_json = callchain("inspect", demo_run.record["archive"], "--json")
    assert as_json.returncode == 0
    import json

    description = json.loads(as_json.stdout)
    assert description["status"] == "ok"
    assert all(clause["status"] == "pass" for clause in description["clauses"])
