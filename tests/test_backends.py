"""Every recorder backend gives the same evidence: same tree, same edges, same taps."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import traced_demo
from harness.tracer import available
from helpers import body

OTHERS = [name for name in available()[1:]]  # available()[0] is the default, run by demo_runs


def _section(text: str, title: str) -> str:
    start = text.index(title)
    return text[start:text.find("\n## ", start + 1)]


def _assert_same_evidence(one, other) -> None:
    read = lambda run, name: (run.report / name).read_text()  # noqa: E731
    assert body(read(other, "callgraph/dynamic.txt")) == body(read(one, "callgraph/dynamic.txt"))
    edges = "## 8. Callgraph Edge List"
    assert _section(read(other, "callchain/static.md"), edges) == _section(read(one, "callchain/static.md"), edges)
    assert read(other, "trace/tap_points.md") == read(one, "trace/tap_points.md")
    assert other.record["edges"] == one.record["edges"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHERS)
def test_backend_gives_identical_evidence(backend, demo_run, tmp_path):
    other = traced_demo(tmp_path / "out", "--backend", backend)
    assert other.record["recorder"]["backend"] == backend
    assert demo_run.record["recorder"]["backend"] == available()[0]
    _assert_same_evidence(demo_run, other)


# Other interpreters to check the default backend against hunter on (e.g. a Python 3.10 and a
# 3.11 environment with TensorFlow and hunter): os.pathsep-separated paths.
OTHER_PYTHONS = [path for path in os.environ.get("CALLCHAIN_TEST_PYTHONS", "").split(os.pathsep) if path]


@pytest.mark.slow
@pytest.mark.skipif(not OTHER_PYTHONS, reason="CALLCHAIN_TEST_PYTHONS is not set: name other interpreters (with tensorflow and hunter) to compare backends there")
@pytest.mark.parametrize("python", OTHER_PYTHONS)
def test_default_backend_equals_hunter_with_another_interpreter(python, tmp_path):
    """The user's interpreter (`--python`): whatever is the default there records what hunter does."""
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True, text=True)
    default = traced_demo(tmp_path / "default", "--python", python)
    reference = traced_demo(tmp_path / "hunter", "--python", python, "--backend", "hunter")
    expected = "monitoring" if version.stdout.strip() == "True" else "ctrace"
    assert default.record["recorder"]["backend"] == expected, default.record["recorder"]
    assert reference.record["recorder"]["backend"] == "hunter"
    _assert_same_evidence(reference, default)


def test_default_backend_is_the_fastest_supported():
    import sys

    from harness import accel

    fallback = "ctrace" if accel.loaded() is not None else "settrace"
    assert available()[0] == ("monitoring" if sys.version_info >= (3, 12) else fallback)
    assert "settrace" in available()  # the pure-Python fallback is always there
