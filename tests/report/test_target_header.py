"""The traced revision and the user's root: the commit (and whether the tree was dirty) is said in
every header and in env/trace_env.json, read from git without writing into the target; the
absolute root is said once per deliverable, in its header line, and written `<root>` elsewhere."""

from __future__ import annotations

import json

import pytest
from helpers import commit_all, git, tiny_target

from harness.report import render
from harness.static.target import compare, fingerprint, revision

DELIVERABLES = (
    "summary.md",
    "callchain/static.md",
    "callgraph/dynamic.txt",
    "trace/tap_points.md",
    "callchain/diagram.mmd",
)
# The one line of each deliverable that may name the absolute root (ROOT_FIELD in report/render.py).
HEADER = {
    "summary.md": "**Target.** `",
    "callchain/static.md": "Target `",
    "callgraph/dynamic.txt": "# target: ",
}


def _record_at(tmp_path, root):
    """The in-process run record of a tiny package, pointed at `root` (a real git work tree or not)."""
    from inprocess import AVAILABLE, MINIPKG, record_package

    record = record_package(tmp_path / "run", MINIPKG, lambda imp: imp("minipkg.core").outer(1), AVAILABLE[0])
    record["target"] = dict(record["target"], root=str(root), **revision(root))
    return record


def _files(record, tmp_path):
    report = tmp_path / "report"
    render.write_report(report, record)
    return {name: (report / name).read_text() for name in DELIVERABLES + ("env/trace_env.json",)}


def test_the_commit_and_clean_state_are_read_without_writing_into_the_target(tmp_path):
    root = commit_all(tiny_target(tmp_path / "target"))
    before = fingerprint(root)
    found = revision(root)
    assert compare(before, fingerprint(root)) == []  # not even .git/index was refreshed
    assert found == {
        "git": True,
        "commit": git(root, "rev-parse", "HEAD").strip(),
        "branch": found["branch"],
        "dirty": False,
    }
    (root / "ptycho" / "params.py").write_text("# edited\n")
    assert revision(root)["dirty"] is True
    assert revision(tmp_path)["git"] is False  # a folder that is no work tree of its own


def test_every_header_and_trace_env_name_the_commit_the_same_way(tmp_path):
    root = commit_all(tiny_target(tmp_path / "target"))
    commit = git(root, "rev-parse", "HEAD").strip()
    files = _files(_record_at(tmp_path, root), tmp_path)
    said = f"git commit {commit}, clean"
    assert files["summary.md"].splitlines()[4].startswith(f"**Target.** `{root}` — {said}. ")
    assert f"({said})" in files["callchain/static.md"].splitlines()[2]
    assert f"# target: {root} ({said})" in files["callgraph/dynamic.txt"].splitlines()
    env = json.loads(files["env/trace_env.json"])["target"]
    assert (env["commit"], env["dirty"], env["revision"]) == (commit, False, said)
    again = _files(_record_at(tmp_path / "again", root), tmp_path / "again")
    assert again["summary.md"].splitlines()[4] == files["summary.md"].splitlines()[4]  # same commit, same text


def test_a_root_that_is_no_git_checkout_says_so_plainly(tmp_path):
    files = _files(_record_at(tmp_path, tiny_target(tmp_path / "target")), tmp_path)
    assert "— not a git checkout." in files["summary.md"]
    assert json.loads(files["env/trace_env.json"])["target"]["revision"] == "not a git checkout"


def _root_lines(files, root):
    return {(name, line) for name, text in files.items() for line in text.splitlines() if str(root) in line}


def test_the_absolute_root_is_said_in_the_header_only_even_in_commands_and_messages(tmp_path):
    root = tiny_target(tmp_path / "target")
    record = _record_at(tmp_path, root)
    record["command"] = f"callchain trace --root {root} --out {tmp_path}/out"
    record["errors"] = [{"phase": "load", "type": "OSError", "message": f"cannot open {root}/ptycho/x.h5."}]
    files = {k: v for k, v in _files(record, tmp_path).items() if not k.endswith(".json")}
    assert {name for name, line in _root_lines(files, root)} == set(HEADER)
    for name, line in _root_lines(files, root):
        assert line.startswith(HEADER[name]), (name, line)
    assert f"`callchain trace --root <root> --out {tmp_path}/out`" in files["summary.md"]
    timeline = (tmp_path / "report" / "trace" / "trace.json").read_text()  # the Perfetto trace is shared too
    assert str(root) not in timeline and "--root <root>" in timeline
    assert "cannot open <root>/ptycho/x.h5." in files["callchain/static.md"]


@pytest.mark.slow  # the demo run record comes from a traced subprocess
def test_a_demo_run_names_its_root_in_the_header_lines_only(demo_run):
    root = demo_run.record["target"]["root"]
    files = {name: (demo_run.report / name).read_text() for name in DELIVERABLES}
    lines = _root_lines(files, root)
    assert {name for name, _ in lines} == set(HEADER)
    assert all(line.startswith(HEADER[name]) and line.count(root) == 1 for name, line in lines)
    assert json.loads((demo_run.report / "env" / "trace_env.json").read_text())["target"]["root"] == root
