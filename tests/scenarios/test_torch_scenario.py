"""The scenario contract's torch fields (`ALLOWS_TORCH`, `NAMESPACE`, `REQUIRES`), the shipped
torch-persistence scenario's description, the guard each traced process installs, the recorder's
several namespaces, and the exit 2 of a revision without the PyTorch path. Nothing here starts
TensorFlow, torch or a traced process."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from conftest import DEMO, callchain
from inprocess import AVAILABLE, record_package

from harness.errors import HarnessError
from harness.scenarios import contract, loader
from harness.scenarios.contract import ScenarioFileError, describe
from harness.scenarios.loader import load
from harness.static.target import check_scenario_needs, defines
from harness.trace.anchors import AnchorIndex
from harness.trace.child import guarded
from harness.trace.eventstream import EventStream
from harness.trace.guard import BLOCKED
from harness.trace.recorder import Recorder

BASE = """
def one(ctx):
    pass

PHASES = [("one", one)]
"""


@pytest.fixture(autouse=True)
def _forget_loaded():
    yield
    sys.modules.pop(loader.MODULE_NAME, None)


def write(tmp_path: Path, extra: str) -> str:
    path = tmp_path / "scenario.py"
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(extra))
    return str(path)


def test_a_scenario_declares_nothing_and_torch_stays_refused(tmp_path):
    described = describe(load(write(tmp_path, "")))
    assert described["allows_torch"] is False and described["namespace"] is None and described["requires"] == []


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        ("ALLOWS_TORCH = 'yes'\n", "ALLOWS_TORCH must be True or False"),
        ("ALLOWS_TORCH = 1\n", "ALLOWS_TORCH must be True or False"),
        ("NAMESPACE = ['ptycho torch']\n", "NAMESPACE must be a module name"),
        ("NAMESPACE = []\n", "NAMESPACE must be a module name"),
        ("REQUIRES = 'ptycho:x'\n", "REQUIRES must be a list of 'module:name'"),
        ("REQUIRES = ['ptycho.model_manager']\n", "REQUIRES must be a list of 'module:name'"),
    ],
)
def test_bad_torch_fields_are_refused_with_their_line(tmp_path, extra, phrase):
    path = write(tmp_path, extra)
    with pytest.raises(ScenarioFileError) as caught:
        load(path)
    assert phrase in caught.value.problem
    assert caught.value.line == len(textwrap.dedent(BASE).splitlines()) + 1


def test_the_shipped_torch_scenario_describes_itself():
    described = describe(load("harness.scenarios.torch_persistence"))
    assert described["allows_torch"] is True
    assert described["namespace"] == ["ptycho_torch", "ptycho"]
    assert "ptycho_torch.model_manager:save_torch_bundle" in described["requires"]
    names = [p for process in described["processes"] for p in process["phases"]]
    assert names[:6] == ["import", "setup", "data", "train", "save", "load"]
    assert {"no-tracking", "tf-loads-torch", "torch-loads-tf", "fresh-load"} <= set(names)
    assert described["roles"]["save"] == ["save"] and "fresh-load" in described["roles"]["load"]


def test_the_guard_is_lifted_only_when_the_scenario_declares_it():
    assert guarded({}) == BLOCKED
    assert guarded({"allows_torch": False}) == BLOCKED
    assert guarded({"allows_torch": "yes"}) == BLOCKED  # only a real True lifts it
    assert guarded({"allows_torch": True}) == ()


def test_a_tf_scenario_still_describes_torch_as_refused():
    for module in ("harness.scenarios.tf_persistence", "harness.scenarios.tf_persistence_train"):
        assert describe(load(module))["allows_torch"] is False


def test_the_recorder_keeps_several_namespaces_apart_from_their_prefixes(tmp_path):
    recorder = Recorder("ptycho_torch,ptycho", AnchorIndex(str(tmp_path)), EventStream(str(tmp_path / "e.jsonl")))
    kept = ["ptycho", "ptycho.params", "ptycho_torch", "ptycho_torch.model_manager"]
    foreign = ["ptychoXYZ", "ptycho_torchvision", "torch", "lightning.pytorch", "", None]
    assert all(recorder.in_namespace(name) for name in kept)
    assert not any(recorder.in_namespace(name) for name in foreign)
    single = Recorder("ptycho", AnchorIndex(str(tmp_path)), EventStream(str(tmp_path / "f.jsonl")))
    assert single.in_namespace("ptycho.model") and not single.in_namespace("ptycho_torch.model_manager")


def test_namespaces_of_accepts_a_comma_list_or_a_list():
    assert contract.namespaces_of("ptycho_torch, ptycho") == ["ptycho_torch", "ptycho"]
    assert contract.namespaces_of(("a",)) == ["a"]


def test_defines_reads_the_source_never_imports_it(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("X = 1\n")
    (package / "mod.py").write_text("import torch_that_does_not_exist\n\ndef save():\n    pass\nclass Load: ...\n")
    assert defines(tmp_path, "pkg.mod:save") and defines(tmp_path, "pkg.mod:Load") and defines(tmp_path, "pkg:X")
    assert not defines(tmp_path, "pkg.mod:load") and not defines(tmp_path, "pkg.nothing:save")


def test_a_revision_without_the_pytorch_path_is_one_message():
    described = describe(load("harness.scenarios.torch_persistence"))
    with pytest.raises(HarnessError) as caught:
        check_scenario_needs(DEMO, "torch-persistence", described)  # the demo's ptycho_torch has no save_torch_bundle
    assert caught.value.exit_code == 2
    assert "`ptycho_torch.model_manager.save_torch_bundle`" in caught.value.problem


def test_torch_persistence_on_a_root_without_ptycho_torch_exits_2_and_writes_nothing(tmp_path):
    root = tmp_path / "root"
    (root / "ptycho").mkdir(parents=True)
    (root / "ptycho" / "__init__.py").write_text("")
    (root / "ptycho" / "params.py").write_text("cfg = {}\n")
    out = tmp_path / "out"
    done = callchain("trace", "--root", str(root), "--scenario", "torch-persistence", "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == (
        f"error: the target {root} has no 'ptycho_torch' package: the scenario torch-persistence needs it, "
        "so this revision cannot run it"
    )
    assert not out.exists()


TWO_NAMESPACES = {
    "pkga/__init__.py": "",
    "pkga/api.py": "from pkgc import helper\n\n\ndef save():\n    return helper.call_back()\n",
    "pkgb/__init__.py": "",
    "pkgb/params.py": "def get():\n    return 1\n",
    "pkgc/__init__.py": "",
    "pkgc/helper.py": "def call_back():\n    import pkgb.params\n    return pkgb.params.get()\n",
}


@pytest.mark.parametrize("backend", AVAILABLE)
def test_every_backend_keeps_both_namespaces_and_drops_the_rest(tmp_path, backend):
    """`ptycho_torch,ptycho` in miniature: calls of pkga and pkgb kept (pkgb's reached through
    foreign pkgc, attached to the innermost kept frame), pkgc's dropped, with every recorder."""
    run = record_package(tmp_path, TWO_NAMESPACES, lambda imp: imp("pkga.api").save(), backend, namespace="pkga,pkgb")
    kept = [c["function"] for c in run["calls"] if not c["qualname"].startswith("<")]
    assert kept == ["pkga.api:save", "pkgb.params:get"], kept
    assert not any(c["module"].startswith("pkgc") for c in run["calls"])
