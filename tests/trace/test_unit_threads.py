"""The recorder in-process: every thread, no silent loss, namespace by module, no observer effect.

Fast companions of e2e/test_hostile_recorder.py (which runs the same classes through the real
command line): real backends on real code written to a temp folder, no subprocess.
"""

from __future__ import annotations

import random

import pytest
from helpers import THREADED
from inprocess import AVAILABLE as BACKENDS
from inprocess import record_package

from harness.record.process import FoldedProcess
from harness.summarize import PathScrubber, summarize
from harness.trace.threadstate import thread_label

THREADS = {"minipkg/__init__.py": "", "minipkg/work.py": THREADED}


def _drive_threads(load):
    load("minipkg.work").main_work()


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_thread_is_recorded_and_a_busy_thread_drops_nothing(tmp_path, backend):
    record = record_package(tmp_path, THREADS, _drive_threads, backend)
    assert record["raised"] is None
    main = [c["function"] for c in record["calls"] if c["thread"] == "main"]
    assert main.count("minipkg.work:step") == 200 and "minipkg.work:main_work" in main
    pool = [c for c in record["calls"] if c["thread"] == "ThreadPoolExecutor-N_N"]
    assert [c["function"] for c in pool] == ["minipkg.work:in_pool", "minipkg.work:step"]
    assert pool[0]["depth"] == 0 and pool[1]["parent"] == pool[0]["i"] and pool[1]["depth"] == 1
    spinner = [c for c in record["calls"] if c["thread"] == "spinner-N"]
    assert spinner[0]["function"] == "minipkg.work:spin" and spinner[0]["depth"] == 0
    assert all(c["returned"] is not None for c in record["calls"])
    assert record["processes"][0]["losses"] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_come_after_the_main_thread_in_the_record(tmp_path, backend):
    calls = record_package(tmp_path, THREADS, _drive_threads, backend)["calls"]
    threads = [c["thread"] for c in calls]
    first_other = next(i for i, t in enumerate(threads) if t != "main")
    assert set(threads[:first_other]) == {"main"} and "main" not in threads[first_other:]
    assert [c["i"] for c in calls] == list(range(len(calls)))


LOSS = {
    "minipkg/__init__.py": "",
    "minipkg/hostile.py": """
        import sys

        def helper(n):
            return n

        def drop_settrace():
            sys.settrace(None)
            return helper(1)

        def drop_monitoring():
            for tool in range(6):
                if sys.monitoring.get_tool(tool) is not None:
                    sys.monitoring.set_events(tool, 0)
            return helper(2)
    """,
}


@pytest.mark.skipif("settrace" not in BACKENDS, reason="needs the settrace backend")
def test_settrace_none_is_reported_as_lost_evidence(tmp_path):
    record = record_package(tmp_path, LOSS, lambda load: load("minipkg.hostile").drop_settrace(), "settrace")
    losses = record["processes"][0]["losses"]
    assert any("trace function was removed" in loss["reason"] and loss["phase"] == "run" for loss in losses)


@pytest.mark.skipif("monitoring" not in BACKENDS, reason="needs Python 3.12 (sys.monitoring)")
def test_monitoring_switched_off_is_reported_as_lost_evidence(tmp_path):
    record = record_package(tmp_path, LOSS, lambda load: load("minipkg.hostile").drop_monitoring(), "monitoring")
    losses = record["processes"][0]["losses"]
    assert any("switched off" in loss["reason"] for loss in losses)


