"""Folding repeated sibling subtrees (harness/report/fold.py) and its rendering in dynamic.txt. Fast."""

from __future__ import annotations

from typing import Any

from harness.report.fold import fold
from harness.report.render import dynamic_view, environment


def _calls(spec: list[tuple]) -> list[dict[str, Any]]:
    """(parent index or None, function[, returned]) → call dicts with depth computed."""
    calls: list[dict[str, Any]] = []
    for i, item in enumerate(spec):
        parent, function = item[0], item[1]
        returned = item[2] if len(item) > 2 else "None"
        depth = 0 if parent is None else calls[parent]["depth"] + 1
        calls.append(
            {
                "i": i,
                "parent": parent,
                "depth": depth,
                "function": function,
                "anchor": f"m.py:{len(function)}",
                "call_site": None if parent is None else "m.py:1",
                "returned": returned,
                "process": "cycle",
                "phase": "train",
            }
        )
    return calls


def _key(call: dict[str, Any]) -> tuple:
    return (call["function"], call["anchor"], call["call_site"], call["returned"])


def _shown(calls: list[dict[str, Any]]) -> list[tuple]:
    return [(line.depth, line.call["function"], line.count) for line in fold(calls, _key)]


def test_identical_consecutive_leaves_fold_into_one_line_with_their_count():
    calls = _calls([(None, "fit"), (0, "on_batch"), (0, "on_batch"), (0, "on_batch"), (0, "on_epoch")])
    assert _shown(calls) == [(0, "fit", 1), (1, "on_batch", 3), (1, "on_epoch", 1)]


def test_identical_subtrees_fold_and_show_their_children_once():
    calls = _calls([(None, "step"), (0, "call"), (1, "scale"), (None, "step"), (3, "call"), (4, "scale")])
    assert _shown(calls) == [(0, "step", 2), (1, "call", 1), (2, "scale", 1)]


def test_subtrees_that_differ_anywhere_below_stay_apart():
    calls = _calls([(None, "step"), (0, "call"), (1, "scale"), (None, "step"), (3, "call"), (4, "other")])
    assert [c for _, _, c in _shown(calls)] == [1, 1, 1, 1, 1, 1]


def test_a_different_return_summary_keeps_siblings_apart():
    calls = _calls([(None, "get", "16"), (None, "get", "1"), (None, "get", "1")])
    assert [(f, c) for _, f, c in _shown(calls)] == [("get", 1), ("get", 2)]


def test_only_consecutive_repeats_fold():
    calls = _calls([(None, "a"), (None, "b"), (None, "a")])
    assert [c for _, _, c in _shown(calls)] == [1, 1, 1]


def test_a_call_whose_parent_is_elsewhere_starts_a_root():
    calls = _calls([(None, "outer"), (0, "inner"), (0, "inner")])[1:]
    assert _shown(calls) == [(1, "inner", 2)]


def test_deep_trees_fold_without_recursion():
    spec: list[tuple] = [(None, "f0")]
    spec += [(i, f"f{i + 1}") for i in range(3000)]
    lines = fold(_calls(spec), _key)
    assert len(lines) == 3001 and lines[-1].depth == 3000


def _record(calls: list[dict[str, Any]], phases: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    for call in calls:
        call.update(module="m", qualname=call["function"], function=f"m:{call['function']}", path="m.py", line=1)
    return {
        "calls": calls,
        "phases": phases or [{"name": "train", "process": "cycle", "t": 0.0, "calls": len(calls), "seconds": 1.0}],
        "command": "callchain trace",
        "target": {"root": "/t", "demo": True},
        "namespace": "m",
        "scenario": {"name": "tf-persistence", "variant": "train", "phases": ["train"]},
        "recorder": {"untraced": False, "backend": "monitoring", "settings": "s"},
        "status": "ok",
        "events": {"seen": 10, "kept": len(calls)},
        "started_at": "t",
        "durations": {"train": 1.0, "total": 1.0},
        "processes": [{"label": "cycle"}],
    }


def _render(record: dict[str, Any]) -> list[str]:
    text = environment().get_template("dynamic.txt.j2").render(**dynamic_view(record))
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_dynamic_txt_marks_folded_lines_and_counts_calls_per_phase():
    calls = _calls([(None, "fit"), (0, "on_batch"), (0, "on_batch"), (0, "on_batch")])
    lines = _render(_record(calls))
    assert lines[0] == "[phase train · 4 calls kept, 2 lines after folding]"
    assert lines[2].startswith("  m:on_batch  m.py:8  <- m.py:1  => None") and lines[2].endswith("  ×3")
    assert not lines[1].endswith("×1")


def test_dynamic_txt_lists_a_phase_that_kept_no_call():
    phases = [
        {"name": "data", "process": "cycle", "t": 0.0, "calls": 0, "seconds": 1.0},
        {"name": "train", "process": "cycle", "t": 1.0, "calls": 1, "seconds": 1.0},
    ]
    lines = _render(_record(_calls([(None, "fit")]), phases))
    assert lines[:2] == ["[phase data · 0 calls kept]", "[phase train · 1 call kept]"]
