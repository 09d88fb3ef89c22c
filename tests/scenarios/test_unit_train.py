"""The train variant's parts that need no TensorFlow: tap options, the scenario's description,
the trained-scale verdict and the ModelManager hand-over. Fast."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy
import pytest

from harness.report.queries import calls as queries
from harness.report.queries import scale as scalequeries
from harness.scenarios import persistence as scenario
from harness.scenarios.persistence_api import Context
from harness.scenarios.persistence_training import _train
from harness.trace.taps import TapFileError, TapSet, concrete, for_variant, load_tap_file


def _tap_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(body)
    return path


TRAIN_TAP = """
[[tap]]
key = "a"
function = "m:f"
when = "return"
capture = "global.m:_cache.log | global.m:log"
read = "value"
variants = ["train"]
"""


def test_tap_options_parse(tmp_path):
    (tap,) = load_tap_file(str(_tap_file(tmp_path, TRAIN_TAP)))
    assert tap.alternatives == ["global.m:_cache.log", "global.m:log"]
    assert tap.read == "value" and tap.variants == ("train",)
    assert for_variant([tap], "default") == [] and for_variant([tap], "train") == [tap]


@pytest.mark.parametrize(
    "change, message",
    [
        ('read = "value"', "read = 'numbers'"),
        ('variants = ["train"]', "variants must be a list"),
        ('capture = "global.m:_cache.log | global.m:log"', "is not a dotted lookup"),
    ],
)
def test_bad_tap_options_are_refused_with_the_fix(tmp_path, change, message):
    replacement = {
        'read = "value"': 'read = "numbers"',
        'variants = ["train"]': 'variants = "train"',
        'capture = "global.m:_cache.log | global.m:log"': 'capture = "global.m:log | global.m:x()"',
    }[change]
    with pytest.raises(TapFileError) as error:
        load_tap_file(str(_tap_file(tmp_path, TRAIN_TAP.replace(change, replacement))))
    assert message in str(error.value) or "use 'summary'" in str(error.value)


class _Stream:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, kind: str, **data: Any) -> None:
        self.events.append(dict(data, e=kind))


@pytest.fixture()
def module():
    """A module with a lazily built global (a module __getattr__) and a cached variable."""
    mod = types.ModuleType("tapmod_train")
    built: list[str] = []

    def lazy(name):
        built.append(name)
        raise AttributeError(name)

    mod.__getattr__ = lazy
    mod._cache = {"log": numpy.float32(6.5)}
    sys.modules[mod.__name__] = mod
    yield mod, built
    del sys.modules[mod.__name__]


def _capture(capture: str, read: str = "summary") -> dict[str, Any]:
    stream = _Stream()
    taps = TapSet([{"key": "k", "function": "m:f", "when": "call", "capture": capture, "read": read}], stream)
    taps.at_call("m", "f", 0, sys._getframe())
    return stream.events[-1]


def test_the_first_alternative_that_resolves_is_taken(module):
    event = _capture("global.tapmod_train:log | global.tapmod_train:_cache.log", "value")
    assert event["status"] == "hit" and event["value"] == "6.5 (float32 float32)"


def test_a_module_getattr_is_never_run_by_a_tap(module):
    _, built = module
    event = _capture("global.tapmod_train:autoencoder")
    assert event["status"] == "error" and "no global 'autoencoder'" in event["error"]
    assert built == []


def test_read_value_shows_small_arrays_exactly_and_large_ones_by_summary():
    assert concrete(numpy.array([1.5, 2.0], dtype=numpy.float32)) == "[1.5, 2.0] (ndarray float32)"
    assert concrete(numpy.zeros(100)).startswith("ndarray shape=(100,) dtype=float64")
    assert concrete({"a": 1}) == "dict[1] {a: 1}"  # not an array: the ordinary summary


def test_the_train_variant_runs_the_training_path_and_names_its_roles():
    described = scenario.describe("tf-persistence", "train", list(scenario.TRAIN_CYCLE))
    assert scenario.processes(True, "train")[0]["phases"] == ("import", "setup", "data", "train", "save", "load")
    assert described["roles"]["train"] == ["train"] and described["roles"]["entry"][0] == "train"
    assert [c["title"] for c in described["chains"]][:2] == ["Train", "Save"]
    assert scenario.describe("tf-persistence", "default", [])["roles"].get("train") is None
    assert scenario.processes(False, "default")[0]["phases"] == scenario.CYCLE


def _scale_record(log: str, configured: str, archived: float) -> dict[str, Any]:
    hits = [
        {"key": "train.log_scale", "status": "hit", "value": log, "call": 0},
        {"key": "save.cfg_intensity_scale", "status": "hit", "value": configured, "call": 1},
    ]
    models = {
        m: {"params_values": {"intensity_scale": archived}, "h5_attrs": {"intensity_scale": archived}}
        for m in ("autoencoder", "diffraction_to_obj")
    }
    return {"tap_hits": hits, "archive_description": {"models": models}, "calls": []}


def test_the_archive_carries_the_trained_scale():
    found = scalequeries.trained_scale(
        _scale_record("6.891897201538086 (Variable float32)", "988.2117688026185", 984.2670288085938)
    )
    assert found["verdict"] == "trained" and found["trained"] == pytest.approx(984.267, rel=1e-6)


def test_the_archive_carries_the_configured_scale():
    found = scalequeries.trained_scale(_scale_record("6.8", "float32(988.2117919921875)", 988.2117919921875))
    assert found["verdict"] == "configured"


def test_an_untrained_scale_cannot_tell_the_two_apart():
    found = scalequeries.trained_scale(_scale_record("6.895897388458252", "988.2117688026185", 988.211669921875))
    assert found["verdict"] == "indistinct"


def test_no_training_taps_no_verdict():
    assert scalequeries.trained_scale({"tap_hits": [], "calls": []}) is None


def test_modelmanager_hooks_are_calls_into_the_class_from_outside_it():
    def call(i, parent, function, site):
        return {
            "i": i,
            "parent": parent,
            "function": function,
            "anchor": f"p.py:{i + 1}",
            "call_site": site,
            "phase": "save",
        }

    calls = [
        call(0, None, "ptycho.model_manager:save", None),
        call(1, 0, "ptycho.model_manager:ModelManager.save_multiple_models", "p.py:9"),
        call(2, 1, "ptycho.model_manager:ModelManager.save_model", "p.py:12"),
    ]
    (hook,) = queries.hooks({"calls": calls})
    assert (hook["caller"], hook["callee"], hook["site"]) == (
        "ptycho.model_manager:save",
        calls[1]["function"],
        "p.py:9",
    )


def test_inside_the_tolerance_the_nearest_scale_is_named():
    # main: save() archives float32(exp(log_scale)); torchapi-devel: params.cfg['intensity_scale']
    main = scalequeries.trained_scale(
        _scale_record("6.895896911621094", "float32(988.2117919921875)", 988.211669921875)
    )
    devel = scalequeries.trained_scale(
        _scale_record("6.895896911621094", "float32(988.2117919921875)", 988.2117919921875)
    )
    assert (main["verdict"], main["nearest"]) == ("indistinct", "trained")
    assert (devel["verdict"], devel["nearest"]) == ("indistinct", "configured")


def test_without_the_save_tap_the_configured_scale_comes_from_training():
    record = _scale_record("6.8", "unused", 988.2117919921875)
    record["tap_hits"] = record["tap_hits"][:1]
    record["scenario"] = {"roles": {"train": ["train"]}}
    record["config"] = {"changes": [{"key": "intensity_scale", "phase": "train", "new": "988.2117919921875"}]}
    found = scalequeries.trained_scale(record)
    assert found["configured"] == 988.2117919921875 and found["configured_source"].startswith("during training")
    assert found["verdict"] == "configured"


def test_training_is_retried_once_without_ground_truth_and_the_gap_names_the_error():
    data = types.SimpleNamespace(Y=numpy.zeros((2, 4, 4, 1)))
    seen: list[Any] = []

    def entry(train_data, test_data, config):
        seen.append(train_data.Y)
        if train_data.Y is not None:
            raise ValueError("axes don't match array")

    ctx = Context("ptycho", "/tmp/out", "train", lambda name: None)
    ctx.modules["train_data"] = data
    _train(ctx, "run_cdi_example", entry, config=None)
    assert len(seen) == 2 and seen[1] is None
    (gap,) = ctx.gaps
    assert gap["phase"] == "train" and "ValueError: axes don't match array" in gap["missing"]


def test_a_second_training_failure_fails_the_run():
    def entry(train_data, test_data, config):
        raise RuntimeError("still broken")

    ctx = Context("ptycho", "/tmp/out", "train", lambda name: None)
    ctx.modules["train_data"] = types.SimpleNamespace(Y=numpy.zeros(1))
    with pytest.raises(RuntimeError, match="still broken"):
        _train(ctx, "run_cdi_example", entry, config=None)
