"""Every view and deliverable on a record built in-process: fast, and with no TensorFlow."""

from __future__ import annotations

import pytest
from helpers import call_lines
from inprocess import AVAILABLE as BACKENDS
from inprocess import MINIPKG, record_package

from harness.report import render
from harness.report.queries import archive as archivequeries
from harness.report.queries import config as configqueries
from harness.report.queries import taps as tapqueries
from harness.report.views import static as staticview

DELIVERABLES = (
    "callgraph/dynamic.txt",
    "callchain/static.md",
    "callchain/diagram.mmd",
    "trace/tap_points.md",
    "summary.md",
)


@pytest.fixture
def run(tmp_path):
    def drive(imp):
        core = imp("minipkg.core")
        core.outer(1)
        core.via_foreign()
        core.configure()

    return record_package(tmp_path, MINIPKG, drive, BACKENDS[0], config_global="minipkg.params:cfg")


def _render(run, tmp_path):
    report = tmp_path / "report"
    render.render_markdown(report, run)
    return {name: (report / name).read_text() for name in DELIVERABLES}


def test_every_deliverable_renders_from_the_record(run, tmp_path):
    files = _render(run, tmp_path)
    tree = [m.group("function") for m in call_lines(files["callgraph/dynamic.txt"])]
    tree = tree[tree.index("minipkg.core:outer") :]  # the imports (and the decorator they apply) come first
    assert tree[:4] == [
        "minipkg.core:outer",
        "minipkg.core:leaf",
        "minipkg.core:traced.<locals>.wrapper",
        "minipkg.core:decorated",
    ]
    assert "[phase run · " in files["callgraph/dynamic.txt"] and "process main" not in files["callgraph/dynamic.txt"]
    assert "## 1. Analysis Question\n\nHow does minipkg save?" in files["callchain/static.md"]
    assert "in this order (run):" in files["callchain/static.md"]
    assert "`minipkg.core:outer` → `minipkg.core:leaf`" in files["callchain/static.md"]
    assert "flowchart" in files["callchain/diagram.mmd"]
    path = next(line for line in files["summary.md"].splitlines() if line.startswith("- **Run:** "))
    assert "`outer` (`minipkg/core.py:" in path


def test_rendering_twice_gives_identical_files(run, tmp_path):
    assert _render(run, tmp_path / "a") == _render(run, tmp_path / "b")


def test_dynamic_marks_a_later_process(run, tmp_path):
    second = dict(run["processes"][0], label="fresh")
    calls = run["calls"] + [dict(run["calls"][0], i=len(run["calls"]), process="fresh")]
    text = (
        render.environment()
        .get_template("dynamic.txt.j2")
        .render(**render.dynamic_view(dict(run, calls=calls, processes=run["processes"] + [second])))
    )
    assert "[phase run · process fresh · 1 call kept]" in text


def test_config_flow_rows_name_the_writer(run):
    rows = {row["key"]: row for row in configqueries.config_changes(run)}
    assert rows["N"]["by_function"] in ("minipkg.params:set", "minipkg.core:configure")
    assert rows["N"]["by_anchor"].startswith("minipkg/")


def test_load_side_effects_follow_the_scenario_processes(run):
    snapshots = {"main:run": {"N": "128"}, "main:end": {"N": "64", "gridsize": "1"}}
    scenario = dict(run["scenario"], roles={"load": ["run"], "fresh-load": ["run"]})
    effects = configqueries.load_side_effects(
        dict(run, scenario=scenario, config=dict(run["config"], snapshots=snapshots))
    )
    (effect,) = effects
    assert effect["title"] == "In the test process" and effect["fresh"] and effect["ran"]
    assert [(r["key"], r["op"]) for r in effect["net"]] == [("N", "changed"), ("gridsize", "added")]


def test_phases_without_a_role_are_not_pipeline_stages(run):
    assert staticview.static_view(run)["save_stages"]
    no_roles = dict(run, scenario=dict(run["scenario"], roles={}))
    view = staticview.static_view(no_roles)
    assert view["save_stages"] == [] and view["entries"] == []


def test_a_write_with_no_namespace_author_renders(run, tmp_path):
    sink = {
        "op": "write",
        "path": "<scratch>/out/wts.h5/manifest.dill",
        "dest": None,
        "by": None,
        "module": None,
        "phase": "run",
        "native": False,
        "process": "main",
    }
    description = {
        "members": [{"name": "manifest.dill", "size": 1, "compressed_size": 1}],
        "clauses": [],
        "display_path": "<scratch>/out/wts.h5.zip",
        "models": {},
    }
    odd = dict(run, sinks=[sink], archive_description=description)
    assert archivequeries.member_writers(odd) == {"manifest.dill": "scenario / framework (no namespace frame)"}
    assert "scenario / framework" in _render(odd, tmp_path)["summary.md"]


