"""Every recorder backend gives the same evidence: same tree, same edges, same taps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
from conftest import callchain, load_run, other_python, report_of, traced_demo
from helpers import body, tiny_target

from harness.run.interpreter import check_interpreter, probe, supported_backends
from harness.trace import accel

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


def _assert_same_evidence(one, other) -> None:
    read = lambda run, name: (run.report / name).read_text()  # noqa: E731
    assert body(read(other, "callgraph/dynamic.txt")) == body(read(one, "callgraph/dynamic.txt"))
    edges = "## 8. Callgraph Edge List"
    assert _section(read(other, "callchain/static.md"), edges) == _section(read(one, "callchain/static.md"), edges)
    assert read(other, "trace/tap_points.md") == read(one, "trace/tap_points.md")
    assert other.record["edges"] == one.record["edges"]
    config = lambda run: [(c["phase"], c["key"], c["op"], c["at"]) for c in run.record["config"]["changes"]]  # noqa: E731
    assert config(other) == config(one)
    library = lambda run: {  # noqa: E731
        (r["process"], r["phase"], r["thread"], r["at"] or "", r["callee"]): r["count"]
        for r in run.record["library_calls"]
    }
    backends = (one.record["recorder"]["backend"], other.record["recorder"]["backend"])
    if "monitoring" in backends and len(set(backends)) == 2:
        # Python started by a C callable (h5py's Cython with_phil wrapper, numpy's C dispatchers)
        # is seen by the trace backends only (harness/trace/libcalls.py): what monitoring reports,
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


# A target whose save and load make every kind of exact-line evidence without TensorFlow (so a
# bare 3.10/3.11 interpreter runs it): a config update, a config write through a helper outside
# the namespace, library calls (zipfile, os.path, sqlite3) and a native write (SQLite's C code).
EXACT_LINES_TARGET = {
    "confhelper.py": """
        def put(mapping, key, value):
            mapping[key] = value
    """,
    "ptycho/model_manager.py": """
        import os, sqlite3, zipfile
        import confhelper
        from ptycho import params

        class ModelManager:
            @staticmethod
            def save_multiple_models(models, base_path, custom_objects, intensity_scale):
                folder = os.path.dirname(base_path)
                connection = sqlite3.connect(os.path.join(folder, 'native.db'))
                connection.execute('create table t (x)')
                connection.commit()
                connection.close()
                with zipfile.ZipFile(base_path + '.zip', 'w') as zf:
                    zf.writestr('manifest.dill', b'')

            @staticmethod
            def load_multiple_models(base_path, model_names=None):
                loaded = {'N': 64, 'gridsize': 1}
                params.cfg.update(loaded)
                confhelper.put(params.cfg, 'probe.big', True)
                return {}
    """,
}


def _line_of(text: str, snippet: str) -> int:
    return next(n for n, line in enumerate(textwrap.dedent(text).splitlines(), 1) if snippet in line)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.10", "3.11"])
def test_ctrace_hook_gives_the_lines_and_library_calls_of_settrace(tmp_path, version):
    """On 3.10/3.11 ctrace's frame-evaluation hook, not a trace function, decides every frame:
    config changes, native writes and library calls must still be what settrace records."""
    python = other_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine")
    root = tiny_target(tmp_path / "target", EXACT_LINES_TARGET)
    runs = {}
    for backend in ("ctrace", "settrace"):
        out = tmp_path / backend
        done = callchain("trace", "--root", str(root), "--python", python, "--backend", backend, "--out", str(out))
        assert done.returncode == 0, done.stderr
        runs[backend] = SimpleNamespace(report=report_of(done), record=load_run(report_of(done)))
        assert runs[backend].record["recorder"]["backend"] == backend
    source = EXACT_LINES_TARGET["ptycho/model_manager.py"]
    ctrace = runs["ctrace"].record
    assert ctrace["recorder"]["accelerated"].startswith("yes")
    changes = {(c["phase"], c["key"]): c["at"] for c in ctrace["config"]["changes"]}
    assert changes[("fresh-load", "N")] == f"ptycho/model_manager.py:{_line_of(source, 'params.cfg.update')}"
    assert changes[("load", "probe.big")] == f"ptycho/model_manager.py:{_line_of(source, 'confhelper.put')}"
    callees = {(r["callee"], r["at"]) for r in ctrace["library_calls"]}
    assert ("zipfile:ZipFile.__init__", f"ptycho/model_manager.py:{_line_of(source, 'zipfile.ZipFile(')}") in callees
    native = [s for s in ctrace["sinks"] if s["path"].endswith("native.db")]
    assert native and native[0]["by"].startswith("ptycho/model_manager.py:")
    assert f":{_line_of(source, 'def save_multiple_models')} " not in native[0]["by"]
    _assert_same_evidence(runs["settrace"], runs["ctrace"])
