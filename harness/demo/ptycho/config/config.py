"""Typed configuration, flattened into the legacy ``params.cfg`` keys."""

from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class ModelConfig:
    """Architecture settings."""
    N: int = 64
    gridsize: int = 1
    n_filters_scale: int = 2
    model_type: str = 'pinn'
    amp_activation: str = 'sigmoid'
    object_big: bool = True
    probe_big: bool = True
    probe_mask: bool = False


@dataclass
class TrainingConfig:
    """Run settings; ``model`` holds the architecture."""
    model: ModelConfig = field(default_factory=ModelConfig)
    output_dir: Path = Path('training_outputs')
    train_data_file: Optional[Path] = None
    nphotons: float = 1e9
    batch_size: int = 16
    nepochs: int = 50
    n_groups: Optional[int] = None
    mae_weight: float = 0.0
    nll_weight: float = 1.0
    intensity_scale_trainable: bool = True


# Dataclass field name -> legacy key, where the two differ.
LEGACY_KEYS = {
    'object_big': 'object.big',
    'probe_big': 'probe.big',
    'probe_mask': 'probe.mask',
    'intensity_scale_trainable': 'intensity_scale.trainable',
    'output_dir': 'output_prefix',
    'train_data_file': 'train_data_file_path',
}


def dataclass_to_legacy_dict(obj):
    """Flatten a (nested) config dataclass into legacy keys; Paths become str."""
    flat = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            flat.update(dataclass_to_legacy_dict(value))
            continue
        if isinstance(value, Path):
            value = str(value)
        flat[LEGACY_KEYS.get(f.name, f.name)] = value
    return flat


def update_legacy_dict(cfg, dataclass_obj):
    """Write every non-None setting of ``dataclass_obj`` into ``cfg``."""
    for key, value in dataclass_to_legacy_dict(dataclass_obj).items():
        if value is not None:
            cfg[key] = value
