"""Fitting the autoencoder: the physics loss compares predicted and measured amplitudes."""

import math

import keras
import numpy as np

from ptycho import params


class ProgressCallback(keras.callbacks.Callback):
    """Counts the batches Keras runs (the training loop calls back once per batch)."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def calculate_intensity_scale(container):
    """The closed-form scale ``sqrt(nphotons) / (N / 2)`` for the container's pattern size."""
    N = container.X.shape[1]
    return math.sqrt(params.get('nphotons')) / (N / 2)


def train(train_data, model_instance):
    """Fit ``model_instance`` for ``params['nepochs']`` epochs; return the Keras history."""
    X = train_data.X
    obj_target = np.zeros(X.shape[:-1] + (2 * X.shape[-1],), dtype=np.float32)
    return model_instance.fit(
        X, [obj_target, X], batch_size=params.get('batch_size'), epochs=params.get('nepochs'),
        shuffle=False, verbose=0, callbacks=[ProgressCallback()])


def train_eval(dataset, model_instance):
    """Train on ``dataset.train_data``; return the history and the trained model."""
    history = train(dataset.train_data, model_instance)
    return {'history': history, 'model_instance': model_instance}
