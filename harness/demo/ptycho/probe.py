"""Default illumination (probe): a small complex disk with a curved phase."""

import numpy as np

from ptycho import params


def get_default_probe(N):
    """Return a deterministic complex128 ``(N, N)`` probe."""
    y, x = np.mgrid[:N, :N] - (N - 1) / 2.0
    r2 = (x ** 2 + y ** 2) / (N / 4.0) ** 2
    amplitude = 1.0 / (1.0 + np.exp(8.0 * (np.sqrt(r2) - 1.0)))  # soft-edged disk
    jitter = np.random.default_rng(0).normal(scale=0.01, size=(N, N))
    return amplitude * np.exp(1j * (0.5 * r2 + jitter))


def set_default_probe():
    """Store the default probe for the current ``N`` as ``params['probe']``."""
    probe = get_default_probe(params.get('N'))
    params.set('probe', probe)
    return probe
