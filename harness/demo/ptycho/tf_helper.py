"""Complex-valued helpers as Keras layers.

Complex objects travel between layers as real tensors whose last axis holds
the real parts followed by the imaginary parts (``2 * C`` channels).
"""

import math

import keras
import numpy as np
import tensorflow as tf


def split_complex(x):
    """Turn a ``(..., 2C)`` real/imag tensor into a ``(..., C)`` complex one."""
    real, imag = tf.split(x, 2, axis=-1)
    return tf.complex(real, imag)


@keras.saving.register_keras_serializable(package="ptycho")
class CombineComplexLayer(keras.layers.Layer):
    """``[amplitude, phase]`` -> real/imag channels of ``amp * exp(i*pi*phase)``."""

    def call(self, inputs):
        amplitude, phase = inputs
        angle = math.pi * phase
        return tf.concat([amplitude * tf.cos(angle), amplitude * tf.sin(angle)], axis=-1)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape[0])
        shape[-1] = 2 * shape[-1]
        return tuple(shape)

    def get_config(self):
        return super().get_config()


@keras.saving.register_keras_serializable(package="ptycho")
class CenterMaskLayer(keras.layers.Layer):
    """Zero everything outside the central ``N/2 x N/2`` square (object support)."""

    def __init__(self, N, **kwargs):
        super().__init__(**kwargs)
        self.N = int(N)

    @property
    def half_width(self):
        """Half the side of the kept square."""
        return self.N // 4

    def call(self, inputs):
        mask = np.zeros((self.N, self.N, 1), dtype='float32')
        c, h = self.N // 2, self.half_width
        mask[c - h:c + h, c - h:c + h] = 1.0
        return inputs * tf.constant(mask)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({'N': self.N})
        return config


@keras.saving.register_keras_serializable(package="ptycho")
class DiffractionAmplitudeLayer(keras.layers.Layer):
    """Far-field amplitude ``|FFT2(object)| / N`` of a real/imag object tensor."""

    def call(self, inputs):
        obj = tf.transpose(split_complex(inputs), [0, 3, 1, 2])  # FFT over the last two axes
        far_field = tf.signal.fftshift(tf.signal.fft2d(obj), axes=[2, 3])
        n = tf.cast(tf.shape(inputs)[1], tf.float32)
        return tf.transpose(tf.abs(far_field), [0, 2, 3, 1]) / n

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[-1] = shape[-1] // 2
        return tuple(shape)

    def get_config(self):
        return super().get_config()
