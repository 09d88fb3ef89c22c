"""Classes 4 and 5 of issue 24: nested zips read as their loader opens them; the loader's fallbacks.

Keras opens model.keras with zipfile (is_zipfile finds the zip from its end: a prefix or an
appended zip is read, and that is what is judged); a JSON __numpy__/__tensor__ value whose dtype is
not a plain one is hostile; every weight of model.weights.h5 is read whole. A listed model folder
with saved_model.pb and no model.keras makes the TensorFlow loader load the folder with safe mode
off, then tf.saved_model.load it (the archive's own graph): hostile. The slow tests run those very
Keras/TensorFlow calls in a bounded child on real artifacts.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest
from archive_builders import MODELS, keras_bytes, tf_members, write_zip
from hostile_pickles import EVAL_REPR, call, expect, inspected, sbu, splice

JUNK = b"#!/bin/sh\necho self-extracting stub\nexit 0\n" + bytes(range(256)) * 2
LAMBDA = {
    "class_name": "Lambda",
    "module": "keras.layers",
    "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}},
}


def config(*layers: dict) -> dict:
    return {"class_name": "Functional", "module": "keras", "config": {"layers": list(layers)}}


def value_layer(kind: str, dtype: str) -> dict:
    """A Lambda by name whose arguments hold a JSON __numpy__/__tensor__ value (Keras builds it with np.array)."""
    arg = {"class_name": kind, "config": {"value": [0] * 8, "dtype": dtype}}
    relu = {"module": "keras.activations", "class_name": "function", "config": "relu", "registered_name": "function"}
    return {"class_name": "Lambda", "module": "keras.layers", "config": {"function": relu, "arguments": {"t": arg}}}


def huge_weights() -> bytes:
    """A model.keras whose one weight declares 2**20 x 2**20 float32 (4 TiB) in a few KB (chunked, never written)."""
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", shape=(2**20, 2**20), dtype="f4", chunks=(64, 64), compression="gzip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps(config()))
        zf.writestr("model.weights.h5", weights.getvalue())
    return buf.getvalue()


def archive(
    tmp_path: Path, replace: dict[str, bytes], drop: tuple[str, ...] = (), manifest: dict | None = None
) -> Path:
    members = tf_members(manifest=manifest)
    members.update(replace)
    for name in drop:
        members.pop(name)
    return write_zip(tmp_path / "wts.h5.zip", members)


def no_keras(extra: Callable[[str], dict[str, bytes]]) -> Callable[[Path], Path]:
    """Both model folders without model.keras, with ``extra(model)`` members instead."""
    return lambda tmp: archive(
        tmp, {k: v for m in MODELS for k, v in extra(m).items()}, drop=tuple(f"{m}/model.keras" for m in MODELS)
    )


def _relisted(tmp: Path) -> Path:
    members = tf_members(manifest={"models": [*MODELS, "extra"], "version": "1.0"})
    members.update({f"extra/{k.split('/')[1]}": v for k, v in tf_members().items() if k.startswith("autoencoder/")})
    del members["extra/model.keras"]
    members["extra/saved_model.pb"] = b"\x08\x01"
    return write_zip(tmp / "wts.h5.zip", members)


SAVED_MODEL = lambda m: {f"{m}/saved_model.pb": b"\x08\x01", f"{m}/variables/variables.index": b"\0"}  # noqa: E731
HOSTILE: dict[str, tuple[Callable[[Path], Path], set[str], str]] = {
    "keras-junk-prefix-lambda": (
        lambda tmp: archive(tmp, {"autoencoder/model.keras": JUNK + keras_bytes(config(LAMBDA))}),
        {"keras_code"},
        "carries Python code",
    ),
    "keras-junk-prefix-lambda-in-diffraction-to-obj": (
        lambda tmp: archive(tmp, {"diffraction_to_obj/model.keras": JUNK + keras_bytes(config(LAMBDA))}),
        {"keras_code"},
        "diffraction_to_obj/model.keras::config.json",
    ),
    "keras-fake-local-header-prefix": (
        lambda tmp: archive(tmp, {"autoencoder/model.keras": b"PK\x03\x04" + b"\0" * 60 + keras_bytes(config(LAMBDA))}),
        {"keras_code"},
        "carries Python code",
    ),
    "keras-genuine-then-lambda-appended": (
        lambda tmp: archive(tmp, {"autoencoder/model.keras": keras_bytes() + keras_bytes(config(LAMBDA))}),
        {"keras_code"},
        "carries Python code",
    ),
    "keras-numpy-subarray-dtype": (
        lambda tmp: archive(
            tmp, {"autoencoder/model.keras": keras_bytes(config(value_layer("__numpy__", "(8192,8192)f8")))}
        ),
        {"keras_code"},
        'dtype "(8192,8192)f8"',
    ),
    "keras-junk-prefix-numpy-dtype": (
        lambda tmp: archive(
            tmp, {"autoencoder/model.keras": JUNK + keras_bytes(config(value_layer("__numpy__", "V99999999")))}
        ),
        {"keras_code"},
        'dtype "V99999999"',
    ),
    "keras-tensor-text-dtype": (
        lambda tmp: archive(
            tmp, {"autoencoder/model.keras": keras_bytes(config(value_layer("__tensor__", "U1000000000")))}
        ),
        {"keras_code"},
        "a __tensor__ value",
    ),
    "keras-weights-declared-huge": (
        lambda tmp: archive(tmp, {"autoencoder/model.keras": huge_weights()}),
        {"loader_cost"},
        "load_model reads every weight whole",
    ),
    "outer-junk-prefix-hostile-params": (
        lambda tmp: _prefixed(tmp, call(EVAL_REPR, sbu("__import__('os').getcwd()"))),
        {"executes_code"},
        "_eval_repr",
    ),
    "saved-model-without-model-keras": (no_keras(SAVED_MODEL), {"loader_fallback"}, "tf.saved_model.load"),
    "keras-folder-lambda-beside-saved-model": (
        no_keras(lambda m: {**SAVED_MODEL(m), f"{m}/config.json": json.dumps(config(LAMBDA)).encode()}),
        {"loader_fallback", "keras_code"},
        "its config.json as a Keras model",
    ),
    "keras-folder-benign-beside-saved-model": (
        no_keras(lambda m: {**SAVED_MODEL(m), f"{m}/config.json": json.dumps(config()).encode()}),
        {"loader_fallback"},
        "safe mode off",
    ),
    "saved-model-in-an-extra-listed-model": (_relisted, {"loader_fallback"}, "extra/saved_model.pb"),
}


def _prefixed(tmp: Path, payload: bytes) -> Path:
    members = tf_members()
    members["autoencoder/params.dill"] = splice(members["autoencoder/params.dill"], sbu("scan") + payload)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    path = tmp / "wts.h5.zip"
    path.write_bytes(JUNK + buf.getvalue())
    return path


NOT_A_MODEL: dict[str, Callable[[Path], Path]] = {  # the loader fails (exit 1: model.keras missing)
    "neither-model-keras-nor-saved-model": no_keras(lambda m: {}),
    "orbax-markers-only": no_keras(lambda m: {f"{m}/checkpoint_metadata": b"{}", f"{m}/0/x": b""}),
    "model-keras-is-a-folder": lambda tmp: archive(
        tmp,
        {"autoencoder/model.keras/config.json": json.dumps(config(LAMBDA)).encode()},
        drop=("autoencoder/model.keras",),
    ),
}
HARMLESS: dict[str, Callable[[Path], Path]] = {
    "keras-junk-prefix-genuine": lambda tmp: archive(tmp, {"autoencoder/model.keras": JUNK + keras_bytes()}),
    "keras-lambda-then-genuine-appended": lambda tmp: archive(
        tmp, {"autoencoder/model.keras": keras_bytes(config(LAMBDA)) + keras_bytes()}
    ),
    "keras-numpy-float32-value": lambda tmp: archive(
        tmp, {"autoencoder/model.keras": keras_bytes(config(value_layer("__numpy__", "float32")))}
    ),
    "outer-junk-prefix-genuine": lambda tmp: _prefixed(tmp, sbu("x")),
    "saved-model-beside-model-keras": lambda tmp: archive(tmp, SAVED_MODEL("autoencoder")),
    "saved-model-in-an-unlisted-folder": lambda tmp: archive(tmp, SAVED_MODEL("spare")),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_nested_members_and_fallbacks_judged_as_the_loader_reads_them(tmp_path: Path, name: str) -> None:
    build, kinds, needle = HOSTILE[name]
    desc = inspected(build(tmp_path))
    expect(desc, 2, None, needle)
    assert kinds <= {p["kind"] for p in desc["problems"]}, desc["problems"][:3]


@pytest.mark.parametrize("name", sorted(NOT_A_MODEL))
def test_a_folder_the_loader_cannot_load_breaks_the_model_keras_clause(tmp_path: Path, name: str) -> None:
    desc = inspected(NOT_A_MODEL[name](tmp_path))
    expect(desc, 1, set())
    assert any(c["clause"] == "model.keras" and c["status"] == "fail" for c in desc["clauses"])


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_harmless_nesting_passes(tmp_path: Path, name: str) -> None:
    desc = inspected(HARMLESS[name](tmp_path))
    expect(desc, 0, set())
    if "junk" in name:
        assert any("bytes precede its zip data" in w for w in desc["warnings"]), desc["warnings"]


KERAS_CHILD = r"""
import os, resource, sys, zipfile
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"; os.environ["CUDA_VISIBLE_DEVICES"] = ""
work, marker = sys.argv[1], sys.argv[2]
resource.setrlimit(resource.RLIMIT_CPU, (240, 241)); resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
import keras, tensorflow as tf
code = "lambda x: (__import__('pathlib').Path(%r).touch(), x)[1]" % marker
inp = keras.Input((4,))
model = keras.Model(inp, keras.layers.Lambda(eval(code))(inp))
model.save(os.path.join(work, "m.keras"))
if os.path.exists(marker): os.remove(marker)
junk = b"#!/bin/sh\nexit 0\n" * 8
open(os.path.join(work, "model.keras"), "wb").write(junk + open(os.path.join(work, "m.keras"), "rb").read())
print("is_zipfile", zipfile.is_zipfile(os.path.join(work, "model.keras")))
keras.config.enable_unsafe_deserialization()  # what the loader does before load_model (model_manager.py:174)
keras.models.load_model(os.path.join(work, "model.keras"), compile=False)
print("keras ran the Lambda of a junk-prefixed model.keras", os.path.exists(marker)); os.remove(marker)

