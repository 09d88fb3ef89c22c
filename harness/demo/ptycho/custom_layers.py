"""Intensity-scale layers: the network works on normalised diffraction data.

Both layers share one variable, ``log(intensity_scale)``, created on first use
from ``params.cfg`` (see ``log_scale_variable``); it is trainable when
``params.cfg['intensity_scale.trainable']`` is set, so training can move the
scale away from the configured value. The initial value also travels with the
layer config.
"""

import math

import keras
import tensorflow as tf

from ptycho import params

_shared = {}


def log_scale_variable():
    """Return the shared ``log(intensity_scale)`` variable, creating it on first use.

    Once created it is never reset from ``params.cfg``: after training it holds
    the trained value, which is what ``model_manager.save`` archives.
    """
    if 'log_scale' not in _shared:
        _shared['log_scale'] = keras.Variable(
            math.log(params.get('intensity_scale')), dtype='float32',
            trainable=bool(params.cfg.get('intensity_scale.trainable', False)),
            name='log_intensity_scale')
    return _shared['log_scale']


class _LogScaleLayer(keras.layers.Layer):
    """Common part: one scalar weight ``log_scale``."""

    def __init__(self, log_scale=0.0, **kwargs):
        super().__init__(**kwargs)
        self.log_scale = float(log_scale)

    def build(self, input_shape):
        self.log_scale_weight = log_scale_variable()

    @property
    def scale(self):
        """``exp(log_scale)`` as a tensor."""
        return tf.exp(self.log_scale_weight)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({'log_scale': self.log_scale})
        return config


@keras.saving.register_keras_serializable(package="ptycho")
class InvScaleLayer(_LogScaleLayer):
    """Divide measured amplitudes by the intensity scale."""

    def call(self, inputs):
        return inputs / self.scale


@keras.saving.register_keras_serializable(package="ptycho")
class ScaleLayer(_LogScaleLayer):
    """Multiply predicted amplitudes by the intensity scale."""

    def call(self, inputs):
        return inputs * self.scale
