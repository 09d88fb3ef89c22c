"""The outcome names every problem a run found, most useful first, once each, and claims nothing
the record does not hold: checked over every combination of the kinds of problem a run can have."""

from __future__ import annotations

import copy
import itertools
import signal

import pytest
from inprocess import AVAILABLE as BACKENDS
from inprocess import MINIPKG, record_package

from harness.record import outcome

# kind → (the phrase its problem is named by, the exit code it gives when it comes first)
PHRASES = {
    "tree": ("the target tree changed", 4),
    "stop": ("interrupted by SIGTERM", 128 + signal.SIGTERM),
    "absent": ("(no module 'minipkgg' under", 3),
    "timeout": ("did not finish within 5 s", 3),
    "error": ("raised ValueError: boom", 3),
    "torch": ("module 'torch' executed", 3),
    "loss": ("tracing was disturbed", 3),
    "unfinished": ("without reaching its end marker", 3),
    "exited": ("exited with code 9", 3),
    "nothing": ("matched no call during the run", 3),
}
ORDER = list(PHRASES)  # the order of usefulness the outcome promises


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A clean record with four traced processes (the kinds of problem land in different ones)."""
    record = record_package(
        tmp_path_factory.mktemp("outcome"), MINIPKG, lambda imp: imp("minipkg.core").outer(1), BACKENDS[0]
    )
    first = record["processes"][0]
    record["processes"] = [dict(copy.deepcopy(first), label=label) for label in ("cycle", "fresh", "third", "fourth")]
    assert outcome.judge(record, 5, False) == ("ok", None)
    return record


def _with(base: dict, kinds: set[str]) -> dict:
    record = copy.deepcopy(base)
    cycle, fresh, third, fourth = record["processes"]
    if "tree" in kinds:
        record["evidence_only"]["changes"] = ["added: tmp/ (folder)"]
    if kinds & {"absent", "nothing"}:
        record["calls"] = []
        record["namespace"] = "minipkgg" if "absent" in kinds else "minipkg.nothing"
        record["target"]["namespace_found"] = "absent" not in kinds
    if "error" in kinds:
        cycle["exit"] = 3
        error = {"process": "cycle", "phase": "load", "type": "ValueError", "message": "boom"}
        record["errors"] = [dict(error, namespace_frame="minipkg/core.py:3", scenario_error=False)]
    if "torch" in kinds:
        cycle["torch_executed"] = [{"module": "torch", "importer": "minipkg/core.py:1", "phase": "build"}]
    if "loss" in kinds:
        cycle["losses"] = [{"reason": "the trace function was removed", "phase": "build", "process": "cycle"}]
    if "timeout" in kinds:
        fresh.update(timed_out=True, completed=False, exit=-9)
    if "unfinished" in kinds:
        third.update(completed=False, exit=0)
    if "exited" in kinds:
        fourth.update(exit=9)
    return record


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_every_combination_names_each_problem_once_most_useful_first(base, size):
    kinds = [kind for kind in ORDER if kind != "nothing"]
    for chosen in itertools.combinations(kinds, size):
        wanted = set(chosen)
        record = _with(base, wanted)
        stopped = signal.SIGTERM if "stop" in wanted else None
        found = outcome.problems(record, 5, False, stopped)
        named = [next(kind for kind in ORDER if PHRASES[kind][0] in p["problem"]) for p in found]
        assert named == [kind for kind in ORDER if kind in wanted], (chosen, [p["problem"] for p in found])
        status, failure = outcome.judge(record, 5, False, stopped)
        assert failure["exit_code"] == PHRASES[named[0]][1]
        assert [failure["problem"]] + [p["problem"] for p in failure["also"]] == [p["problem"] for p in found]
        assert status == ("failed" if "absent" in wanted else "partial")


def test_nothing_kept_with_a_namespace_of_the_target_comes_last(base):
    record = _with(base, {"nothing", "error", "loss"})
    named = [p["problem"] for p in outcome.problems(record, 5, False)]
    assert "raised ValueError" in named[0] and "tracing was disturbed" in named[1]
    assert named[2] == "the namespace 'minipkg.nothing' matched no call during the run"


def test_a_misspelt_namespace_on_a_target_whose_load_raises(base):
    """The issue's case: both named, the namespace first, and no claim of calls in dynamic.txt."""
    status, failure = outcome.judge(_with(base, {"absent", "error"}), 5, False)
    assert status == "failed" and failure["exit_code"] == 3
    assert "'minipkgg' matched no call" in failure["problem"] and "check --namespace" in failure["fix"]
    (also,) = failure["also"]
    assert "raised ValueError: boom in phase 'load'" in also["problem"]
    assert "no call of the namespace 'minipkgg' was kept before it" in also["fix"]
    assert "dynamic.txt" not in also["fix"]


def test_an_error_with_calls_kept_says_how_many_are_in_dynamic_txt(base):
    _, failure = outcome.judge(_with(base, {"error"}), 5, False)
    assert f"the {len(base['calls'])} calls kept up to it are in callgraph/dynamic.txt" in failure["fix"]


def test_a_process_that_raised_is_not_also_said_to_have_exited_badly(base):
    record = _with(base, {"error"})
    assert len(outcome.problems(record, 5, False)) == 1
    record["processes"][0]["completed"] = False  # died while reporting: its end is the error's consequence
    assert len(outcome.problems(record, 5, False)) == 1


def test_a_recorder_that_could_not_start_is_named_as_such(base):
    record = copy.deepcopy(base)
    record["errors"] = [
        {"process": "cycle", "phase": "start", "type": "BackendError", "message": "tool ids (3, 4) are both in use"}
    ]
    record["processes"][0]["exit"] = 3
    _, failure = outcome.judge(record, 5, False)
    assert failure["problem"].startswith("the recorder could not start in process 'cycle'")
    assert "--backend settrace" in failure["fix"]


def test_problems_are_printable(base):
    record = _with(base, {"error"})
    record["errors"][0]["message"] = "boom\n[phase forged]\x1b[2J"
    _, failure = outcome.judge(record, 5, False)
    assert failure["problem"].isprintable() and "boom\\n[phase forged]\\x1b[2J" in failure["problem"]


def test_the_demo_missing_a_module_at_run_time_gets_the_demo_fix(base):
    """Found by the traced process after the up-front check passed (e.g. a broken TensorFlow)."""
    record = copy.deepcopy(base)
    record["target"]["demo"] = True
    record["processes"][0]["exit"] = 3
    error = {"process": "cycle", "phase": "import", "type": "ModuleNotFoundError", "missing_module": "dill"}
    record["errors"] = [dict(error, message="No module named 'dill'", namespace_frame="ptycho/model_manager.py:16")]
    _, failure = outcome.judge(record, 5, False)
    assert "the embedded demo target imports" in failure["problem"] and "lacks dill" in failure["problem"]
    assert failure["problem"].endswith("(imported at ptycho/model_manager.py:16)") and failure["exit_code"] == 3
    assert "pip install dill" in failure["fix"]


def test_a_stream_without_its_end_from_a_process_that_reached_it_was_interfered_with(base):
    record = copy.deepcopy(base)
    record["processes"][1].update(completed=False, exit=0, reached_end=True)
    status, failure = outcome.judge(record, 5, False)
    assert status == "partial"
    assert "the event stream of the traced process 'fresh' was interfered with" in failure["problem"]
    assert "os._exit" not in failure["problem"]
    record["processes"][1].update(reached_end=False)  # os._exit(0): no end, and no marker beside it
    assert "it called os._exit or was killed" in outcome.judge(record, 5, False)[1]["problem"]