class Witness(tf.saved_model.experimental.TrackableResource):
    def _create_resource(self):
        return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="witness")
    def _initialize(self):
        tf.io.write_file(marker, "ran")
        return tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=1.0)

class Module(tf.Module):
    def __init__(self):
        super().__init__(); self.witness = Witness()

tf.saved_model.save(Module(), os.path.join(work, "sm"))
if os.path.exists(marker): os.remove(marker)
tf.saved_model.load(os.path.join(work, "sm"))  # the loader's fallback (model_manager.py:223)
print("tf.saved_model.load ran the archive's graph", os.path.exists(marker)); os.remove(marker)
"""


@pytest.mark.slow
def test_keras_and_tensorflow_run_what_the_verdicts_refuse(tmp_path: Path) -> None:
    """The very calls of the loader, real Keras/TensorFlow, bounded: a junk-prefixed model.keras is read
    and its Lambda runs once safe mode is off; tf.saved_model.load runs the SavedModel's initializer."""
    pytest.importorskip("keras")
    marker = tmp_path / "marker"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-I", "-c", KERAS_CHILD, str(tmp_path), str(marker)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "is_zipfile True" in done.stdout
    assert "Lambda of a junk-prefixed model.keras True" in done.stdout
    assert "archive's graph True" in done.stdout
    assert not marker.exists()