MEMBERSHIP = {
    "minipkg/__init__.py": "",
    "minipkg/gen.py": """
        exec(compile("def generated(n):\\n    return n * 3\\n", "minipkg_generated.py", "exec"), globals())

        def call_generated():
            return generated(2)
    """,
    "minipkg/renamed.py": """
        __name__ = "not_minipkg"

        def inner():
            return 1

        def outer():
            return inner()
    """,
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_namespace_is_decided_by_module_not_by_path(tmp_path, backend):
    def drive(load):
        load("minipkg.gen").call_generated()
        load("minipkg.renamed").outer()

    record = record_package(tmp_path, MEMBERSHIP, drive, backend)
    by_function = {c["function"]: c for c in record["calls"]}
    generated = by_function["minipkg.gen:generated"]
    assert generated["anchor"] is None and generated["returned"] == "6"
    assert "minipkg.renamed:outer" in by_function and "minipkg.renamed:inner" in by_function
    assert not any(name.startswith("not_minipkg") for name in by_function)


def test_thread_labels_are_stable():
    assert thread_label("MainThread", True) == "main"
    assert thread_label("ThreadPoolExecutor-12_3", False) == "ThreadPoolExecutor-N_N"
    assert thread_label("Thread-5 (save_worker)", False) == "Thread-N (save_worker)"
    assert thread_label(None, False) == "native"


def test_record_order_does_not_depend_on_thread_scheduling():
    """The same calls, interleaved differently in the stream, give the same record."""

    def events(seed):
        main = [
            ("call", 0, None, "main", "a"),
            ("call", 1, 0, "main", "b"),
            ("ret", 1),
            ("ret", 0),
            ("call", 4, None, "main", "c"),
            ("ret", 4),
        ]
        worker = [("call", 2, None, "w-N", "x"), ("call", 3, 2, "w-N", "y"), ("ret", 3), ("ret", 2)]
        rng, merged = random.Random(seed), []
        while main or worker:
            source = main if (main and (not worker or rng.random() < 0.5)) else worker
            merged.append(source.pop(0))
        stream = [{"e": "phase", "name": "run", "t": 0.0}]
        for item in merged:
            if item[0] == "call":
                stream.append(
                    {
                        "e": "call",
                        "i": item[1],
                        "p": item[2],
                        "cl": 1 if item[2] is not None else None,
                        "d": 0,
                        "dr": True,
                        "mod": "m",
                        "q": item[4],
                        "path": "m.py",
                        "line": 1,
                        "th": item[3],
                        "ph": "run",
                        "t": 0.0,
                    }
                )
            else:
                stream.append({"e": "ret", "i": item[1], "v": "None", "t": 0.0})
        return stream

    shapes = []
    for seed in range(6):
        calls = FoldedProcess("p", events(seed), 0, PathScrubber()).calls
        shapes.append([(c["i"], c["qualname"], c["thread"], c["depth"], c["parent"]) for c in calls])
    assert all(shape == shapes[0] for shape in shapes)
    assert [s[1] for s in shapes[0]] == ["a", "b", "c", "x", "y"]


class _Hostile:
    touched: list = []

    def __getattr__(self, name):
        _Hostile.touched.append(name)
        raise RuntimeError("no")

    def __repr__(self):
        _Hostile.touched.append("repr")
        raise RuntimeError("no")

    def __len__(self):
        _Hostile.touched.append("len")
        raise RuntimeError("no")

    def __eq__(self, other):
        _Hostile.touched.append("eq")
        raise RuntimeError("no")

    __hash__ = object.__hash__

    @property
    def shape(self):
        _Hostile.touched.append("shape")
        return (1,)


class _HostileList(list):
    def __iter__(self):
        _Hostile.touched.append("iter")
        raise RuntimeError("no")

    def __len__(self):
        _Hostile.touched.append("list len")
        return 0


class _HostileDict(dict):
    def items(self):
        _Hostile.touched.append("items")
        return []

    def keys(self):
        _Hostile.touched.append("keys")
        return []


class _HostileInt(int):
    def __repr__(self):
        _Hostile.touched.append("int repr")
        return "?"


def test_summaries_run_none_of_the_values_code():
    _Hostile.touched.clear()
    values = [
        _Hostile(),
        _HostileList([1, _Hostile()]),
        _HostileDict(a=_Hostile(), b=1),
        {_Hostile(): 1},
        {_Hostile()},
        (_Hostile(), _HostileInt(3)),
        _HostileInt(4),
        type("Meta", (), {"__module__": 5}),
    ]
    texts = [summarize(value) for value in values]
    assert _Hostile.touched == []
    name = f"{__name__}._Hostile"
    assert texts == [
        name,
        f"_HostileList[2] (1, {name})",
        f"dict[2] {{a: {name}, b: 1}}",
        f"dict[1] {{<{name}>: 1}}",
        f"set[1] ({name})",
        f"tuple[2] ({name}, _HostileInt(3))",
        "_HostileInt(4)",
        "class ?.Meta",
    ]
