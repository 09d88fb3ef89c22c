"""The recorder and every backend, in-process on tiny code: depth, anchors, call sites,
decorators, generators, exceptions and framework call-backs, and equality across backends."""

from __future__ import annotations

import sys
import textwrap

import pytest
from inprocess import AVAILABLE as BACKENDS
from inprocess import MINIPKG, record_package, stable

from harness.trace import accel


def at(snippet: str) -> str:
    """`minipkg/core.py:N` of the first line holding `snippet`, computed, never remembered."""
    lines = textwrap.dedent(MINIPKG["minipkg/core.py"]).splitlines()
    return f"minipkg/core.py:{next(n for n, line in enumerate(lines, 1) if snippet in line)}"


def _run(tmp_path, backend, drive, **kwargs):
    return record_package(tmp_path, MINIPKG, drive, backend, **kwargs)


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


def _params_at(snippet: str) -> str:
    lines = textwrap.dedent(MINIPKG["minipkg/params.py"]).splitlines()
    return f"minipkg/params.py:{next(n for n, line in enumerate(lines, 1) if snippet in line)}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_config_changes_are_anchored_at_the_line_that_made_them(tmp_path, backend):
    run = _run(
        tmp_path,
        backend,
        lambda imp: imp("minipkg.core").configure_inline({"N": 32, "nphotons": 1e9}),
        config_global="minipkg.params:cfg",
    )
    changes = {c["key"]: c for c in run["config"]["changes"]}
    assert changes["N"]["at"] == at("params.cfg.update(loaded)")  # not the def line of configure_inline
    assert changes["nphotons"]["at"] == at("params.cfg.update(loaded)")
    assert changes["offset"]["at"] == at("params.cfg['offset'] = size")
    assert changes["offset"]["function"] == "configure_inline"


@pytest.mark.parametrize("backend", BACKENDS)
def test_config_written_by_a_helper_outside_the_namespace_credits_the_calling_line(tmp_path, backend):
    run = _run(
        tmp_path, backend, lambda imp: imp("minipkg.core").configure_inline({}), config_global="minipkg.params:cfg"
    )
    changes = {c["key"]: c for c in run["config"]["changes"]}
    assert changes["probe"]["at"] == at("foreignlib.write_config(")
    assert changes["probe"]["new"] == "'helper'"


@pytest.mark.parametrize("backend", BACKENDS)
def test_config_written_in_a_namespace_helper_is_anchored_in_the_helper(tmp_path, backend):
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.core").configure(), config_global="minipkg.params:cfg")
    changes = {c["key"]: c for c in run["config"]["changes"]}
    assert changes["N"]["at"] == _params_at("cfg[key] = value")
    assert changes["N"]["function"] == "set"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_native_write_is_credited_to_the_line_of_the_library_call(tmp_path, backend):
    pytest.importorskip("h5py")
    folder = tmp_path / "out"
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.store").save(str(folder)), sinks=True)
    lines = textwrap.dedent(MINIPKG["minipkg/store.py"]).splitlines()
    h5_line = next(n for n, line in enumerate(lines, 1) if "h5py.File(" in line)
    written = [s for s in run["sinks"] if s["path"].endswith("model.h5")]
    assert len(written) == 1 and written[0]["native"]
    assert written[0]["by"].startswith(f"minipkg/store.py:{h5_line} ")  # not the def line of save


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_file_the_run_wrote_is_recorded_when_read_back_at_the_opening_line(tmp_path, backend):
    """Reads are recorded only for files the run itself wrote (an archive member read back
    by the load), once per line: the recipe's "read back at" column comes from them."""
    pytest.importorskip("h5py")
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.store").roundtrip(str(tmp_path / "out")), sinks=True)
    lines = textwrap.dedent(MINIPKG["minipkg/store.py"]).splitlines()
    read_line = next(n for n, line in enumerate(lines, 1) if line.strip() == "with open(path) as handle:")
    reads = [s for s in run["sinks"] if s["op"] == "read"]
    assert [(s["path"].rpartition("/")[2], s["by"]) for s in reads] == [("params.txt", f"minipkg/store.py:{read_line}")]


