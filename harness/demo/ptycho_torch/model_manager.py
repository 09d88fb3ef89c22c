"""PyTorch-side archive helpers of the demo target.

Read statically (with ``ast``) by callchain; never imported or run. The
archive keeps the TensorFlow outer structure (``wts.h5.zip`` with a manifest)
but marks ``'backend': 'pytorch'`` and carries Lightning ``.ckpt`` payloads.
"""

import os
import tempfile
import zipfile

import dill

from ptycho_torch.train import LAST_CHECKPOINT, PtychoModule

MANIFEST = {"models": ["diffraction_to_obj"], "version": "2.0", "backend": "pytorch"}


def save_bundle(checkpoint_dir, base_path, hparams):
    """Zip the last checkpoint and its hyperparameters into ``base_path.zip``."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "manifest.dill"), "wb") as f:
            dill.dump(MANIFEST, f)
        model_dir = os.path.join(tmp, "diffraction_to_obj")
        os.makedirs(model_dir)
        with open(os.path.join(model_dir, "hparams.dill"), "wb") as f:
            dill.dump(hparams, f)
        with zipfile.ZipFile(f"{base_path}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(os.path.join(checkpoint_dir, LAST_CHECKPOINT),
                     f"diffraction_to_obj/{LAST_CHECKPOINT}")
            for name in ("manifest.dill", "diffraction_to_obj/hparams.dill"):
                zf.write(os.path.join(tmp, name), name)


def load_bundle(base_path, network):
    """Rebuild the module from ``base_path.zip`` without global params."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(f"{base_path}.zip") as zf:
            zf.extractall(tmp)
        with open(os.path.join(tmp, "diffraction_to_obj", "hparams.dill"), "rb") as f:
            hparams = dill.load(f)
        return PtychoModule.load_from_checkpoint(
            os.path.join(tmp, "diffraction_to_obj", LAST_CHECKPOINT),
            network=network, **hparams)
