"""`--variant train` on the embedded demo: the training path, traced twice, gives the same evidence."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from conftest import DEMO, traced_demo
from helpers import body, call_lines, def_lines

from harness.static.target import fingerprint

pytestmark = pytest.mark.slow  # two traced subprocess runs that train with Keras

RENDERED = (
    "callgraph/dynamic.txt",
    "callchain/static.md",
    "callchain/diagram.mmd",
    "trace/tap_points.md",
    "summary.md",
)
PATH = (
    "ptycho.workflows.components:run_cdi_example",
    "ptycho.workflows.components:train_cdi_model",
    "ptycho.model_manager:save",
    "ptycho.model_manager:ModelManager.save_multiple_models",
    "ptycho.workflows.components:load_inference_bundle",
)
RUN_SPECIFIC = re.compile(r"(--out \S+|\d{4}-\d\d-\d\dT\d{6}Z(-\d+)?)")


@pytest.fixture(scope="module")
def train_runs(tmp_path_factory) -> SimpleNamespace:
    before = fingerprint(DEMO)
    out = tmp_path_factory.mktemp("train-out")
    first, second = traced_demo(out, "--variant", "train"), traced_demo(out, "--variant", "train")
    return SimpleNamespace(first=first, second=second, before=before, after=fingerprint(DEMO))


def _text(run, name: str) -> str:
    return (run.report / name).read_text()


def _stable(text: str) -> list:
    """A deliverable without '#' header lines and without the run's own folder names."""
    return [RUN_SPECIFIC.sub("<run>", line) for line in body(text)]


def test_two_runs_give_byte_identical_trees_edges_taps_and_diagrams(train_runs):
    for name in RENDERED:
        assert _stable(_text(train_runs.first, name)) == _stable(_text(train_runs.second, name)), name
    first, second = train_runs.first.record, train_runs.second.record
    assert first["edges"] == second["edges"]
    strip = lambda hits: [{k: v for k, v in h.items() if k != "t"} for h in hits]  # noqa: E731
    assert strip(first["tap_hits"]) == strip(second["tap_hits"])


def test_the_phases_are_those_of_the_training_path(train_runs):
    names = [span["name"] for span in train_runs.first.record["phases"]]
    assert names == ["import", "setup", "data", "train", "save", "load", "fresh-import", "fresh-load"]
    headers = [line for line in body(_text(train_runs.first, "callgraph/dynamic.txt")) if line.startswith("[phase ")]
    assert headers[3].startswith("[phase train · ") and re.search(r"· \d+ calls kept", headers[3])


def test_the_path_from_run_cdi_example_to_load_inference_bundle_is_at_def_lines(train_runs):
    matches = {m.group("function"): m for m in call_lines(_text(train_runs.first, "callgraph/dynamic.txt"))}
    for function in PATH:
        path, line = matches[function].group("anchor").rsplit(":", 1)
        assert def_lines(DEMO / path).get(int(line)) == function.rsplit(".", 1)[-1].split(":")[-1], function


def test_per_batch_callbacks_fold_into_one_line_and_run_json_keeps_every_call(train_runs):
    folded = [
        m
        for m in call_lines(_text(train_runs.first, "callgraph/dynamic.txt"))
        if m.group("function").endswith("ProgressCallback.on_train_batch_end")
    ]
    assert len(folded) == 1 and folded[0].group("count") == "4"  # 64 samples / batch 16, one epoch
    calls = [
        c for c in train_runs.first.record["calls"] if c["function"].endswith("ProgressCallback.on_train_batch_end")
    ]
    assert len(calls) == 4


def test_the_report_says_the_archive_carries_the_trained_scale(train_runs):
    summary = _text(train_runs.first, "summary.md")
    assert "the archive carries the trained scale" in summary
    assert "**Train:** `run_cdi_example`" in summary
    assert "**Where ModelManager hooks in:** `ptycho.model_manager:save`" in summary
    static = _text(train_runs.first, "callchain/static.md")
    assert "### Train path" in static and "(train, save, load)" in static
    assert re.search(r"\| train \| `intensity_scale` \| added \|", static)  # Config Flow covers the train phase
    taps = {h["key"]: h for h in train_runs.first.record["tap_hits"] if h["status"] == "hit"}
    assert {"train.log_scale", "save.cfg_intensity_scale", "save.intensity_scale", "train.autoencoder"} <= set(taps)


def test_the_demo_tree_is_untouched(train_runs):
    assert train_runs.before["digests"] == train_runs.after["digests"]