def _uses_at(snippet: str) -> str:
    lines = textwrap.dedent(MINIPKG["minipkg/uses.py"]).splitlines()
    return f"minipkg/uses.py:{next(n for n, line in enumerate(lines, 1) if snippet in line)}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_library_calls_are_named_at_their_line_and_folded(tmp_path, backend):
    run = _run(tmp_path, backend, lambda imp: imp("minipkg.uses").uses(str(tmp_path / "x")))
    rows = {(r["callee"], r["at"]): r for r in run["library_calls"]}
    assert rows[("foreignlib:apply", _uses_at("foreignlib.apply("))]["count"] == 1
    assert rows[("json:dumps", _uses_at("json.dumps("))]["count"] == 2  # folded: one row, counted
    assert ("foreignlib:Handle.__init__", _uses_at("foreignlib.Handle(")) in rows
    assert ("foreignlib:Handle.__exit__", _uses_at("with handle")) in rows  # the with statement calls __exit__
    assert ("foreignlib:write_config", _uses_at("helper(1)")) in rows  # through functools.partial
    # a class with a Python __new__ is one row named by the class, whichever __init__ follows
    assert ("foreignlib:Made", _uses_at("made = foreignlib.Made(1)")) in rows
    assert ("foreignlib:Made", _uses_at("plain = foreignlib.Made()")) in rows
    assert not any(
        r["at"] in (_uses_at("Made(1)"), _uses_at("Made()")) and "__init__" in r["callee"] for r in run["library_calls"]
    )
    assert not any(r["at"] == _uses_at("apply(*(") for r in run["library_calls"])  # f(*args): not counted
    row = rows[("foreignlib:apply", _uses_at("foreignlib.apply("))]
    assert (row["function"], row["phase"], row["thread"]) == ("uses", "run", "main")
    callees = {r["callee"] for r in run["library_calls"]}
    assert not any("__enter__" in c or "__len__" in c or "numbers" in c or "size" in c for c in callees)
    assert not any(c.startswith(("minipkg", "harness")) for c in callees)  # kept code and the recorder itself


def test_every_backend_gives_the_same_library_calls(tmp_path):
    def drive(imp):
        imp("minipkg.uses").uses(str(tmp_path / "x"))
        imp("minipkg.core").via_foreign(), imp("minipkg.core").configure_inline({"N": 8})

    runs = {
        backend: _run(tmp_path / backend, backend, drive, config_global="minipkg.params:cfg") for backend in BACKENDS
    }
    reference = sorted(runs[BACKENDS[0]]["library_calls"], key=lambda r: (r["callee"], r["at"]))
    assert len(reference) >= 6
    for backend, run in runs.items():
        assert sorted(run["library_calls"], key=lambda r: (r["callee"], r["at"])) == reference, backend


def test_every_backend_keeps_the_same_calls(tmp_path):
    def drive(imp):
        core = imp("minipkg.core")
        core.outer(1), core.consume(), core.catches(), core.via_foreign(), core.Layer(2).get_config()
        core.configure(), core.configure_inline({"N": 16})

    runs = {
        backend: _run(tmp_path / backend, backend, drive, config_global="minipkg.params:cfg") for backend in BACKENDS
    }
    reference = stable(runs[BACKENDS[0]]["calls"])
    assert len(reference) >= 12
    for backend, run in runs.items():
        assert stable(run["calls"]) == reference, backend
        assert run["edges"] == runs[BACKENDS[0]]["edges"], backend
        assert run["config"]["changes"] == runs[BACKENDS[0]]["config"]["changes"], backend


def test_two_runs_give_identical_calls(tmp_path):
    drive = lambda imp: imp("minipkg.core").outer(2)  # noqa: E731
    first = _run(tmp_path / "a", BACKENDS[0], drive)
    second = _run(tmp_path / "b", BACKENDS[0], drive)
    assert stable(first["calls"]) == stable(second["calls"])


@pytest.mark.skipif("ctrace" not in BACKENDS, reason="the C tracer could not be built here (no compiler or headers)")
def test_ctrace_really_runs_the_compiled_filter(tmp_path):
    import sys

    installed = []
    run = _run(
        tmp_path, "ctrace", lambda imp: installed.append(accel.loaded().current()) or imp("minipkg.core").outer(1)
    )
    assert len(installed) == 1 and type(installed[0]).__name__ == "Tracer"
    assert not installed[0].installed  # read after stop
    hook = "frame-evaluation hook" if sys.version_info < (3, 12) else "C trace function"
    assert installed[0].mechanism.startswith(hook)
    assert accel.loaded().current() is None  # stopped
    assert run["events"]["seen"] > run["events"]["kept"] >= 3


MANY = 1500  # more (code, globals) pairs than the C table's first size, so it grows while tracing