def test_unknowns_are_worded_by_the_templates(run, tmp_path):
    error = {"type": "KeyError", "message": "'N'", "phase": "run", "namespace_frame": "minipkg/core.py:3"}
    gap = {"phase": "run", "missing": "minipkg.x", "used": "minipkg.y"}
    odd = dict(run, errors=[error], processes=[dict(run["processes"][0], gaps=[gap, dict(gap)])])
    static = _render(odd, tmp_path)["callchain/static.md"]
    assert "- The run failed: KeyError: 'N' (at minipkg/core.py:3)." in static
    assert static.count("API difference: `minipkg.x` not found (phase run); the run used `minipkg.y`.") == 1


def test_an_empty_run_renders_every_deliverable(run, tmp_path):
    empty = dict(
        run,
        calls=[],
        edges=[],
        phases=[],
        sinks=[],
        tap_hits=[],
        config={"changes": [], "snapshots": {}},
        status="failed",
        failure={"problem": "nothing ran", "fix": "fix it", "exit_code": 3},
    )
    files = _render(empty, tmp_path)
    assert "FAILED RUN" in files["summary.md"] and "No save or load call was recorded." in files["summary.md"]
    assert "nothing ran" in files["callgraph/dynamic.txt"]


def test_tap_rows_report_hit_and_not_hit(run):
    declared = [
        {
            "key": "a",
            "purpose": "p",
            "function": "minipkg.core:leaf",
            "when": "return",
            "capture": "return",
            "units": "-",
            "source": "x.toml:1",
        },
        {
            "key": "b",
            "purpose": "p",
            "function": "minipkg.core:nowhere",
            "when": "call",
            "capture": "args.x",
            "units": "-",
            "source": "x.toml:9",
        },
    ]
    leaf = next(c for c in run["calls"] if c["function"] == "minipkg.core:leaf")
    hits = [{"key": "a", "call": leaf["i"], "status": "hit", "value": "2", "process": "main"}]
    rows = {row["key"]: row for row in tapqueries.tap_rows(dict(run, taps_declared=declared, tap_hits=hits))}
    assert rows["a"]["status"] == "hit" and rows["a"]["observed"] == "2" and rows["a"]["owner_anchor"] == leaf["anchor"]
    assert rows["b"]["status"] == "not hit" and rows["b"]["owner_anchor"] is None


def test_library_calls_and_config_lines_are_rendered_at_their_lines(run, tmp_path):
    files = _render(run, tmp_path)
    static = files["callchain/static.md"]
    sections = [line for line in static.splitlines() if line.startswith("## ")]
    assert [s.split(". ", 1)[0] for s in sections if s[3].isdigit()] == [f"## {n}" for n in range(1, 12)]
    library = static[static.index("### Library calls on the path") : static.index("## 6.")]
    assert "`foreignlib:apply`" in library and "`return foreignlib.apply(callback, [1, 2])`" in library
    config = static[static.index("## 4. Config Flow") : static.index("## 5.")]
    assert "`minipkg/params.py:" in config  # the write inside params.set, not a def line only
    summary = files["summary.md"]
    assert "## What a PyTorch shim must replace" in summary
    # the run's only phase has the save role, but its library call writes no archive member:
    # it is counted as left out of the shim table, and listed in static.md
    shim = summary[summary.index("## What a PyTorch shim must replace") :]
    assert "`foreignlib:apply`" not in shim and "Left out: " in shim and "static.md" in shim


def test_the_requests_pointers_are_a_table_of_summary_md_after_the_first_screen(run, tmp_path):
    from conftest import DEMO
    from helpers import markdown_tables

    from harness.static.bounded import Budget
    from harness.static.pointers import reconcile

    summary = _render(dict(run, request_pointers=reconcile(DEMO, Budget())), tmp_path)["summary.md"]
    section = summary[summary.index("## The request's pointers on this revision") :]
    assert summary.index("\n---\n") < summary.index("## The request's pointers")
    cells = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in markdown_tables(section)[0][2:]]
    rows = {r[0]: r for r in cells}
    spec = rows["`specs/ptychodus_api_spec.md` lines 192–202"]
    manager = rows["`ptycho/model_manager.py` lines 346–420"]
    assert spec[2] == "file missing" and "§ `2. Model Persistence Contract` `specs/api_spec.md:14`" in spec[3]
    assert manager[2] == "past the end of the file (128 lines)"
    assert "`ModelManager.save_multiple_models` `ptycho/model_manager.py:71`" in manager[3]
    assert all(r[4] == "stale" for r in rows.values())
    static = _render(dict(run, request_pointers=reconcile(DEMO, Budget())), tmp_path)["callchain/static.md"]
    assert "- Stale anchors of the request: 4 of 4 of its `path:start-end` pointers" in static
    assert "## The request's pointers" not in _render(run, tmp_path / "none")["summary.md"]


def test_taps_to_collect_next_follow_what_the_run_missed_and_vanish_when_nothing_is_missing(run, tmp_path):
    from harness.report.views.summary import collect_next

    plain = dict(run, scenario=dict(run["scenario"], contract=False))
    assert [i["kind"] for i in collect_next(plain, [])] == ["no_taps"]
    hit = [{"key": "k", "function": "f", "status": "hit"}]
    assert collect_next(plain, hit) == []
    missed = [{"key": "k", "function": "f", "status": "not hit"}]
    assert [i["key"] for i in collect_next(plain, missed)] == ["k"]
