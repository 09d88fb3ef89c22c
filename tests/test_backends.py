"""Every recorder backend gives the same evidence: same tree, same edges, same taps."""

from __future__ import annotations

import sys

import pytest

from conftest import traced_demo
from harness.interpreter import check_interpreter, probe, supported_backends
from helpers import body

HERE = supported_backends(probe(sys.executable))
OTHERS = HERE[1:]  # HERE[0] is the default, run by demo_runs


def _section(text: str, title: str) -> str:
    start = text.index(title)
    return text[start:text.find("\n## ", start + 1)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHERS)
def test_backend_gives_identical_evidence(backend, demo_run, tmp_path):
    other = traced_demo(tmp_path / "out", "--backend", backend)
    assert other.record["recorder"]["backend"] == backend
    assert demo_run.record["recorder"]["backend"] == HERE[0]
    read = lambda run, name: (run.report / name).read_text()  # noqa: E731
    assert body(read(other, "callgraph/dynamic.txt")) == body(read(demo_run, "callgraph/dynamic.txt"))
    edges = "## 8. Callgraph Edge List"
    assert _section(read(other, "callchain/static.md"), edges) == _section(read(demo_run, "callchain/static.md"), edges)
    assert read(other, "trace/tap_points.md") == read(demo_run, "trace/tap_points.md")
    assert other.record["edges"] == demo_run.record["edges"]


def test_default_backend_is_the_fastest_the_interpreter_supports():
    expected = "monitoring" if sys.version_info >= (3, 12) else "settrace"
    assert check_interpreter(sys.executable, None) == expected


@pytest.mark.parametrize("info, expected", [
    ({"monitoring": True, "hunter": "3.9"}, ["monitoring", "settrace", "hunter"]),
    ({"monitoring": False, "hunter": None}, ["settrace"]),
    ({"monitoring": False, "hunter": "3.9"}, ["settrace", "hunter"]),
])
def test_one_rule_for_backend_availability(info, expected):
    assert supported_backends(info) == expected
