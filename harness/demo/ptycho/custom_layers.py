"""Intensity-scale layers: the network works on normalised diffraction data.

Both layers hold ``log(intensity_scale)`` as a non-trainable weight, so the
scale travels with the weights and with the layer config.
"""

import keras
import tensorflow as tf


class _LogScaleLayer(keras.layers.Layer):
    """Common part: one scalar weight ``log_scale``."""

    def __init__(self, log_scale=0.0, **kwargs):
        super().__init__(**kwargs)
        self.log_scale = float(log_scale)

    def build(self, input_shape):
        self.log_scale_weight = self.add_weight(
            name='log_scale', shape=(),
            initializer=keras.initializers.Constant(self.log_scale),
            trainable=False)

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
