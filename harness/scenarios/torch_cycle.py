"""The phases of the torch-persistence scenario's own cycle: import, setup, train, save, load.

The PyTorch side as the revision ships it: `ptycho_torch.workflows.components.run_cdi_example_torch`
(else `train_cdi_model_torch`, a gap) trains one short epoch on CPU on the tiny dataset of the
tf-persistence `train` variant (its `data` phase is reused), then
`ptycho_torch.model_manager.save_torch_bundle` writes `wts.h5.zip` and `load_torch_bundle`
reads it back. Every file goes under `ctx.out` (Lightning's `default_root_dir` is the
TrainingConfig's `output_dir`, `ctx.out/train`); the harness points MLflow and torch's own
folders into scratch too. The phases that set the PyTorch archive beside the tracking
library and the TensorFlow loader are in torch_checks.py.

Runs inside the traced process: standard library only (torch, numpy and the target only as
the target imports them), Python 3.10+.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
import sys
from pathlib import Path
from typing import Any

from ..contract import ARCHIVE_BASE, REQUIRED_MODELS
from .contract import ScenarioError
from .persistence_api import import_named
from .persistence_training import SEED, TRAIN_SETTINGS
from .persistence_training import phase_data as simulate
from .torch_observe import TrackingFinder, raised

TORCH_PACKAGE = "ptycho_torch"
# (module, required): the PyTorch path, and the TensorFlow-side modules it calls into.
IMPORTS = (
    ("ptycho.params", True),
    ("ptycho.config.config", True),
    ("ptycho.probe", False),
    ("ptycho.raw_data", False),
    ("ptycho_torch.model_manager", True),
    ("ptycho_torch.workflows.components", False),
)
FRESH_IMPORTS = (("ptycho.params", True), ("ptycho.config.config", True), ("ptycho_torch.model_manager", True))
TRAIN_FOLDER = "train"  # Lightning's default_root_dir: checkpoints, CSV logs, the workflow's own archive
# Execution settings for the PyTorch entry point, each passed only when the revision's config has it.
EXECUTION = {"accelerator": "cpu", "enable_progress_bar": False, "num_workers": 0, "deterministic": True}


def _import(ctx: Any, name: str, required: bool) -> Any:
    """Import a module of the target; a missing optional one is a gap, a missing required one the
    plain message that this revision lacks the PyTorch path."""
    return import_named(ctx, name, name, required, ctx.phase)


def fix_seeds() -> None:
    """Python, numpy and torch seeds (only as the target already imported them)."""
    random.seed(SEED)
    for name, call in (("numpy", "random.seed"), ("torch", "manual_seed")):
        module = sys.modules.get(name)
        head, _, tail = call.rpartition(".")
        owner = getattr(module, head, None) if head else module
        if owner is not None and hasattr(owner, tail):
            getattr(owner, tail)(SEED)


def phase_import(ctx: Any) -> None:
    for name, required in IMPORTS if ctx.phase == "import" else FRESH_IMPORTS:
        _import(ctx, name, required)
    # the shared `data` phase (persistence_training.py) asks for `probe` and `raw_data` by short name
    ctx.modules.update({n.split(".", 1)[1]: m for n, m in list(ctx.modules.items()) if n.startswith("ptycho.")})


def _training_config(ctx: Any, config: Any) -> Any:
    """`TrainingConfig(model=ModelConfig(N, gridsize), nepochs=1, n_groups, batch_size, output_dir)`."""
    known = {f.name for f in dataclasses.fields(config.TrainingConfig)}
    extra = {name: value for name, value in TRAIN_SETTINGS.items() if name in known}
    for name in sorted(set(TRAIN_SETTINGS) - known):
        ctx.gap("setup", f"TrainingConfig.{name}", f"the target's default (wanted {TRAIN_SETTINGS[name]})")
    return config.TrainingConfig(
        model=config.ModelConfig(N=ctx.N, gridsize=ctx.gridsize),
        output_dir=Path(ctx.out) / getattr(ctx, "train_folder", TRAIN_FOLDER),
        **extra,
    )


def phase_setup(ctx: Any) -> None:
    """The config bridge as the PyTorch workflow expects it (`update_legacy_dict`), the default probe."""
    params, config = ctx.modules["ptycho.params"], ctx.modules["ptycho.config.config"]
    ctx.config = _training_config(ctx, config)
    config.update_legacy_dict(params.cfg, ctx.config)
    probe = ctx.modules.get("ptycho.probe")
    if probe is not None and hasattr(probe, "set_default_probe"):
        probe.set_default_probe()
    else:
        ctx.gap("setup", "ptycho.probe.set_default_probe", "none")
    fix_seeds()


def phase_data(ctx: Any) -> None:
    """The tf-persistence `train` variant's dataset (`RawData.from_simulation`), also written with the
    target's own `RawData.to_file` into `data/train.npz`: the PyTorch config factory reads the probe
    size from `TrainingConfig.train_data_file`, which must exist."""
    simulate(ctx)
    data = ctx.modules["train_data"]
    if not hasattr(data, "to_file"):
        ctx.gap("data", "ptycho.raw_data.RawData.to_file", "no train_data_file (the factory may refuse)")
        return
    path = Path(ctx.config.output_dir).parent / "data" / "train.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    data.to_file(str(path))
    if any(f.name == "train_data_file" for f in dataclasses.fields(ctx.config)):
        ctx.config = dataclasses.replace(ctx.config, train_data_file=path)


def _execution_config(ctx: Any) -> Any:
    """`PyTorchExecutionConfig` on CPU without progress bars, when the revision has one."""
    cls: Any = getattr(ctx.modules["ptycho.config.config"], "PyTorchExecutionConfig", None)
    if cls is None or not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        ctx.gap("train", "ptycho.config.config.PyTorchExecutionConfig", "the entry point's defaults")
        return None
    known = {f.name for f in dataclasses.fields(cls)}
    settings = {k: v for k, v in EXECUTION.items() if k in known}
    return cls(**settings)


def phase_train(ctx: Any) -> None:
    """One epoch through `run_cdi_example_torch(data, None, config, execution_config=…)`; else
    `train_cdi_model_torch`. The entry point's own save (when it has one) writes under `train/`.
    Should it raise, the error is a gap and untrained models stand in (`_untrained`)."""
    try:
        ctx.results = train_once(ctx)
    except ScenarioError:
        raise
    except Exception as error:  # noqa: BLE001 - the revision's training fails: evidence, then untrained models
        _untrained(ctx, ctx.train_entry, raised(ctx, error))


def train_once(ctx: Any) -> dict[str, Any]:
    """The revision's training entry point, once, on `ctx.modules['train_data']`: its results dict.
    Imports of the tracking library while it runs are noted in `ctx.tracking_in_training`."""
    fix_seeds()
    components = ctx.modules.get("ptycho_torch.workflows.components")
    run: Any = getattr(components, "run_cdi_example_torch", None)
    train: Any = getattr(components, "train_cdi_model_torch", None)
    if run is None and train is None:
        raise ScenarioError(
            "the target has neither ptycho_torch.workflows.components.run_cdi_example_torch nor "
            "train_cdi_model_torch; nothing could be trained"
        )
    execution = _execution_config(ctx)
    kwargs = {"execution_config": execution} if execution is not None else {}
    data = ctx.modules["train_data"]
    data.Y = None  # PINN training needs no ground truth (tf-persistence's train variant found Y rejected)
    if run is None:
        ctx.gap(ctx.phase, "ptycho_torch.workflows.components.run_cdi_example_torch", "train_cdi_model_torch")
    ctx.train_entry, entry = ("run_cdi_example_torch", run) if run is not None else ("train_cdi_model_torch", train)
    kwargs = kwargs if "execution_config" in inspect.signature(entry).parameters else {}
    watch = TrackingFinder(ctx, refuse=False)  # who imports the tracking library while training
    try:
        with watch:
            returned = entry(data, None, ctx.config, **kwargs)
    finally:
        ctx.tracking_in_training = watch.attempts
    return returned[2] if run is not None else returned


def _untrained(ctx: Any, entry: str, failure: dict[str, Any]) -> None:
    """The revision's training entry point raised: a gap naming the error and its line, then the two
    models built untrained by `create_torch_model_with_gridsize(gridsize, N, {'model_type': 'pinn'})`
    (the PINN path), so that persistence, the subject of the run, is still exercised."""
    ctx.gap(
        "train",
        f"a working {entry} ({failure['type']}: {failure['message']} at {failure['raised_at'] or failure['innermost']})",
        "untrained models from ptycho_torch.model_manager.create_torch_model_with_gridsize (phase build-untrained)",
    )
    ctx.set_phase("build-untrained")
    create = _require(ctx, "create_torch_model_with_gridsize")
    fix_seeds()
    ctx.results = {"models": {name: create(ctx.gridsize, ctx.N, {"model_type": "pinn"}) for name in REQUIRED_MODELS}}


def trained_models(ctx: Any) -> dict[str, Any]:
    models = (getattr(ctx, "results", None) or {}).get("models")
    if not models:
        raise ScenarioError("the PyTorch training entry point returned no 'models'; there is nothing to save")
    return models


def save_bundle(ctx: Any, folder: str) -> str:
    """`save_torch_bundle(models, <folder>/wts.h5, config, intensity_scale)`; the base path saved to."""
    save = _require(ctx, "save_torch_bundle")
    base = str(Path(ctx.out) / folder / ARCHIVE_BASE) if folder else f"{ctx.out}/{ARCHIVE_BASE}"
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    save(trained_models(ctx), base, ctx.config, intensity_scale=ctx.results.get("intensity_scale"))
    return base


def load_bundle(ctx: Any, base: str) -> Any:
    return _require(ctx, "load_torch_bundle")(base)


def _require(ctx: Any, name: str) -> Any:
    found = getattr(ctx.modules.get(f"{TORCH_PACKAGE}.model_manager"), name, None)
    if found is None:
        raise ScenarioError(f"the target has no {TORCH_PACKAGE}.model_manager.{name}; the PyTorch persistence path")
    return found


def phase_save(ctx: Any) -> None:
    save_bundle(ctx, "")


def phase_load(ctx: Any) -> None:
    load_bundle(ctx, f"{ctx.out}/{ARCHIVE_BASE}")
