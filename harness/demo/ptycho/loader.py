"""Training containers: what the model is fitted on."""

import numpy as np


class PtychoDataContainer:
    """Model inputs ``X`` of shape ``(n, N, N, gridsize**2)`` and the probe they were taken with."""

    def __init__(self, X, probe):
        self.X = X
        self.probe = probe

    def __len__(self):
        return len(self.X)


class PtychoDataset:
    """A training container and an optional test container."""

    def __init__(self, train_data, test_data=None):
        self.train_data = train_data
        self.test_data = test_data


def load(raw, n_groups=None):
    """Turn a ``RawData`` scan into a container of at most ``n_groups`` samples."""
    X = np.asarray(raw.diff3d, dtype=np.float32)[..., None]
    if n_groups is not None:
        X = X[:n_groups]
    return PtychoDataContainer(X, raw.probeGuess)
