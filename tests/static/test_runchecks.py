"""Verdicts from a scenario's own findings (harness/static/runchecks.py): the cross-backend clause
and the tracking clause, judged on what torch-persistence ran, with the line each rests on."""

from __future__ import annotations

from harness.static.runchecks import judge_findings
from harness.static.verdicts import BROKEN, HOLDS, NOT_EXERCISED, judge

CROSS = "When unsupported, loaders MUST raise a descriptive error stating the archived backend and the active loader backend."
TRACKING = "Implementations MUST NOT require MLflow in environments where it is not installed."
LOAD_CALL = {
    "phase": "torch-loads-tf",
    "qualname": "load_torch_bundle",
    "function": "ptycho_torch.model_manager:load_torch_bundle",
    "anchor": "ptycho_torch/model_manager.py:265",
}


def record(*findings, calls=()):
    return {"processes": [{"label": "cycle", "findings": list(findings)}], "calls": list(calls)}


def cross(archived="pytorch", active="tensorflow", **outcome):
    base = {"kind": "cross-backend", "phase": "tf-loads-torch", "loader": "ptycho.x.load", "archived_backend": archived}
    return dict(base, loader_backend=active, **outcome)


def test_an_error_naming_the_archived_backend_holds():
    found = cross(
        raised=True,
        type="ValueError",
        message="archive is a pytorch archive; the tensorflow loader cannot read it",
        names_archived_backend=True,
        names_loader_backend=True,
        raised_at="ptycho/model_manager.py:12",
    )
    verdict = judge(CROSS, record(found))
    assert verdict["verdict"] == HOLDS
    assert verdict["evidence"][0]["anchor"] == "ptycho/model_manager.py:12"


def test_an_error_that_names_no_backend_is_not_descriptive():
    found = cross(
        raised=True,
        type="FileNotFoundError",
        message="[Errno 2] No such file or directory: '<scratch>/tmp/<tmp>/diffraction_to_obj/custom_objects.dill'",
        names_archived_backend=False,
        names_loader_backend=False,
        raised_at="ptycho/model_manager.py:123",
    )
    verdict = judge(CROSS, record(found))
    assert verdict["verdict"] == BROKEN
    assert "does not name the archived backend (pytorch)" in verdict["evidence"][0]["detail"]
    assert verdict["evidence"][0]["anchor"] == "ptycho/model_manager.py:123"


def test_a_silent_load_is_broken_at_the_loaders_def_line():
    found = cross(
        archived="tensorflow", active="pytorch", raised=False, phase="torch-loads-tf", loader="m.load_torch_bundle"
    )
    verdict = judge(CROSS, record(found, calls=[LOAD_CALL]))
    assert verdict["verdict"] == BROKEN
    assert verdict["evidence"][0]["anchor"] == "def ptycho_torch/model_manager.py:265"
    assert "without an error" in verdict["evidence"][0]["detail"]


def test_without_findings_the_clauses_stay_not_exercised():
    assert judge_findings(CROSS, record()) is None
    assert judge(CROSS, record())["verdict"] == NOT_EXERCISED
    assert judge(TRACKING, record())["verdict"] == NOT_EXERCISED


def tracking(*steps, refused=()):
    return {
        "kind": "tracking",
        "phase": "no-tracking",
        "library": "mlflow",
        "steps": list(steps),
        "refused_imports": list(refused),
    }


def test_save_and_load_without_the_tracking_library_hold():
    verdict = judge(TRACKING, record(tracking({"step": "save", "ok": True}, {"step": "load", "ok": True})))
    assert verdict["verdict"] == HOLDS
    assert [e["status"] for e in verdict["evidence"]] == ["pass", "pass", "none"]


def test_a_save_that_needs_the_tracking_library_is_broken_with_its_line():
    failed = {
        "step": "save",
        "ok": False,
        "type": "ModuleNotFoundError",
        "message": "No module named 'mlflow'",
        "raised_at": "ptycho_torch/model_manager.py:40",
    }
    refused = {"module": "mlflow", "importer": "ptycho_torch/model_manager.py:40"}
    verdict = judge(TRACKING, record(tracking(failed, refused=[refused])))
    assert verdict["verdict"] == BROKEN
    anchors = [e["anchor"] for e in verdict["evidence"]]
    assert anchors == ["ptycho_torch/model_manager.py:40", "ptycho_torch/model_manager.py:40"]


def test_the_tracking_judge_ignores_other_mlflow_sentences():
    other = "`logger_backend` MUST be one of ['csv', 'tensorboard', 'mlflow', 'none']."
    found = record(tracking({"step": "save", "ok": True}))
    assert judge_findings(other, found) is None


def test_a_step_that_fails_for_another_reason_decides_nothing():
    failed = {
        "step": "train (a fresh process)",
        "ok": False,
        "type": "AttributeError",
        "message": "'ModelConfig' object has no attribute 'pad_object'",
        "raised_at": "ptycho_torch/config_bridge.py:174",
    }
    verdict = judge(TRACKING, record(tracking({"step": "load (a fresh process)", "ok": True}, failed)))
    assert verdict["verdict"] == HOLDS
    assert verdict["evidence"][1]["status"] == "none" and "says nothing" in verdict["evidence"][1]["detail"]


def test_training_that_needs_the_library_in_a_process_without_it_is_broken():
    failed = {
        "step": "train (a fresh process)",
        "ok": False,
        "type": "ModuleNotFoundError",
        "message": "No module named 'mlflow' (absent for this phase)",
        "raised_at": "ptycho_torch/train_utils.py:22",
    }
    refused = {"module": "mlflow", "importer": "ptycho_torch/train_utils.py:22", "via": "ptycho_torch.train_utils:22"}
    verdict = judge(
        TRACKING, record(tracking({"step": "load (a fresh process)", "ok": True}, failed, refused=[refused]))
    )
    assert verdict["verdict"] == BROKEN
    assert verdict["evidence"][1]["anchor"] == "ptycho_torch/train_utils.py:22"