def _many_files():
    functions = "\n".join(f"def f{n}(x):\n    return x + {n}\n" for n in range(MANY))
    every = f"\n\ndef all_of_them():\n    return [globals()['f' + str(n)](1) for n in range({MANY})]\n"
    return dict(
        MINIPKG,
        **{
            "minipkg/many.py": functions + every,
            "minipkg/dynamic.py": """
                              def run(count):
                                  # Fresh code objects, each freed after its one call: a freed
                                  # code's address is reused, and must never be taken for another.
                                  total = 0
                                  for n in range(count):
                                      namespace = {'__name__': 'minipkg.dynamic'}
                                      source = f'def made(x):\\n    return x + {n}\\n'
                                      exec(compile(source, '<made>', 'exec'), namespace)
                                      total += namespace['made'](n)
                                  return total
                          """,
        },
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_and_short_lived_code_objects_lose_no_call(tmp_path, backend):
    def drive(imp):
        imp("minipkg.many").all_of_them()
        imp("minipkg.dynamic").run(300)

    run = record_package(tmp_path, _many_files(), drive, backend)
    functions = _functions(run)
    assert sum(f.startswith("minipkg.many:f") for f in functions) == MANY
    assert functions.count("minipkg.dynamic:made") == 300


FLOW = """
    import asyncio


    def counter():
        total = 0
        while True:
            try:
                got = yield total
            except KeyError:
                got = 100
            total += got or 0


    def drive_generator():
        gen = counter()
        next(gen)
        gen.send(2)
        gen.throw(KeyError)          # thrown in, caught inside, resumed
        gen.close()                  # GeneratorExit
        return 'done'


    def leaks():
        gen = counter()
        next(gen)
        try:
            gen.throw(RuntimeError('out'))   # thrown in, not caught: ends the generator
        except RuntimeError:
            return 'leaked'


    async def child(n):
        await asyncio.sleep(0)
        if n == 2:
            raise LookupError('two')
        return n


    async def parent():
        results = []
        for n in range(3):
            try:
                results.append(await child(n))
            except LookupError:
                results.append(-1)
        return results


    def run_async():
        return asyncio.run(parent())


    class Swallow:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return True


    def swallowed():
        with Swallow():
            raise OSError('gone')
        return 'after'
"""


def _flow_runs(tmp_path, drive):
    files = dict(MINIPKG, **{"minipkg/flow.py": FLOW})
    return {backend: record_package(tmp_path / backend, files, drive, backend) for backend in BACKENDS}


def _assert_all_equal(runs):
    reference = stable(runs[BACKENDS[-1]]["calls"])  # hunter, the reference, when installed
    for backend, run in runs.items():
        assert stable(run["calls"]) == reference, backend
        assert run["edges"] == runs[BACKENDS[-1]]["edges"], backend
    return reference


def test_every_backend_agrees_on_generator_throw_close_and_swallowed_exceptions(tmp_path):
    """throw() and close() enter and leave a generator's frame in ways a frame-evaluation hook
    sees differently from a trace function: every backend must still keep the same calls."""

    def drive(imp):
        flow = imp("minipkg.flow")
        flow.drive_generator(), flow.leaks(), flow.swallowed()

    reference = _assert_all_equal(_flow_runs(tmp_path, drive))
    returned = {c["function"]: c["returned"] for c in reference}
    assert returned["minipkg.flow:drive_generator"] == "'done'" and returned["minipkg.flow:leaks"] == "'leaked'"
    assert returned["minipkg.flow:swallowed"] == "'after'"
    assert [c["returned"] for c in reference if c["function"] == "minipkg.flow:Swallow.__exit__"] == ["True"]
    counter = [c["returned"] for c in reference if c["function"] == "minipkg.flow:counter"]
    assert counter == ["0", "2", "102", "raised GeneratorExit", "0", "raised RuntimeError"]


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="on 3.10 the trace-based backends read a suspension at "
    "`await`/`yield from` (YIELD_FROM) as an exception exit: see the next test",
)
def test_every_backend_agrees_on_coroutines(tmp_path):
    reference = _assert_all_equal(_flow_runs(tmp_path, lambda imp: imp("minipkg.flow").run_async()))
    children = [c["returned"] for c in reference if c["function"] == "minipkg.flow:child"]
    assert "raised LookupError" in children and "0" in children and "1" in children


@pytest.mark.skipif("ctrace" not in BACKENDS, reason="the C tracer could not be built here")
def test_ctrace_tells_an_await_suspension_from_an_exception(tmp_path):
    """The evaluation hook knows how a frame's evaluation ended (a value, or NULL and an
    exception), so a coroutine suspended at `await` is a normal exit, on every version."""
    files = dict(MINIPKG, **{"minipkg/flow.py": FLOW})
    run = record_package(tmp_path, files, lambda imp: imp("minipkg.flow").run_async(), "ctrace")
    parents = [c["returned"] for c in run["calls"] if c["function"] == "minipkg.flow:parent"]
    children = [c["returned"] for c in run["calls"] if c["function"] == "minipkg.flow:child"]
    assert parents[-1] == "list[3] (0, 1, -1)" and all(not r.startswith("raised") for r in parents)
    assert children.count("raised LookupError") == 1 and "raised exception" not in children
