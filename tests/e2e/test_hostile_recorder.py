"""The recorder against hostile or unusual targets: it never loses, invents or leaks evidence silently.

Each case is the TensorFlow-free miniature target (helpers.TINY_TARGET) with one change,
traced for real in a subprocess (`--no-fresh-load`, so a case takes about a second). Cases
run on the default backend and on `settrace` where the difference matters.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import THREADED, body, manager_source, tiny_target
from tracing import Run
from tracing import trace as traced

pytestmark = pytest.mark.slow  # every case traces the miniature target in a subprocess (about a second each)

BACKENDS = (["monitoring"] if sys.version_info >= (3, 12) else []) + ["settrace"]


def trace(tmp_path: Path, files: dict[str, str], backend: str) -> Run:
    """The miniature with `files` changed, traced with `backend` and no fresh process."""
    run = traced(tiny_target(tmp_path / "target", files), tmp_path / "out", "--no-fresh-load", "--backend", backend)
    assert "Traceback" not in run.stderr, run.stderr
    return run


def functions(record, thread: str = None) -> list[str]:
    return [c["function"] for c in record["calls"] if thread is None or c["thread"] == thread]


# -- A. no silent loss --------------------------------------------------------------------

MODEL_CALLS_HELPER = """
    def helper(n):
        return n + 1

    def create_model_with_gridsize(gridsize, N):
        {body}
        for i in range(5):
            helper(i)
        return ('autoencoder', 'diffraction_to_obj')
"""


def _model(body_line: str) -> dict[str, str]:
    return {"ptycho/model.py": "import sys, os\n" + textwrap.dedent(MODEL_CALLS_HELPER).replace("{body}", body_line)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_settrace_none_in_the_target(tmp_path, backend):
    run = trace(tmp_path, _model("sys.settrace(None)"), backend)
    if backend == "settrace":
        run.fails(3, "tracing was disturbed", "phase 'build'", "trace function was removed")
        assert run.record["status"] == "partial"
        assert "Tracing disturbed" in run.text("summary.md")
    else:
        run.ok()
        assert functions(run.record).count("ptycho.model:helper") == 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_recursion_error_caught_by_the_target(tmp_path, backend):
    files = {
        "ptycho/model.py": """
        def deep(n):
            return deep(n + 1)

        def helper(n):
            return n

        def create_model_with_gridsize(gridsize, N):
            try:
                deep(0)
            except RecursionError:
                pass
            for i in range(3):
                helper(i)
            return ('autoencoder', 'diffraction_to_obj')
    """
    }
    run = trace(tmp_path, files, backend)
    if run.code == 0:  # nothing lost: every call after the recursion is there
        assert functions(run.record).count("ptycho.model:helper") == 3
        assert "ptycho.model_manager:ModelManager.save_multiple_models" in functions(run.record)
    else:
        run.fails(3, "tracing was disturbed", "phase 'build'")


@pytest.mark.parametrize("backend", BACKENDS)
def test_target_switches_off_every_monitoring_tool(tmp_path, backend):
    line = (
        "[getattr(sys, 'monitoring') and [sys.monitoring.set_events(t, 0) for t in range(6) "
        "if sys.monitoring.get_tool(t) is not None]] if hasattr(sys, 'monitoring') else None"
    )
    run = trace(tmp_path, _model(line), backend)
    if backend == "monitoring":
        run.fails(3, "tracing was disturbed", "switched off", "phase 'build'")
    else:
        run.ok()
        assert functions(run.record).count("ptycho.model:helper") == 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_os_exit_after_save_is_not_ok(tmp_path, backend):
    run = trace(tmp_path, {"ptycho/model_manager.py": manager_source(after_save="os._exit(0)")}, backend)
    run.fails(3, "'cycle' ended in phase 'save' without reaching its end marker")
    assert run.record["status"] == "partial"
    assert "load_multiple_models" not in " ".join(functions(run.record))
    assert "never reached its end marker" in run.text("callchain/static.md")


@pytest.mark.parametrize("backend", BACKENDS)
def test_code_exec_compiled_inside_a_namespace_module_is_recorded(tmp_path, backend):
    files = {
        "ptycho/model.py": """
        SOURCE = "def generated(n):\\n    return n * 2\\n"
        exec(compile(SOURCE, "ptycho_generated.py", "exec"), globals())

        def create_model_with_gridsize(gridsize, N):
            generated(3)
            return ('autoencoder', 'diffraction_to_obj')
    """
    }
    run = trace(tmp_path, files, backend).ok()
    call = next(c for c in run.record["calls"] if c["function"] == "ptycho.model:generated")
    assert call["anchor"] is None and call["returned"] == "6"
    assert "ptycho.model:generated  (no source file)" in run.text("callgraph/dynamic.txt")


@pytest.mark.parametrize("backend", BACKENDS)
def test_module_that_renames_itself_is_reported_by_its_import_name(tmp_path, backend):
    files = {
        "ptycho/model.py": """
        __name__ = "renamed_model"

        def inner():
            return 1

        def create_model_with_gridsize(gridsize, N):
            inner()
            return ('autoencoder', 'diffraction_to_obj')
    """
    }
    run = trace(tmp_path, files, backend).ok()
    names = functions(run.record)
    assert "ptycho.model:create_model_with_gridsize" in names and "ptycho.model:inner" in names
    assert not any(name.startswith("renamed_model") for name in names)
    assert "module ptycho.model renamed itself" in run.text("callchain/static.md").lower()


# -- threads -----------------------------------------------------------------------------

# The threaded miniature of trace/test_unit_threads.py, run by the build phase.
BACKGROUND = {
    "ptycho/model.py": THREADED
    + """

