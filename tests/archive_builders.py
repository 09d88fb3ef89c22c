"""Builders of wts.h5.zip archives in memory for the inspect tests: real zips, dill, HDF5."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import dill
import h5py
import numpy as np

MODELS = ("autoencoder", "diffraction_to_obj")
SCALE = 988.2117688026185
CUSTOM = {
    "CombineComplexLayer": "ptycho.custom_layers.CombineComplexLayer",
    "ProbeIllumination": "ptycho.model.ProbeIllumination",
    "negloglik": "ptycho.model.negloglik",
}


def sbu(text: str) -> bytes:
    """SHORT_BINUNICODE opcode."""
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def refs_pickle(refs: dict[str, str]) -> bytes:
    """A protocol-4 dict of name -> class reference, as dill writes custom_objects.dill."""
    body = b"".join(sbu(k) + sbu(v.rsplit(".", 1)[0]) + sbu(v.rsplit(".", 1)[1]) + b"\x93" for k, v in refs.items())
    return b"\x80\x04}(" + body + b"u."


def h5_bytes(**attrs: object) -> bytes:
    """An HDF5 image in memory, like ModelManager's model.h5 (attributes only)."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        for key, value in attrs.items():
            h5.attrs[key] = value
    return buf.getvalue()


def keras_bytes(config: object | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """A small stand-in for model.keras: a zip with config.json, metadata.json, weights."""
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", data=np.zeros((4, 2), dtype="float32"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.0"}))
        zf.writestr(
            "config.json",
            json.dumps(config or {"class_name": "Functional", "module": "keras", "config": {"layers": []}}),
        )
        zf.writestr("model.weights.h5", weights.getvalue())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def params_dill(scale: float = SCALE, **extra: object) -> bytes:
    params = {
        "N": 64,
        "gridsize": 1,
        "intensity_scale": scale,
        "nphotons": np.float64(1e9),
        "probe": np.ones((64, 64), dtype=np.complex64),
        "output_prefix": Path("/some/abs/out"),
        "_version": "1.0",
    }
    params.update(extra)
    return dill.dumps(params)


def tf_members(
    h5_scale: object = np.float32(SCALE),
    params_scale: float = SCALE,
    models: tuple[str, ...] = MODELS,
    manifest: dict | None = None,
) -> dict[str, bytes]:
    """Members of a TensorFlow wts.h5.zip, mimicking ModelManager.save_multiple_models."""
    members = {"manifest.dill": dill.dumps(manifest or {"models": list(MODELS), "version": "1.0"})}
    for m in models:
        members[f"{m}/model.keras"] = keras_bytes()
        members[f"{m}/model.h5"] = h5_bytes(intensity_scale=h5_scale)
        members[f"{m}/params.dill"] = params_dill(params_scale)
        members[f"{m}/custom_objects.dill"] = refs_pickle(CUSTOM)
    return members


TORCH_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torch"  # written by make_fixtures.py there


def torch_members(tag: bool, ckpt: bytes = b"not really a checkpoint") -> dict[str, bytes]:
    """Members of a PyTorch wts.h5.zip as the spec asks: per model a .ckpt, hyperparameters and params.dill."""
    manifest = {"models": list(MODELS), "version": "2.0"}
    if tag:
        manifest["backend"] = "pytorch"
    members = {"manifest.dill": dill.dumps(manifest)}
    for m in MODELS:
        members[f"{m}/model.ckpt"] = ckpt
        members[f"{m}/hparams.yaml"] = b"N: 64\ngridsize: 1\n"
        members[f"{m}/params.dill"] = params_dill(_version="2.0")
    return members


def write_zip(
    path: Path, members: dict[str, bytes] | list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return path
