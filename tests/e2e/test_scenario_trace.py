"""A scenario file against a target that has nothing to do with ptycho (a JSON-backed store):
every deliverable renders from its run, anchors are def lines, the file flush writes is
credited to its `open(...)` line, the question leads static.md; --publish copies the report
into the target only after the evidence check; a phase that raises or hangs ends the run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import load_run
from helpers import body, def_lines, jsonstore_target
from tracing import trace

pytestmark = pytest.mark.slow  # traced subprocesses

QUESTION = "Which file does the store's flush write, and from which line?"
DELIVERABLES = (
    "callchain/static.md",
    "callchain/diagram.mmd",
    "callgraph/dynamic.txt",
    "trace/tap_points.md",
    "trace/run.json",
    "trace/trace.json",
    "summary.md",
    "env/trace_env.json",
)


@pytest.fixture(scope="module")
def store_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store")
    root, scenario = jsonstore_target(tmp)
    publish = ("--initiative", "STORE-001", "--plan-phase", "phase_a", "--publish", "plans/active")
    run = _trace_store(root, scenario, tmp / "out", "--question", QUESTION, *publish).ok()
    return root, run.report, tmp / "out"


def _trace_store(root, scenario, out, *extra):
    """The store traced with `scenario` (a file)."""
    return trace(root, out, "--package", "jsonstore", "--scenario", str(scenario), *extra)


def test_every_deliverable_renders(store_run):
    root, published, out = store_run
    (report,) = (out / "STORE-001" / "reports").glob("*/phase_a")
    for name in DELIVERABLES:
        assert (report / name).is_file() and (report / name).stat().st_size > 0, name
    record = load_run(report)
    assert record["status"] == "ok" and record["scenario"]["phases"] == ["put", "flush", "open"]
    assert record["evidence_only"]["changes"] == []


def test_calls_are_at_def_lines(store_run):
    root, published, out = store_run
    text = (published / "callgraph" / "dynamic.txt").read_text()
    defs = def_lines(root / "jsonstore" / "store.py")
    flush_line = next(line for line, name in defs.items() if name == "flush")
    assert f"jsonstore.store:Store.flush  jsonstore/store.py:{flush_line}  => " in text
    functions = [line for line in body(text) if ":<module>" not in line]  # a module's anchor is its line 1
    anchored = re.findall(r"  jsonstore/store\.py:(\d+)  ", "\n".join(functions))
    assert anchored and all(int(line) in defs for line in anchored)
    assert "[phase flush · 1 call kept]" in text


def test_the_flushed_file_is_credited_to_its_open_line(store_run):
    root, published, out = store_run
    source = (root / "jsonstore" / "store.py").read_text().splitlines()
    open_line = next(i for i, line in enumerate(source, 1) if 'open(self.path, "w"' in line)
    static = (published / "callchain" / "static.md").read_text()
    assert f"| flush | write | `<scratch>/out/store.json` | jsonstore/store.py:{open_line} |" in static


def test_static_md_leads_with_the_question_and_says_what_does_not_apply(store_run):
    root, published, out = store_run
    static = (published / "callchain" / "static.md").read_text()
    assert f"## 1. Analysis Question\n\n{QUESTION}\n" in static
    assert "No spec: " in static and "No archive was produced by this run" in static
    assert "Not applicable: no phase of this scenario has the save role." in static
    assert "was not found in the traced process" in static
    assert "Which file does" in (published / "summary.md").read_text()
    taps = (published / "trace" / "tap_points.md").read_text()
    assert "`flush.size`" in taps and "| hit |" in taps  # TAPS named by the scenario file, relative to it


def test_publish_copies_the_report_into_the_target_after_the_check(store_run):
    root, published, out = store_run
    (report,) = (out / "STORE-001" / "reports").glob("*/phase_a")
    assert published == root / "plans" / "active" / "STORE-001" / "reports" / report.parent.name / "phase_a"
    assert (published / "summary.md").read_bytes() == (report / "summary.md").read_bytes()
    assert not list(root.rglob("store.json"))  # the scratch stays outside the target


def _trace_phases(tmp_path, source: str, *extra: str):
    """The store traced with a scenario file of `source`."""
    root, _ = jsonstore_target(tmp_path)
    scenario = tmp_path / "phases.py"
    scenario.write_text(source)
    return _trace_store(root, scenario, tmp_path / "out", *extra)


def test_a_phase_that_raises_keeps_a_partial_report(tmp_path):
    run = _trace_phases(
        tmp_path,
        "def put(ctx):\n    import jsonstore\n    jsonstore.Store('x').put('a', 1)\n\n"
        "def boom(ctx):\n    raise RuntimeError('no flush today')\n\n"
        "PHASES = [('put', put), ('boom', boom)]\n",
    )
    assert run.code == 3 and "no flush today" in run.stderr and "phase 'boom'" in run.stderr
    assert "report (partial)" in run.stderr and "Traceback" not in run.stderr


def test_a_hanging_phase_stops_at_the_timeout(tmp_path):
    run = _trace_phases(
        tmp_path,
        "import time\n\ndef put(ctx):\n    import jsonstore\n    jsonstore.Store('x')\n\n"
        "def hang(ctx):\n    time.sleep(600)\n\nPHASES = [('put', put), ('hang', hang)]\n",
        "--timeout",
        "5",
    )
    assert run.code == 3 and "did not finish within 5 s" in run.stderr


def test_the_shipped_file_imports_after_setup_what_needs_it(tmp_path):
    """A revision that builds models at import (torchapi-devel): the shipped scenario file
    imports such a module again after setup, in both processes, and says so in the gaps."""
    from helpers import tiny_target

    model = (
        "from ptycho import params\n\nif params.cfg['N'] != 64:\n    raise ValueError('N is not set up yet')\n\n\n"
        "def create_model_with_gridsize(gridsize, N):\n    return ('autoencoder', 'diffraction_to_obj')\n"
    )
    root = tiny_target(tmp_path / "target", {"ptycho/model.py": model})
    record = trace(root, tmp_path / "out").ok().record
    phases = [(p["process"], p["name"]) for p in record["phases"]]
    assert ("cycle", "import-after-setup") in phases and ("fresh", "fresh-setup") in phases
    assert ("fresh", "fresh-import-after-setup") in phases
    assert phases.index(("cycle", "setup")) + 1 == phases.index(("cycle", "import-after-setup"))
    gaps = [gap["missing"] for process in record["processes"] for gap in process["gaps"]]
    assert "ptycho.model importable before setup" in gaps
    assert "a fresh process that can import the package without setup" in gaps


def test_ctx_out_exists_before_the_first_phase_of_each_process(tmp_path):
    """`ctx.out` is documented as a folder: a first phase (of either process) may write into it at once."""
    run = _trace_phases(
        tmp_path,
        "import os\n\n"
        "def write(ctx):\n    import jsonstore\n"
        "    jsonstore.Store(os.path.join(ctx.out, 'store.json')).flush()\n\n"
        "def read(ctx):\n    import jsonstore\n    jsonstore.open_store(os.path.join(ctx.out, 'store.json'))\n"
        "    jsonstore.Store(os.path.join(ctx.out, 'fresh.json')).flush()\n\n"
        "PHASES = [('write', write)]\nFRESH_PHASES = [('read', read)]\n",
    ).ok()
    assert [p["label"] for p in run.record["processes"]] == ["cycle", "fresh"]
    written = sorted(path.name for path in (Path(run.record["scratch"]) / "out").iterdir())
    assert written == ["fresh.json", "store.json"]