def create_model_with_gridsize(gridsize, N):
    main_work(300)
    return ('autoencoder', 'diffraction_to_obj')
"""
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_busy_background_thread_loses_no_main_thread_call(tmp_path, backend):
    run = trace(tmp_path, BACKGROUND, backend).ok()
    main = functions(run.record, "main")
    assert main.count("ptycho.model:step") == 300
    assert "ptycho.model_manager:ModelManager.save_multiple_models" in main
    spinner = [c for c in run.record["calls"] if c["thread"] == "spinner-N"]
    assert spinner and {c["function"] for c in spinner} <= {"ptycho.model:spin", "ptycho.model:tick"}
    assert all(c["returned"] is not None for c in run.record["calls"])
    text = run.text("callgraph/dynamic.txt")
    assert "[thread spinner-N]" in text


POOL = {
    "ptycho/model_manager.py": """
    import os, zipfile
    from concurrent.futures import ThreadPoolExecutor

    def write_note(folder):
        path = os.path.join(folder, 'note.txt')
        with open(path, 'w') as handle:
            handle.write('written by a worker')
        return path

    class ModelManager:
        @staticmethod
        def save_multiple_models(models, base_path, custom_objects, intensity_scale):
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(write_note, os.path.dirname(base_path)).result()
            with zipfile.ZipFile(base_path + '.zip', 'w') as zf:
                zf.writestr('manifest.dill', b'')

        @staticmethod
        def load_multiple_models(base_path, model_names=None):
            return {}
