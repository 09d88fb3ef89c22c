"""The recorder and every backend, in-process on tiny code: depth, anchors, call sites,
decorators, generators, exceptions and framework call-backs, and equality across backends."""

from __future__ import annotations

import textwrap

import pytest

import importlib.util
import sys

from harness.interpreter import supported_backends
from inprocess import record_package, stable

BACKENDS = supported_backends({"monitoring": hasattr(sys, "monitoring"), "hunter": importlib.util.find_spec("hunter")})

FILES = {
    "minipkg/__init__.py": "",
    "minipkg/params.py": """
        cfg = {'N': 128}

        def set(key, value):
            cfg[key] = value
    """,
    "minipkg/core.py": """
        import functools
        import foreignlib
        from minipkg import params


        def traced(function):
            @functools.wraps(function)
            def wrapper(*args):
                return function(*args)
            return wrapper


        @traced
        def decorated(x):
            return x + 1


        def leaf(x):
            return x * 2


        def outer(x):
            y = leaf(x)
            return decorated(y)


        def numbers(n):
            for k in range(n):
                yield k


        def consume():
            return sum(numbers(3))


        def fails():
            raise ValueError('no')


        def catches():
            try:
                fails()
            except ValueError:
                return 'caught'


        def callback(item):
            return item * 10


        def via_foreign():
            return foreignlib.apply(callback, [1, 2])


        def configure():
            params.set('N', 64)
            params.set('gridsize', 1)


        class Layer:
            def __init__(self, size):
                self.size = size

            def get_config(self):
                return {'size': self.size}
    """,
    "minipkg_torch/__init__.py": """
        def save():
            return 'not ours'
    """,
    "foreignlib.py": """
        def apply(function, items):
            return [function(item) for item in items]
    """,
}


def at(snippet: str) -> str:
    """`minipkg/core.py:N` of the first line holding `snippet`, computed, never remembered."""
    lines = textwrap.dedent(FILES["minipkg/core.py"]).splitlines()
    return f"minipkg/core.py:{next(n for n, line in enumerate(lines, 1) if snippet in line)}"


def _run(tmp_path, backend, drive, **kwargs):
    return record_package(tmp_path, FILES, drive, backend, **kwargs)


def _functions(run):
    return [call["function"] for call in run["calls"]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_calls_have_depth_parent_and_call_site(tmp_path, backend):
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.core").outer(3))
    calls = {c["function"]: c for c in run["calls"]}
    outer, leaf = calls["minipkg.core:outer"], calls["minipkg.core:leaf"]
    assert outer["depth"] == 0 and outer["parent"] is None
    assert leaf["depth"] == 1 and leaf["parent"] == outer["i"]
    assert leaf["call_site"] == at("y = leaf(x)")
    assert leaf["anchor"] == at("def leaf") and outer["anchor"] == at("def outer")
    assert outer["returned"] == "7"


@pytest.mark.parametrize("backend", BACKENDS)
def test_decorated_function_is_anchored_at_its_def_line(tmp_path, backend):
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.core").decorated(1))
    calls = {c["function"]: c for c in run["calls"]}
    assert calls["minipkg.core:decorated"]["anchor"] == at("def decorated")  # not the `@traced` line above
    assert calls["minipkg.core:traced.<locals>.wrapper"]["anchor"] == at("def wrapper")


@pytest.mark.parametrize("backend", BACKENDS)
def test_generator_resumptions_are_recorded_under_their_consumer(tmp_path, backend):
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.core").consume())
    consume = next(c for c in run["calls"] if c["function"] == "minipkg.core:consume")
    resumes = [c for c in run["calls"] if c["function"] == "minipkg.core:numbers"]
    assert resumes and all(c["parent"] == consume["i"] for c in resumes)
    assert consume["returned"] == "3"


@pytest.mark.parametrize("backend", BACKENDS)
def test_exception_is_recorded_as_raised(tmp_path, backend):
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.core").catches())
    calls = {c["function"]: c for c in run["calls"]}
    assert calls["minipkg.core:fails"]["returned"] == "raised ValueError"
    assert calls["minipkg.core:catches"]["returned"] == "'caught'"


@pytest.mark.parametrize("backend", BACKENDS)
def test_callback_from_foreign_code_keeps_the_innermost_namespace_caller(tmp_path, backend):
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.core").via_foreign())
    via = next(c for c in run["calls"] if c["function"] == "minipkg.core:via_foreign")
    callbacks = [c for c in run["calls"] if c["function"] == "minipkg.core:callback"]
    assert len(callbacks) == 2
    assert all(c["parent"] == via["i"] and not c["direct"] for c in callbacks)
    assert callbacks[0]["call_site"] == at("return foreignlib.apply")  # the line that called into foreignlib
    assert not any(f.startswith("foreignlib") for f in _functions(run))


@pytest.mark.parametrize("backend", BACKENDS)
def test_namespace_is_exact(tmp_path, backend):
    def drive(imp):
        imp("minipkg_torch").save()
        imp("minipkg.core").leaf(1)

    run = _run(tmp_path, backend, drive)
    assert "minipkg.core:leaf" in _functions(run)
    assert not any(f.startswith("minipkg_torch") for f in _functions(run))


@pytest.mark.parametrize("backend", BACKENDS)
def test_methods_are_named_by_qualname(tmp_path, backend):
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.core").Layer(4).get_config())
    calls = {c["function"]: c for c in run["calls"]}
    assert calls["minipkg.core:Layer.__init__"]["anchor"] == at("def __init__")
    assert calls["minipkg.core:Layer.get_config"]["returned"] == "dict[1] {size: 4}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_config_changes_are_credited_to_the_running_call(tmp_path, backend):
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.core").configure(), config_global="minipkg.params:cfg")
    by_index = {c["i"]: c for c in run["calls"]}
    changes = {c["key"]: c for c in run["config"]["changes"]}
    assert changes["N"]["op"] == "changed" and (changes["N"]["old"], changes["N"]["new"]) == ("128", "64")
    assert changes["gridsize"]["op"] == "added"
    assert by_index[changes["N"]["by"]]["function"] in ("minipkg.params:set", "minipkg.core:configure")
    assert run["config"]["snapshots"]["main:end"] == {"N": "64", "gridsize": "1"}


def test_every_backend_keeps_the_same_calls(tmp_path):
    def drive(imp):
        core = imp("minipkg.core")
        core.outer(1), core.consume(), core.catches(), core.via_foreign(), core.Layer(2).get_config()

    runs = {backend: _run(tmp_path / backend, backend, drive) for backend in BACKENDS}
    reference = stable(runs[BACKENDS[0]]["calls"])
    assert len(reference) >= 12
    for backend, run in runs.items():
        assert stable(run["calls"]) == reference, backend
        assert run["edges"] == runs[BACKENDS[0]]["edges"], backend


def test_two_runs_give_identical_calls(tmp_path):
    drive = lambda imp: imp("minipkg.core").outer(2)  # noqa: E731
    first = _run(tmp_path / "a", BACKENDS[0], drive)
    second = _run(tmp_path / "b", BACKENDS[0], drive)
    assert stable(first["calls"]) == stable(second["calls"])
