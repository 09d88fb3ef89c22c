"""The pytest plugin, used the way a user would: a throwaway project whose tests ask for
`callchain_run` and `replay_save_load`. One traced run serves the whole inner session."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

USER_TESTS = """
import sys
import zipfile
from pathlib import Path

import pytest

SAVE = "ptycho.model_manager:ModelManager.save_multiple_models"


def test_the_cycle_is_recorded(callchain_run):
    assert callchain_run.status == "ok"
    functions = callchain_run.functions()
    assert SAVE in functions and "ptycho.workflows.components:load_inference_bundle" in functions
    assert functions.index(SAVE) < functions.index("ptycho.workflows.components:load_inference_bundle")
    assert callchain_run.anchor(SAVE).startswith("ptycho/model_manager.py:")
    assert callchain_run.anchor("nobody:calls.this") is None
    assert [call["i"] for call in callchain_run.calls] == list(range(len(callchain_run.calls)))
    assert {"caller", "callee", "call_site"} <= set(callchain_run.edges[0])
    assert [p["name"] for p in callchain_run.phases][:5] == ["import", "setup", "build", "save", "load"]
    assert "version: '1.0'" in callchain_run.tap("save.manifest")
    assert len(callchain_run.taps["load.intensity_scale"]) >= 2
    assert any(change["key"] == "N" for change in callchain_run.config_diff)
    assert "manifest.dill" in {m["name"] for m in callchain_run.archive["members"]}
    assert any(w["path"].endswith("manifest.dill") for w in callchain_run.writes())
    assert (callchain_run.report / "trace" / "run.json").is_file()
    with pytest.raises(Exception):
        callchain_run.calls = ()  # frozen
    assert "torch" not in sys.modules and "tensorflow" not in sys.modules


def test_replay_gets_its_own_copy(callchain_run, replay_save_load, tmp_path):
    archive = replay_save_load / "wts.h5.zip"
    assert replay_save_load == tmp_path and archive.is_file()
    assert archive.read_bytes() == callchain_run.archive_path.read_bytes()
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
    assert {"manifest.dill", "autoencoder/model.keras", "diffraction_to_obj/params.dill"} <= names
    archive.unlink()  # the next test, and the run itself, keep theirs


def test_replay_is_fresh_each_time(callchain_run, replay_save_load):
    assert (replay_save_load / "wts.h5.zip").is_file()
    assert callchain_run.archive_path.is_file()
    assert "torch" not in sys.modules
"""

NEEDS_RUN = """
def test_uses_the_run(callchain_run):
    pass
"""


def test_plugin_fixtures_on_the_demo(pytester, monkeypatch):
    monkeypatch.delenv("PTYCHO_ROOT", raising=False)  # the demo, even when the real-target tests are on
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)  # the inner tests assert that torch and tensorflow stay out of pytest


def test_plugin_reports_a_bad_root_in_one_line(pytester):
    pytester.makepyfile(test_user=NEEDS_RUN)
    missing = pytester.path / "no-such-checkout"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--callchain-root", str(missing))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*error: *no-such-checkout*"])
    assert "Traceback" not in result.stdout.str()


def test_plugin_reads_ptycho_root_from_the_environment(pytester, monkeypatch):
    pytester.makepyfile(test_user=NEEDS_RUN)
    monkeypatch.setenv("PTYCHO_ROOT", str(pytester.path / "elsewhere"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*error: *elsewhere*"])


STORE_TESTS = """
def test_flush_writes_the_store(callchain_run):
    assert callchain_run.status == "ok"
    assert [p["name"] for p in callchain_run.phases] == ["put", "flush", "open"]
    assert callchain_run.anchor("jsonstore.store:Store.flush") == "jsonstore/store.py:16"
    assert [w["path"] for w in callchain_run.writes()] == ["<scratch>/out/store.json"]
"""


def test_plugin_traces_a_scenario_file(pytester, monkeypatch):
    """A team pins how its own code runs: --callchain-scenario with a package that is not ptycho."""
    from helpers import jsonstore_target

    root, scenario = jsonstore_target(pytester.path)
    monkeypatch.delenv("PTYCHO_ROOT", raising=False)
    pytester.makepyfile(test_store=STORE_TESTS)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--callchain-root",
        str(root),
        "--callchain-scenario",
        str(scenario),
        "--callchain-package",
        "jsonstore",
    )
    result.assert_outcomes(passed=1)