"""
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_worker_thread_calls_and_writes_are_credited_to_the_worker(tmp_path, backend):
    run = trace(tmp_path, POOL, backend).ok()
    worker = next(c for c in run.record["calls"] if c["function"] == "ptycho.model_manager:write_note")
    assert worker["thread"] == "ThreadPoolExecutor-N_N" and worker["depth"] == 0
    assert worker["anchor"] == "ptycho/model_manager.py:5" and worker["phase"] == "save"
    sink = next(s for s in run.record["sinks"] if s["path"].endswith("/note.txt"))
    assert sink["by"] == "ptycho/model_manager.py:7" and not sink["native"]
    lines = body(run.text("callgraph/dynamic.txt"))
    at = lines.index("[thread ThreadPoolExecutor-N_N]")
    assert lines[at + 1].startswith("ptycho.model_manager:write_note  ptycho/model_manager.py:5  => '")
    document = json.loads(run.text("trace/trace.json"))
    names = {e["args"]["name"] for e in document["traceEvents"] if e["name"] == "thread_name"}
    assert "calls · ThreadPoolExecutor-N_N" in names


def test_threaded_runs_are_byte_identical(tmp_path):
    first = trace(tmp_path / "a", POOL, BACKENDS[0])
    second = trace(tmp_path / "b", POOL, BACKENDS[0])
    assert body(first.text("callgraph/dynamic.txt")) == body(second.text("callgraph/dynamic.txt"))
    assert first.record["edges"] == second.record["edges"]


def test_backends_agree_on_threads(tmp_path):
    trees = [body(trace(tmp_path / b, BACKGROUND, b).text("callgraph/dynamic.txt")) for b in BACKENDS]
    # The spinner's calls (and so the build phase's count) depend on timing; everything else may not.
    main_parts = [
        [re.sub(r" · \d+ calls? kept.*\]$", "]", line) for line in tree if "tick" not in line and "spin" not in line]
        for tree in trees
    ]
    assert all(part == main_parts[0] for part in main_parts)


# -- processes ---------------------------------------------------------------------------

FORK = {
    "ptycho/model.py": """
    import os

    def in_child(n):
        return n + 1

    def after(n):
        return n

    def create_model_with_gridsize(gridsize, N):
        pid = os.fork()
        if pid == 0:
            in_child(1)
            os._exit(0)
        os.waitpid(pid, 0)
        after(2)
        return ('autoencoder', 'diffraction_to_obj')
"""
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_forked_child_never_writes_into_the_parents_stream(tmp_path, backend):
    run = trace(tmp_path, FORK, backend).ok()
    cycle = [c for c in run.record["calls"] if c["process"] == "cycle"]
    assert "ptycho.model:in_child" not in [c["function"] for c in cycle]
    assert [c["function"] for c in cycle].count("ptycho.model:after") == 1
    assert all(c["returned"] is not None for c in cycle)
    child = [c for c in run.record["calls"] if c["process"] == "cycle/fork1"]
    assert [c["function"] for c in child] == ["ptycho.model:in_child"] and child[0]["returned"] == "2"
    parent = next(p for p in run.record["processes"] if p["label"] == "cycle")
    assert len(parent["forks"]) == 1 and parent["forks"][0]["phase"] == "build"


def test_process_pool_with_fork_keeps_the_parent_tree_intact(tmp_path):
    files = {
        "ptycho/model.py": """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        def square(n):
            return n * n

        def after(n):
            return n

        def create_model_with_gridsize(gridsize, N):
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context('fork')) as pool:
                assert list(pool.map(square, range(3))) == [0, 1, 4]
            after(1)
            return ('autoencoder', 'diffraction_to_obj')
    """
    }
    run = trace(tmp_path, files, BACKENDS[0]).ok()
    cycle = [c for c in run.record["calls"] if c["process"] == "cycle"]
    assert "ptycho.model:square" not in [c["function"] for c in cycle]
    assert all(c["returned"] is not None for c in cycle)
    forked = [c["function"] for c in run.record["calls"] if c["process"].startswith("cycle/fork")]
    assert forked.count("ptycho.model:square") == 3


# -- D. observer effect --------------------------------------------------------------------

HOSTILE = {
    "ptycho/model.py": """
    import os

    def _touch(why):
        with open(os.path.join(os.environ['TMPDIR'], '..', 'touched.txt'), 'a') as handle:
            handle.write(why + '\\n')

    class Hostile:
        def __getattr__(self, name):
            _touch('getattr ' + name)
            raise RuntimeError('no attribute for you')
        def __repr__(self):
            _touch('repr')
            raise RuntimeError('no repr')
        def __len__(self):
            _touch('len')
            raise RuntimeError('no len')
        def __eq__(self, other):
            _touch('eq')
            raise RuntimeError('no eq')
        __hash__ = object.__hash__
        @property
        def shape(self):
            _touch('shape')
            return (1,)
        @property
        def dtype(self):
            _touch('dtype')
            return 'float32'

    class HostileDict(dict):
        def __len__(self):
            _touch('dict len')
            return 0
        def items(self):
            _touch('dict items')
            return []

    def make():
        return Hostile()

    def make_dict():
        return HostileDict(a=Hostile())

    def make_list():
        return [Hostile(), {Hostile(): Hostile()}]

    def create_model_with_gridsize(gridsize, N):
        make()
        make_dict()
        make_list()
        return ('autoencoder', 'diffraction_to_obj')
