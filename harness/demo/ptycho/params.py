"""Global legacy configuration: one module-level dict, ``cfg``.

Model building and persistence read their settings from here; loading an
archive writes the saved settings back into it.
"""

cfg = {
    'N': 128,
    'gridsize': 2,
    'offset': 4,
    'nphotons': 1e9,
    'h5_path': 'wts.h5',
    'output_prefix': 'outputs',
    'n_filters_scale': 1,
    'batch_size': 16,
    'nepochs': 60,
    'model_type': 'pinn',
    'amp_activation': 'sigmoid',
    'probe.mask': True,
    'probe.big': True,
    'probe.trainable': False,
    'object.big': True,
    'intensity_scale.trainable': False,
    'mae_weight': 0.0,
    'nll_weight': 1.0,
    'data_source': 'generic',
    'label': '',
}


def get(key):
    """Return ``cfg[key]``; a missing key raises ``KeyError``."""
    return cfg[key]


def set(key, value):  # noqa: A001 - the legacy API name
    """Store ``value`` under ``key`` after a few sanity checks."""
    if not isinstance(key, str):
        raise TypeError(f"params keys are strings, got {key!r}")
    if key in ('N', 'gridsize') and (not isinstance(value, int) or value < 1):
        raise ValueError(f"{key} must be a positive int, got {value!r}")
    if key == 'N' and value % 4:
        raise ValueError(f"N must be a multiple of 4, got {value}")
    if key in ('nphotons', 'intensity_scale') and not value > 0:
        raise ValueError(f"{key} must be positive, got {value!r}")
    cfg[key] = value


def params():
    """Return a shallow copy of ``cfg``."""
    return dict(cfg)
