"""Two tiny functional models sharing their layers.

``diffraction_to_obj`` maps diffraction amplitudes ``(N, N, gridsize**2)`` to a
complex object (real/imag channels); ``autoencoder`` adds the forward model
back to diffraction amplitudes. Building needs ``params['intensity_scale']``.

Module attributes ``autoencoder`` and ``diffraction_to_obj`` are built lazily
from ``params.cfg`` on first access (see ``__getattr__``).
"""

import keras
import tensorflow as tf

from ptycho import params
from ptycho.custom_layers import InvScaleLayer, ScaleLayer, log_scale_variable
from ptycho.tf_helper import CenterMaskLayer, CombineComplexLayer, DiffractionAmplitudeLayer


def _get_log_scale():
    """Return the shared variable holding ``log(intensity_scale)`` (trained, if training ran)."""
    return log_scale_variable()


@keras.saving.register_keras_serializable(package="ptycho")
def negloglik(y_true, y_pred):
    """Poisson negative log-likelihood of counts ``y_true`` given rates ``y_pred``."""
    return tf.reduce_mean(y_pred - y_true * tf.math.log(y_pred + 1e-6), axis=-1)


def _conv(filters, name, activation='relu', seed=0):
    """3x3 same-padding convolution with a seeded (deterministic) initializer."""
    return keras.layers.Conv2D(
        filters, 3, padding='same', activation=activation, name=name,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed))


def create_model_with_gridsize(gridsize, N, **kwargs):
    """Build ``(autoencoder, diffraction_to_obj)`` for ``gridsize`` and ``N``.

    Keyword overrides: ``n_filters_scale``, ``amp_activation``.
    """
    channels = gridsize ** 2
    log_scale = float(_get_log_scale().numpy())
    width = 4 * kwargs.get('n_filters_scale', params.cfg.get('n_filters_scale', 1))
    amp_activation = kwargs.get('amp_activation', params.cfg.get('amp_activation', 'sigmoid'))

    diffraction = keras.Input(shape=(N, N, channels), name='diffraction')
    x = InvScaleLayer(log_scale, name='inv_scale')(diffraction)
    x = _conv(width, 'enc_conv1', seed=1)(x)
    x = keras.layers.MaxPooling2D(2, name='enc_pool')(x)
    x = _conv(2 * width, 'enc_conv2', seed=2)(x)
    x = keras.layers.UpSampling2D(2, name='dec_up')(x)
    x = _conv(width, 'dec_conv', seed=3)(x)
    amplitude = _conv(channels, 'amp_head', activation=amp_activation, seed=4)(x)
    phase = _conv(channels, 'phase_head', activation='tanh', seed=5)(x)
    obj = CombineComplexLayer(name='combine_complex')([amplitude, phase])
    obj = CenterMaskLayer(N, name='center_mask')(obj)
    predicted = DiffractionAmplitudeLayer(name='diffraction_amp')(obj)
    predicted = ScaleLayer(log_scale, name='scale')(predicted)

    diffraction_to_obj = keras.Model(diffraction, obj, name='diffraction_to_obj')
    autoencoder = keras.Model(diffraction, [obj, predicted], name='autoencoder')
    autoencoder.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=['mean_absolute_error', negloglik],
        loss_weights=[params.cfg.get('mae_weight', 0.0), params.cfg.get('nll_weight', 1.0)])
    return autoencoder, diffraction_to_obj


def __getattr__(name):
    """Build the module-level models from ``params.cfg`` on first access."""
    if name in ('autoencoder', 'diffraction_to_obj'):
        autoencoder, diffraction_to_obj = create_model_with_gridsize(
            params.get('gridsize'), params.get('N'))
        globals().update(autoencoder=autoencoder, diffraction_to_obj=diffraction_to_obj)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
