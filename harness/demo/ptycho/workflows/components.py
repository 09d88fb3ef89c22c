"""Workflow entry points: training on a scan, and loading a trained bundle for inference."""

from pathlib import Path

from ptycho import params
from ptycho.config.config import update_legacy_dict
from ptycho.model_manager import ModelManager


def create_ptycho_data_container(data, config):
    """Return ``data`` as a training container (``RawData`` is converted, containers pass)."""
    from ptycho import loader
    from ptycho.raw_data import RawData

    if isinstance(data, loader.PtychoDataContainer):
        return data
    if isinstance(data, RawData):
        return loader.load(data, getattr(config, 'n_groups', None))
    raise TypeError("data must be RawData or PtychoDataContainer")


def train_cdi_model(train_data, test_data, config):
    """Build the models, publish them as ``ptycho.model``'s module-level singletons, train.

    ``model_manager.save()`` saves ``ptycho.model.autoencoder`` and
    ``diffraction_to_obj``: assigning the freshly built models there is what
    makes the archive hold the trained weights.
    """
    from ptycho import model, train_pinn
    from ptycho.loader import PtychoDataset

    train_container = create_ptycho_data_container(train_data, config)
    test_container = None if test_data is None else create_ptycho_data_container(test_data, config)
    params.set('probe', train_container.probe)
    if 'intensity_scale' not in params.cfg:
        params.set('intensity_scale', train_pinn.calculate_intensity_scale(train_container))
    autoencoder, diffraction_to_obj = model.create_model_with_gridsize(
        params.get('gridsize'), params.get('N'))
    model.autoencoder = autoencoder
    model.diffraction_to_obj = diffraction_to_obj
    results = train_pinn.train_eval(PtychoDataset(train_container, test_container), autoencoder)
    history = results.get('history')
    results['history'] = dict(getattr(history, 'history', None) or {})
    return results


def run_cdi_example(train_data, test_data, config, do_stitching=False):
    """Train on ``train_data`` with ``config``; return ``(None, None, results)`` (no stitching here)."""
    update_legacy_dict(params.cfg, config)
    results = train_cdi_model(train_data, test_data, config)
    return None, None, results


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
