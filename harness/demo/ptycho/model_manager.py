"""Saving and loading models as a ``wts.h5.zip`` archive.

Layout of the archive (members at its root)::

    manifest.dill                  {'models': [...], 'version': '1.0'}
    <name>/model.keras             the Keras model (architecture + weights)
    <name>/model.h5                HDF5 file holding only attr 'intensity_scale'
    <name>/params.dill             params.cfg + intensity_scale + '_version'
    <name>/custom_objects.dill     name -> class map for deserialisation
"""

import os
import tempfile
import zipfile

import dill
import h5py
import keras
import tensorflow as tf

from ptycho import custom_layers, params, tf_helper
from ptycho import model as model_module

FORMAT_VERSION = '1.0'


class ModelManager:
    """Static helpers that write and read model directories and archives."""

    @staticmethod
    def save_model(model, model_dir, custom_objects, intensity_scale):
        """Write one model and the state needed to rebuild it into ``model_dir``."""
        os.makedirs(model_dir, exist_ok=True)
        model.save(os.path.join(model_dir, 'model.keras'))
        with open(os.path.join(model_dir, 'custom_objects.dill'), 'wb') as f:
            dill.dump(custom_objects, f)
        saved_params = params.params()
        saved_params['intensity_scale'] = intensity_scale
        saved_params['_version'] = FORMAT_VERSION
        with open(os.path.join(model_dir, 'params.dill'), 'wb') as f:
            dill.dump(saved_params, f)
        with h5py.File(os.path.join(model_dir, 'model.h5'), 'a') as f:
            f.attrs['intensity_scale'] = intensity_scale

    @staticmethod
    def load_model(model_dir):
        """Restore ``params.cfg`` from ``model_dir`` and return its model.

        A blank model of the saved ``gridsize``/``N`` is built and receives the
        saved weights; which one is chosen by the directory's basename.
        """
        with open(os.path.join(model_dir, 'params.dill'), 'rb') as f:
            saved_params = dill.load(f)
        saved_params.pop('_version', None)
        params.cfg.update(saved_params)
        with open(os.path.join(model_dir, 'custom_objects.dill'), 'rb') as f:
            custom_objects = dill.load(f)

        autoencoder, diffraction_to_obj = model_module.create_model_with_gridsize(
            params.get('gridsize'), params.get('N'))
        loaded = keras.models.load_model(os.path.join(model_dir, 'model.keras'),
                                         custom_objects=custom_objects, compile=False)
        blanks = {'autoencoder': autoencoder, 'diffraction_to_obj': diffraction_to_obj}
        blank = blanks.get(os.path.basename(os.path.normpath(model_dir)))
        if blank is None:
            return loaded
        blank.set_weights(loaded.get_weights())
        return blank

    @staticmethod
    def save_multiple_models(models_dict, base_path, custom_objects, intensity_scale):
        """Save every model of ``models_dict`` into ``f"{base_path}.zip"``."""
        with tempfile.TemporaryDirectory() as tmp:
            manifest = {'models': list(models_dict), 'version': FORMAT_VERSION}
            with open(os.path.join(tmp, 'manifest.dill'), 'wb') as f:
                dill.dump(manifest, f)
            for name, model in models_dict.items():
                ModelManager.save_model(model, os.path.join(tmp, name),
                                        custom_objects, intensity_scale)
            with zipfile.ZipFile(f"{base_path}.zip", 'w', zipfile.ZIP_DEFLATED) as zf:
                for root, _dirs, files in os.walk(tmp):
                    for file_name in files:
                        path = os.path.join(root, file_name)
                        zf.write(path, os.path.relpath(path, tmp))

    @staticmethod
    def load_multiple_models(base_path, model_names=None):
        """Load the models named in the manifest of ``f"{base_path}.zip"``."""
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(f"{base_path}.zip") as zf:
                zf.extractall(tmp)
            with open(os.path.join(tmp, 'manifest.dill'), 'rb') as f:
                manifest = dill.load(f)
            backend = manifest.get('backend', 'tensorflow')
            if backend != 'tensorflow':
                raise ValueError(f"{base_path}.zip was written by the {backend!r} backend; "
                                 "this loader reads TensorFlow archives only")
            names = manifest['models'] if model_names is None else model_names
            models = {}
            for name in names:
                if name not in manifest['models']:
                    raise KeyError(f"model {name!r} not in archive {base_path}.zip")
                models[name] = ModelManager.load_model(os.path.join(tmp, name))
            return models


def custom_objects_map():
    """Name -> object map of every custom layer (and the custom loss)."""
    objects = {'negloglik': model_module.negloglik}
    for module in (tf_helper, custom_layers, model_module):
        for name, value in vars(module).items():
            if (isinstance(value, type) and issubclass(value, keras.layers.Layer)
                    and value.__module__ == module.__name__ and not name.startswith('_')):
                objects[name] = value
    return objects


def save(out_prefix):
    """Save the module-level models of ``ptycho.model`` to ``<out_prefix>/<h5_path>.zip``.

    The scale archived is the log-scale variable's value (trained, after training),
    not ``params.cfg['intensity_scale']``, which training does not update.
    """
    models = {'autoencoder': model_module.autoencoder,
              'diffraction_to_obj': model_module.diffraction_to_obj}
    intensity_scale = float(tf.exp(model_module._get_log_scale()).numpy())
    ModelManager.save_multiple_models(models, os.path.join(out_prefix, params.get('h5_path')),
                                      custom_objects_map(), intensity_scale)
