"""The phases of the save/load cycle: import, setup, build, save, load (and the fresh ones).

Written against the persistence contract, not one revision: where the target lacks an entry
point the next one is used and the gap recorded (`ctx.gap`); a module that cannot be
imported before the config is set up is imported again after setup. The `train` variant's
own phases (data, train) are in persistence_training.py.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from ..contract import ARCHIVE_BASE, REQUIRED_MODELS
from .contract import ScenarioError
from .persistence_api import Context, custom_objects, import_module, imports, require, where_raised
from .persistence_training import TRAIN_SETTINGS


def phase_import(ctx: Context) -> None:
    """Import the package's modules. A module that cannot be imported before the config is
    set up (some revisions build models at import time) is imported again after setup, and
    the gap is recorded; a missing dependency still fails the run."""
    for name, required in imports(ctx.variant):
        if name != "params" and ctx.deferred:
            ctx.deferred.append(name)
            continue
        try:
            import_module(ctx, name, required)
        except ImportError:
            raise
        except Exception as error:  # noqa: BLE001 - recorded as a gap, retried after setup
            if name == "params":
                raise
            ctx.deferred.append(name)
            ctx.gap(
                "import",
                f"{ctx.package}.{name} importable before setup",
                f"imported after setup ({type(error).__name__}: {error} at {where_raised(error, ctx.package)})",
            )
    if ctx.deferred and getattr(ctx, "phase", None) == "fresh-import":
        ctx.gap(
            "fresh-import", "a fresh process that can import the package without setup", "ran setup first (fresh-setup)"
        )
        ctx.set_phase("fresh-setup")
        phase_setup(ctx)
        ctx.set_phase("fresh-import-after-setup")
        import_deferred(ctx)


def import_deferred(ctx: Context) -> None:
    """The modules the import phase put off, imported now that the config is set up."""
    for name, required in imports(ctx.variant):
        if name in ctx.deferred:
            import_module(ctx, name, required)
    ctx.deferred.clear()


def _training_config(ctx: Context, config: Any) -> Any:
    """`TrainingConfig(model=ModelConfig(N, gridsize), output_dir=out[, nepochs, n_groups, batch_size])`.

    For the `train` variant the training settings are passed too; a setting the revision's
    dataclass lacks is left out and recorded as a gap."""
    extra: dict[str, Any] = {}
    if ctx.variant == "train":
        known = (
            {f.name for f in dataclasses.fields(config.TrainingConfig)}
            if dataclasses.is_dataclass(config.TrainingConfig)
            else set()
        )
        for name, value in TRAIN_SETTINGS.items():
            if name in known:
                extra[name] = value
            else:
                ctx.gap("setup", f"TrainingConfig.{name}", f"the target's default (wanted {value})")
    return config.TrainingConfig(
        model=config.ModelConfig(N=ctx.N, gridsize=ctx.gridsize), output_dir=Path(ctx.out), **extra
    )


def phase_setup(ctx: Context) -> None:
    params, config = ctx.modules["params"], ctx.modules.get("config.config")
    cfg = require(params, "cfg", f"{ctx.package}.params.cfg")
    names = ("update_legacy_dict", "TrainingConfig", "ModelConfig")
    if config is not None and all(hasattr(config, n) for n in names):
        ctx.modules["training_config"] = _training_config(ctx, config)
        config.update_legacy_dict(cfg, ctx.modules["training_config"])
    else:
        ctx.gap("setup", "config.config.update_legacy_dict(TrainingConfig(ModelConfig))", "params.set('N'/'gridsize')")
        params.set("N", ctx.N)
        params.set("gridsize", ctx.gridsize)
        if ctx.variant == "train":
            for name, value in TRAIN_SETTINGS.items():
                params.set(name, value)
    probe = ctx.modules.get("probe")
    if probe is not None and hasattr(probe, "set_default_probe"):
        probe.set_default_probe()
    else:
        ctx.gap("setup", "probe.set_default_probe", "none")
    if ctx.variant != "train" or ctx.deferred:  # else the training path computes intensity_scale from the data
        if ctx.variant == "train":
            ctx.gap(
                "setup",
                "intensity_scale left to the training path",
                f"set in setup, because {ctx.package}.{ctx.deferred[0]} cannot be imported before setup",
            )
        nphotons = cfg.get("nphotons", 1e9)
        params.set("intensity_scale", math.sqrt(nphotons) / (ctx.N / 2))
    if ctx.deferred and getattr(ctx, "phase", None) == "setup":
        ctx.set_phase("import-after-setup")
        import_deferred(ctx)


def phase_build(ctx: Context) -> None:
    create = require(
        ctx.modules["model"], "create_model_with_gridsize", f"{ctx.package}.model.create_model_with_gridsize"
    )
    built = create(ctx.gridsize, ctx.N)
    if not isinstance(built, (tuple, list)) or len(built) < 2:
        raise ScenarioError(f"create_model_with_gridsize did not return ({', '.join(REQUIRED_MODELS)})")
    ctx.modules["built"] = dict(zip(REQUIRED_MODELS, built))


def phase_save(ctx: Context) -> None:
    Path(ctx.out).mkdir(parents=True, exist_ok=True)
    manager = ctx.modules["model_manager"]
    if ctx.variant in ("trainflow", "train"):
        require(manager, "save", f"module-level {ctx.package}.model_manager.save(out_prefix)")(ctx.out)
        return
    cls = require(manager, "ModelManager", f"{ctx.package}.model_manager.ModelManager")
    save = require(cls, "save_multiple_models", "ModelManager.save_multiple_models")
    scale = ctx.modules["params"].cfg["intensity_scale"]  # read directly: keep the trace to the save itself
    save(ctx.modules["built"], f"{ctx.out}/{ARCHIVE_BASE}", custom_objects(ctx.package), scale)


def phase_load(ctx: Context) -> None:
    components = ctx.modules.get("workflows.components")
    bundle = getattr(components, "load_inference_bundle", None) if components is not None else None
    if bundle is not None:
        bundle(Path(ctx.out))
        return
    ctx.gap("load", "workflows.components.load_inference_bundle", "ModelManager.load_multiple_models")
    manager = require(ctx.modules["model_manager"], "ModelManager", f"{ctx.package}.model_manager.ModelManager")
    require(manager, "load_multiple_models", "ModelManager.load_multiple_models")(f"{ctx.out}/{ARCHIVE_BASE}")
