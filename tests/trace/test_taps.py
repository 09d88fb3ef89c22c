"""Tap points: declaring them, capturing each kind, and the failures that must not stop a run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import callchain, load_run, report_of
from helpers import tiny_target

from harness.trace.taps import TapFileError, load_tap_file

SAVE = "ptycho.model_manager:ModelManager.save_multiple_models"
TAPS = f"""
[[tap]]
key = "t.arg"
function = "{SAVE}"
when = "call"
capture = "arg.intensity_scale"

[[tap]]
key = "t.local"
function = "{SAVE}"
when = "return"
capture = "local.manifest"

[[tap]]
key = "t.return"
function = "ptycho.model:create_model_with_gridsize"
when = "return"
capture = "return"

[[tap]]
key = "t.global"
function = "{SAVE}"
when = "call"
capture = "global.ptycho.params:cfg.N"

[[tap]]
key = "t.never"
function = "ptycho.model:never_called"
when = "call"
capture = "arg.x"

[[tap]]
key = "t.broken"
function = "{SAVE}"
when = "call"
capture = "arg.no_such_argument"
"""

MODEL_MANAGER = """
import zipfile

class ModelManager:
    @staticmethod
    def save_multiple_models(models, base_path, custom_objects, intensity_scale):
        manifest = {'models': sorted(models), 'version': '1.0'}
        with zipfile.ZipFile(base_path + '.zip', 'w') as zf:
            zf.writestr('manifest.dill', repr(manifest))

    @staticmethod
    def load_multiple_models(base_path, model_names=None):
        return {}
"""


@pytest.fixture(scope="module")
def tapped(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("taps")
    root = tiny_target(tmp / "target", {"ptycho/model_manager.py": MODEL_MANAGER})
    taps = tmp / "mine.toml"
    taps.write_text(TAPS)
    done = callchain("trace", "--root", str(root), "--out", str(tmp / "out"), "--taps", str(taps), "--replace-taps")
    assert done.returncode == 0, done.stderr
    report = report_of(done)
    rows = {}
    for line in (report / "trace" / "tap_points.md").read_text().splitlines():
        if line.startswith("| `t."):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    return rows, load_run(report), root


@pytest.mark.slow
def test_each_capture_kind(tapped):
    rows, _, _ = tapped
    assert rows["t.arg"][-2:] == ["988.2117688026185", "hit"]
    assert rows["t.local"][-2:] == ["dict[2] {models: list[2], version: '1.0'}", "hit"]
    assert rows["t.return"][-2:] == ["tuple[2] ('autoencoder', 'diffraction_to_obj')", "hit"]
    assert rows["t.global"][-2:] == ["64", "hit"]


@pytest.mark.slow
def test_tap_on_function_that_never_runs(tapped):
    rows, _, _ = tapped
    assert rows["t.never"][-2:] == ["—", "not hit"]


@pytest.mark.slow
def test_capture_that_fails_is_an_error_not_a_crash(tapped):
    rows, record, _ = tapped
    assert rows["t.broken"][-1] == "error: LookupError: argument 'no_such_argument' not found"
    assert record["status"] == "ok"


@pytest.mark.slow
def test_owning_function_anchor_is_its_def_line(tapped):
    rows, _, root = tapped
    anchor = rows["t.arg"][2].split("`")[3]
    path, line = anchor.rsplit(":", 1)
    assert (root / path).read_text().splitlines()[int(line) - 1].strip().startswith("def save_multiple_models")


@pytest.mark.slow
def test_file_write_is_attributed_to_the_namespace_line(tapped):
    _, record, root = tapped
    writes = [s for s in record["sinks"] if s["op"] == "write" and s["path"].endswith("wts.h5.zip")]
    assert writes, record["sinks"]
    path, line = writes[0]["by"].rsplit(":", 1)
    assert "zipfile.ZipFile(" in (root / path).read_text().splitlines()[int(line) - 1]
    assert writes[0]["path"] == "<scratch>/out/wts.h5.zip"
    assert writes[0]["phase"] == "save"


def _bad(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(TapFileError) as caught:
        load_tap_file(str(path))
    return str(caught.value)


def test_malformed_toml_names_file_and_line(tmp_path):
    message = _bad(tmp_path, '[[tap]]\nkey = "a"\nfunction = "m:f"\nwhen = call\n')
    assert "bad.toml" in message and "line 4" in message and "fix" in message


def test_unknown_capture_kind(tmp_path):
    message = _bad(tmp_path, '[[tap]]\nkey = "a"\nfunction = "m:f"\nwhen = "call"\ncapture = "eval.x"\n')
    assert "bad.toml:2" in message and "unknown capture kind" in message and "arg.<name>" in message


def test_capture_that_is_not_a_dotted_lookup(tmp_path):
    message = _bad(tmp_path, '[[tap]]\nkey = "a"\nfunction = "m:f"\nwhen = "call"\ncapture = "arg.x[0]"\n')
    assert "not a dotted lookup" in message


def test_return_capture_needs_when_return(tmp_path):
    message = _bad(tmp_path, '[[tap]]\nkey = "a"\nfunction = "m:f"\nwhen = "call"\ncapture = "return"\n')
    assert 'when = "return"' in message


@pytest.mark.slow
def test_bad_tap_file_on_the_command_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[tap]]\nkey = "a"\nfunction = "m:f"\nwhen = "sometimes"\ncapture = "return"\n')
    done = callchain("trace", "--taps", str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "bad.toml:2" in done.stderr and "use 'call' or 'return'" in done.stderr


def test_shipped_tap_file_is_valid():
    from harness.trace.taps import default_tap_files, load_tap_files

    taps = load_tap_files(default_tap_files())
    assert 5 <= len([t for t in taps if not t.variants]) <= 7
    assert {t.kind for t in taps} >= {"arg", "local", "global"}
    assert {t.key for t in taps if "train" in t.variants} >= {"train.log_scale", "save.cfg_intensity_scale"}
