"""The embedded demo target (harness/demo/ptycho) honours the persistence contract.

Each cycle runs in a real subprocess whose working directory is a temp folder
outside the repository, as callchain runs its targets.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from conftest import DEMO

MODELS = ("autoencoder", "diffraction_to_obj")
PER_MODEL = ("model.keras", "model.h5", "params.dill", "custom_objects.dill")
EXPECTED_MEMBERS = {"manifest.dill"} | {f"{m}/{f}" for m in MODELS for f in PER_MODEL}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(importlib.util.find_spec(name) is None for name in ("tensorflow", "keras", "h5py", "dill")),
        reason="the demo target needs tensorflow, keras, h5py and dill",
    ),
]

PRELUDE = f"""
import json, math, os, sys
sys.path.insert(0, {str(DEMO)!r})
import ptycho.params as params
from ptycho.config.config import TrainingConfig, ModelConfig, update_legacy_dict
import ptycho.probe, ptycho.model, ptycho.model_manager
from ptycho.model_manager import ModelManager, custom_objects_map
from ptycho.workflows.components import load_inference_bundle
"""

SETUP = """
OUT = os.path.abspath(sys.argv[1])
os.makedirs(OUT, exist_ok=True)
update_legacy_dict(params.cfg, TrainingConfig(model=ModelConfig(N=64, gridsize=1), output_dir=OUT))
ptycho.probe.set_default_probe()
params.set('intensity_scale', math.sqrt(params.get('nphotons')) / (64 / 2))
"""

DIRECT_SAVE = """
autoencoder, diffraction_to_obj = ptycho.model.create_model_with_gridsize(1, 64)
ModelManager.save_multiple_models(
    {'autoencoder': autoencoder, 'diffraction_to_obj': diffraction_to_obj},
    f'{OUT}/wts.h5', custom_objects_map(), params.get('intensity_scale'))
"""

TRAINFLOW_SAVE = """
ptycho.model_manager.save(OUT)
"""

LOAD_AND_REPORT = """
before = dict(params.cfg)
model, cfg = load_inference_bundle(sys.argv[1])
changed = {k: [repr(before[k]), repr(cfg[k])] for k in cfg
           if k in before and repr(before[k]) != repr(cfg[k])}
print(json.dumps({
    'name': model.name,
    'input_shape': list(model.input_shape),
    'layers': [layer.name for layer in model.layers],
    'weights': [[w.path, list(w.shape)] for w in model.weights],
    'changed': changed,
    'added': sorted(set(cfg) - set(before)),
    'N': cfg['N'], 'gridsize': cfg['gridsize'],
    'intensity_scale': cfg['intensity_scale'],
}))
"""


def run(tmp_path, code, out_dir):
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_HOME=str(tmp_path / ".keras"),
        CUDA_VISIBLE_DEVICES="",
        PYTHONDONTWRITEBYTECODE="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(out_dir)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None


def check_archive(out_dir, expected_scale):
    import h5py

    archive = Path(out_dir) / "wts.h5.zip"
    assert archive.is_file()
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted(EXPECTED_MEMBERS)
        assert len(names) == len(set(names))
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
        zf.extractall(Path(out_dir) / "extracted")
    for name in MODELS:
        with h5py.File(Path(out_dir) / "extracted" / name / "model.h5", "r") as f:
            assert list(f.keys()) == []
            assert float(f.attrs["intensity_scale"]) == pytest.approx(expected_scale, rel=1e-6)


def check_loaded(report):
    assert report["name"] == "diffraction_to_obj"
    assert report["input_shape"] == [None, 64, 64, 1]
    assert report["N"] == 64 and report["gridsize"] == 1


def test_direct_save_then_load(tmp_path):
    out = tmp_path / "direct"
    report = run(tmp_path, PRELUDE + SETUP + DIRECT_SAVE + LOAD_AND_REPORT, out)
    check_loaded(report)
    assert report["changed"] == {}  # loading in the saving process changes nothing
    check_archive(out, 1e9**0.5 / 32)


def test_trainflow_save_then_load(tmp_path):
    out = tmp_path / "trainflow"
    report = run(tmp_path, PRELUDE + SETUP + TRAINFLOW_SAVE + LOAD_AND_REPORT, out)
    check_loaded(report)
    # save() takes the scale from a float32 tf.Variable: a float32 round trip.
    assert report["intensity_scale"] != 1e9**0.5 / 32
    assert report["intensity_scale"] == pytest.approx(1e9**0.5 / 32, rel=1e-6)
    check_archive(out, 1e9**0.5 / 32)


def test_fresh_process_load_restores_params_deterministically(tmp_path):
    out = tmp_path / "fresh"
    saved = run(tmp_path, PRELUDE + SETUP + DIRECT_SAVE + LOAD_AND_REPORT, out)
    first = run(tmp_path, PRELUDE + LOAD_AND_REPORT, out)
    second = run(tmp_path, PRELUDE + LOAD_AND_REPORT, out)
    check_loaded(first)
    assert first == second
    assert (first["layers"], first["weights"]) == (saved["layers"], saved["weights"])
    assert first["changed"]["N"] == ["128", "64"]
    assert first["changed"]["gridsize"] == ["2", "1"]
    assert first["changed"]["probe.mask"] == ["True", "False"]
    assert {"probe", "intensity_scale"} <= set(first["added"])
    # Nothing but the output folder (and the test's own Keras home) was written.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keras", "fresh"]
