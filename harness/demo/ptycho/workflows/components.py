"""Workflow entry points: loading a trained bundle for inference."""

from pathlib import Path

from ptycho import params
from ptycho.model_manager import ModelManager


def load_inference_bundle(model_dir):
    """Return ``(diffraction_to_obj, params dict)`` from ``model_dir/wts.h5.zip``.

    Loading restores the global ``params.cfg`` from the archive; the returned
    dict is a copy of it.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ValueError(f"not a directory: {model_dir}")
    if not (model_dir / 'wts.h5.zip').exists():
        raise FileNotFoundError(f"no wts.h5.zip in {model_dir}")
    models = ModelManager.load_multiple_models(str(model_dir / 'wts.h5'))
    if 'diffraction_to_obj' not in models:
        raise KeyError(f"diffraction_to_obj missing from {model_dir / 'wts.h5.zip'}")
    return models['diffraction_to_obj'], params.params()