"""
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_summaries_never_run_the_targets_code(tmp_path, backend):
    run = trace(tmp_path, HOSTILE, backend).ok()
    scratch = Path(run.record["scratch"])
    assert not (scratch / "touched.txt").exists(), (scratch / "touched.txt").read_text()
    returned = {c["function"]: c["returned"] for c in run.record["calls"]}
    assert returned["ptycho.model:make"] == "ptycho.Hostile"
    assert returned["ptycho.model:make_dict"].startswith("dict[1]")
    untraced = traced(tmp_path / "target", tmp_path / "out2", "--no-fresh-load", "--untraced")
    assert untraced.code == run.code == 0


def test_target_using_cprofile_works_traced(tmp_path):
    profiled = _model("import cProfile; p = cProfile.Profile(); p.enable(); p.disable()")
    run = trace(tmp_path, profiled, BACKENDS[0]).ok()
    assert functions(run.record).count("ptycho.model:helper") == 5


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring needs Python 3.12")
def test_monitoring_tool_id_is_not_the_profilers_and_is_reported(tmp_path):
    assert trace(tmp_path, {}, "monitoring").ok().env["recorder"]["monitoring_tool_id"] in (3, 4)


# -- E. torch refused, however it is loaded ----------------------------------------------

TORCH_FOLDER = {"torch/__init__.py": "LOADED = True\n", "lightning/__init__.py": "LOADED = True\n"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_loaded_by_spec_from_file_location_fails_the_run(tmp_path, backend):
    files = dict(
        TORCH_FOLDER,
        **{
            "ptycho/probe.py": """
        import importlib.util, os

        def set_default_probe():
            path = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'torch', '__init__.py')
            spec = importlib.util.spec_from_file_location('torch', path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    """
        },
    )
    run = trace(tmp_path, files, backend)
    run.fails(3, "module 'torch' executed", "ptycho/probe.py:8", "torch-free")
    for name in ("summary.md", "callchain/static.md"):
        text = run.text(name)
        assert "Module `torch` executed" in text and "`ptycho/probe.py:8`" in text


@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_through_a_finder_placed_first_fails_the_run(tmp_path, backend):
    files = dict(
        TORCH_FOLDER,
        **{
            "ptycho/probe.py": """
        import importlib.abc, importlib.util, os, sys

        ROOT = os.path.dirname(os.path.dirname(__file__))

        class Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name in ('torch', 'lightning'):
                    return importlib.util.spec_from_file_location(name, os.path.join(ROOT, name, '__init__.py'))
                return None

        def set_default_probe():
            sys.meta_path.insert(0, Finder())
            import lightning
    """
        },
    )
    run = trace(tmp_path, files, backend)
    run.fails(3, "module 'lightning' executed", "ptycho/probe.py:14")


# -- determinism ---------------------------------------------------------------------------


def test_two_runs_of_a_deterministic_target_are_byte_identical(tmp_path):
    runs = [trace(tmp_path / n, _model("pass"), BACKENDS[0]) for n in ("a", "b")]
    for name in ("callgraph/dynamic.txt", "callchain/diagram.mmd", "trace/tap_points.md"):
        texts = [body(run.text(name)) for run in runs]
        assert texts[0] == texts[1], name
    assert runs[0].record["edges"] == runs[1].record["edges"]


def test_spawned_workers_are_guarded_traced_and_counted(tmp_path):
    files = dict(
        TORCH_FOLDER,
        **{
            "ptycho/model.py": """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        def square(n):
            return n * n

        def try_torch(n):
            try:
                import torch
            except ImportError:
                return 'blocked'
            return 'imported'

        def create_model_with_gridsize(gridsize, N):
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context('spawn')) as pool:
                assert list(pool.map(square, range(3))) == [0, 1, 4]
                assert pool.submit(try_torch, 0).result() == 'blocked'
            return ('autoencoder', 'diffraction_to_obj')
    """
        },
    )
    run = trace(tmp_path, files, BACKENDS[0]).ok()
    spawned = [p for p in run.record["processes"] if p.get("spawn")]
    assert len(spawned) == 1
    calls = [c["function"] for c in run.record["calls"] if c["process"] == spawned[0]["label"]]
    assert calls.count("ptycho.model:square") == 3 and "ptycho.model:try_torch" in calls
    assert {"module": "torch", "importer": "ptycho/model.py:10"} in spawned[0]["blocked_imports"]
    assert "1 Python process(es) were spawned" in run.text("summary.md")


# -- the demo (TensorFlow): a worker thread writes part of the archive --------------------

WORKER = '''

def _write_params(path, saved_params):
    """Runs in a ThreadPoolExecutor worker during save."""
    with open(path, 'wb') as f:
        dill.dump(saved_params, f)
    return path
'''


@pytest.mark.slow
def test_demo_worker_thread_during_save_is_recorded_5_of_5(tmp_path):
    import shutil

    from conftest import DEMO

    root = tmp_path / "demo"
    shutil.copytree(DEMO, root)
    manager = root / "ptycho" / "model_manager.py"
    text = manager.read_text()
    text = text.replace("import zipfile\n", "import zipfile\nfrom concurrent.futures import ThreadPoolExecutor\n", 1)
    old = (
        "        with open(os.path.join(model_dir, 'params.dill'), 'wb') as f:\n"
        "            dill.dump(saved_params, f)\n"
    )
    assert old in text
    text = text.replace(
        old,
        "        with ThreadPoolExecutor(max_workers=1) as pool:\n"
        "            pool.submit(_write_params, os.path.join(model_dir, 'params.dill'),\n"
        "                        saved_params).result()\n",
    )
    text = text.replace("\n\nclass ModelManager:", WORKER + "\n\nclass ModelManager:", 1)
    manager.write_text(text)
    lines = text.splitlines()
    def_line = lines.index("def _write_params(path, saved_params):") + 1
    open_line = lines.index("    with open(path, 'wb') as f:") + 1
    trees = []
    for attempt in range(5):
        run = traced(root, tmp_path / "out", "--no-fresh-load", timeout=900)
        assert run.code == 0, (attempt, run.stderr)
        record = run.record
        workers = [c for c in record["calls"] if c["qualname"] == "_write_params"]
        assert len(workers) == 2, attempt  # one per model
        assert {c["thread"] for c in workers} == {"ThreadPoolExecutor-N_N"}
        assert {c["anchor"] for c in workers} == {f"ptycho/model_manager.py:{def_line}"}
        params = [
            s
            for s in record["sinks"]
            if s["path"].endswith("/params.dill") and s["op"] == "write" and s["phase"] == "save"
        ]
        assert len(params) == 2, (attempt, params)
        assert {s["by"] for s in params} == {f"ptycho/model_manager.py:{open_line}"}, (attempt, params)
        assert not any(s["native"] for s in params)
        summary = run.text("summary.md")
        recipe = next(line for line in summary.splitlines() if line.startswith("| `autoencoder/params.dill` |"))
        assert f"| `ptycho/model_manager.py:{open_line}` |" in recipe  # written at the worker's open line
        trees.append(body(run.text("callgraph/dynamic.txt")))
    assert all(tree == trees[0] for tree in trees)
    assert "[thread ThreadPoolExecutor-N_N]" in trees[0]


def test_every_backend_gives_the_same_tree_with_a_worker_thread(tmp_path):
    import importlib.util

    from harness.run.interpreter import supported_backends

    backends = supported_backends(
        {"monitoring": hasattr(sys, "monitoring"), "hunter": importlib.util.find_spec("hunter")}
    )
    runs = {backend: trace(tmp_path / backend, POOL, backend) for backend in backends}
    trees = {backend: body(run.text("callgraph/dynamic.txt")) for backend, run in runs.items()}
    assert len(set(map(tuple, trees.values()))) == 1, trees
    assert all(run.record["sinks"] == runs[backends[0]].record["sinks"] for run in runs.values())


def test_config_change_made_in_a_worker_is_credited_to_the_worker(tmp_path):
    files = {
        "ptycho/model.py": """
        from concurrent.futures import ThreadPoolExecutor
        from ptycho import params

        def configure_in_worker():
            params.set('worker_key', 7)

        def create_model_with_gridsize(gridsize, N):
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(configure_in_worker).result()
            return ('autoencoder', 'diffraction_to_obj')
    """
    }
    for backend in BACKENDS:
        run = trace(tmp_path / backend, files, backend).ok()
        change = next(c for c in run.record["config"]["changes"] if c["key"] == "worker_key")
        by = run.record["calls"][change["by"]]
        assert by["function"] == "ptycho.params:set" and by["thread"] == "ThreadPoolExecutor-N_N", (backend, by)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_daemon_thread_still_running_at_the_end_is_a_note_not_a_loss(tmp_path, backend):
    files = {
        "ptycho/model.py": """
        import threading, time

        def forever():
            while True:
                time.sleep(0.01)

        def create_model_with_gridsize(gridsize, N):
            threading.Thread(target=forever, name="poller", daemon=True).start()
            time.sleep(0.05)
            return ('autoencoder', 'diffraction_to_obj')
    """
    }
    run = trace(tmp_path, files, backend).ok()
    poller = [c for c in run.record["calls"] if c["thread"] == "poller"]
    assert [c["function"] for c in poller] == ["ptycho.model:forever"] and poller[0]["returned"] is None
    assert "thread poller was still running at the end" in run.text("callchain/static.md").lower()


def test_programs_the_target_starts_are_counted_and_python_ones_traced(tmp_path):
    files = {
        "ptycho/model.py": """
        import os, subprocess, sys

        ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

        def create_model_with_gridsize(gridsize, N):
            subprocess.run([sys.executable, '-c', 'import ptycho.params as p; p.set("k", 1)'], check=True, cwd=ROOT)
            subprocess.run([sys.executable, '-B', '-c', 'import ptycho.params'], check=True, env={}, cwd=ROOT)
            subprocess.run(['true'], check=True)
            return ('autoencoder', 'diffraction_to_obj')
    """
    }
    run = trace(tmp_path, files, BACKENDS[0]).ok()
    cycle = next(p for p in run.record["processes"] if p["label"] == "cycle")
    assert [s["program"] for s in cycle["started"]] == [Path(sys.executable).name, Path(sys.executable).name, "true"]
    assert [s["by"] for s in cycle["started"]] == ["ptycho/model.py:7", "ptycho/model.py:8", "ptycho/model.py:9"]
    spawned = [p for p in run.record["processes"] if p.get("spawn")]
    assert len(spawned) == 1  # the child with a cleared environment ran untraced: counted, not traced
    assert "ptycho.params:set" in [c["function"] for c in run.record["calls"] if c["process"] == spawned[0]["label"]]
    text = run.text("callchain/static.md")
    assert "The traced code started 3 program(s)" in text and "`true`" in text
