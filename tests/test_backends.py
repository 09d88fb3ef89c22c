"""Every recorder backend gives the same evidence: same tree, same edges, same taps."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import traced_demo
from helpers import body

from harness import accel
from harness.interpreter import check_interpreter, probe, supported_backends

HERE = supported_backends(dict(probe(sys.executable), ctrace=accel.ensure()[0] is not None))
OTHERS = [name for name in HERE if name != HERE[0]]  # HERE[0] is the default, run by demo_runs
DEFAULT = "monitoring" if sys.version_info >= (3, 12) else HERE[0]  # ctrace where it builds, else settrace


def _section(text: str, title: str) -> str:
    start = text.index(title)
    return text[start : text.find("\n## ", start + 1)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHERS)
def test_backend_gives_identical_evidence(backend, demo_run, tmp_path):
    other = traced_demo(tmp_path / "out", "--backend", backend)
    assert other.record["recorder"]["backend"] == backend
    assert demo_run.record["recorder"]["backend"] == DEFAULT
    _assert_same_evidence(demo_run, other)


def _without_lines(run) -> bool:
    python = (run.record["processes"][0].get("start") or {}).get("python") or "3.12"
    return run.record["recorder"]["backend"] == "ctrace" and tuple(map(int, python.split(".")[:2])) < (3, 12)


def _assert_same_evidence(one, other) -> None:
    read = lambda run, name: (run.report / name).read_text()  # noqa: E731
    assert body(read(other, "callgraph/dynamic.txt")) == body(read(one, "callgraph/dynamic.txt"))
    edges = "## 8. Callgraph Edge List"
    assert _section(read(other, "callchain/static.md"), edges) == _section(read(one, "callchain/static.md"), edges)
    assert read(other, "trace/tap_points.md") == read(one, "trace/tap_points.md")
    assert other.record["edges"] == one.record["edges"]
    if any(_without_lines(run) for run in (one, other)):
        return  # ctrace's 3.10/3.11 hook sees no kept lines and no library calls (README)
    config = lambda run: [(c["phase"], c["key"], c["op"], c["at"]) for c in run.record["config"]["changes"]]  # noqa: E731
    assert config(other) == config(one)
    library = lambda run: {  # noqa: E731
        (r["process"], r["phase"], r["thread"], r["at"] or "", r["callee"]): r["count"]
        for r in run.record["library_calls"]
    }
    backends = (one.record["recorder"]["backend"], other.record["recorder"]["backend"])
    if "monitoring" in backends and len(set(backends)) == 2:
        # Python started by a C callable (h5py's Cython with_phil wrapper, numpy's C dispatchers)
        # is seen by the trace backends only (harness/libcalls.py): what monitoring reports,
        # a trace backend reports alike, count included.
        traced, monitored = (
            (library(other), library(one)) if backends[0] == "monitoring" else (library(one), library(other))
        )
        assert {key: traced.get(key) for key in monitored} == monitored
    else:
        assert library(other) == library(one)
    sinks = lambda run: [(s["op"], s["path"], s["by"]) for s in run.record["sinks"]]  # noqa: E731
    assert sinks(other) == sinks(one)


# Other interpreters to check the default backend against hunter with (e.g. Python 3.10 and 3.11
# environments holding tensorflow and hunter): os.pathsep-separated paths.
OTHER_PYTHONS = [path for path in os.environ.get("CALLCHAIN_TEST_PYTHONS", "").split(os.pathsep) if path]


TARGETS = [None] + ([os.environ["PTYCHO_ROOT"]] if os.environ.get("PTYCHO_ROOT") else [])  # None: the demo


@pytest.mark.slow
@pytest.mark.skipif(
    not OTHER_PYTHONS,
    reason="CALLCHAIN_TEST_PYTHONS is not set: name interpreters (with tensorflow and hunter) to compare backends with",
)
@pytest.mark.parametrize("root", TARGETS, ids=lambda root: "real" if root else "demo")
@pytest.mark.parametrize("python", OTHER_PYTHONS)
def test_default_backend_equals_hunter_with_another_interpreter(python, root, tmp_path):
    """The user's interpreter (`--python`): whatever is the default there records what hunter does
    (on the real PtychoPINN too when PTYCHO_ROOT is set: decorators, generators, exceptions, Keras call-backs)."""
    newer = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True, text=True
    )
    target = ["--root", root] if root else []
    default = traced_demo(tmp_path / "default", "--python", python, *target)
    reference = traced_demo(tmp_path / "hunter", "--python", python, "--backend", "hunter", *target)
    assert default.record["recorder"]["backend"] == ("monitoring" if newer.stdout.strip() == "True" else "ctrace")
    assert default.record["recorder"]["accelerated"].startswith("yes" if newer.stdout.strip() != "True" else "no")
    assert reference.record["recorder"]["backend"] == "hunter"
    _assert_same_evidence(reference, default)


def test_default_backend_is_the_fastest_the_interpreter_supports():
    expected = "monitoring" if sys.version_info >= (3, 12) else "settrace"
    assert check_interpreter(sys.executable, None) == expected  # before the C part is built: see test_accel


@pytest.mark.parametrize(
    "info, expected",
    [
        ({"monitoring": True, "hunter": "3.9"}, ["monitoring", "settrace", "hunter"]),
        ({"monitoring": False, "hunter": None}, ["settrace"]),
        ({"monitoring": False, "hunter": "3.9"}, ["settrace", "hunter"]),
        ({"monitoring": False, "hunter": "3.9", "ctrace": True}, ["ctrace", "settrace", "hunter"]),
        ({"monitoring": True, "hunter": None, "ctrace": True}, ["monitoring", "ctrace", "settrace"]),
    ],
)
def test_one_rule_for_backend_availability(info, expected):
    assert supported_backends(info) == expected
