"""Every recorder backend gives the same evidence: same tree, same edges, same taps."""

from __future__ import annotations

import pytest

from conftest import traced_demo
from harness.tracer import available
from helpers import body

OTHERS = [name for name in available()[1:]]  # available()[0] is the default, run by demo_runs


def _section(text: str, title: str) -> str:
    start = text.index(title)
    return text[start:text.find("\n## ", start + 1)]


@pytest.mark.parametrize("backend", OTHERS)
def test_backend_gives_identical_evidence(backend, demo_run, tmp_path):
    other = traced_demo(tmp_path / "out", "--backend", backend)
    assert other.record["recorder"]["backend"] == backend
    assert demo_run.record["recorder"]["backend"] == available()[0]
    read = lambda run, name: (run.report / name).read_text()  # noqa: E731
    assert body(read(other, "callgraph/dynamic.txt")) == body(read(demo_run, "callgraph/dynamic.txt"))
    edges = "## 8. Callgraph Edge List"
    assert _section(read(other, "callchain/static.md"), edges) == _section(read(demo_run, "callchain/static.md"), edges)
    assert read(other, "trace/tap_points.md") == read(demo_run, "trace/tap_points.md")
    assert other.record["edges"] == demo_run.record["edges"]


def test_default_backend_is_the_fastest_supported():
    import sys

    assert available()[0] == ("monitoring" if sys.version_info >= (3, 12) else "settrace")
