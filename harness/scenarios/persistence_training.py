"""The training path of the `train` variant: a tiny dataset simulated, then one short epoch.

The data comes from the target's own simulation API (`raw_data.RawData.from_simulation`)
on a small random-phase object; training goes through the entry point the training script
uses (`workflows.components.run_cdi_example`, else `train_cdi_model`). Seeds are fixed
before each, so two runs train (and trace) alike.

Runs inside the traced process: standard library only, Python 3.10+ (numpy and the
frameworks only as the target already imported them).
"""

from __future__ import annotations

import inspect
import random
import sys
from collections.abc import Callable
from typing import Any

from .contract import ScenarioError
from .persistence_api import Context, where_raised

SEED = 0
# The training run: small enough for a 2-core CPU, big enough to run every stage once.
TRAIN_SETTINGS = {"nepochs": 1, "n_groups": 64, "batch_size": 16}
SIM_POSITIONS = 64
SIM_OBJECT = 256


def fix_seeds(seed: int = SEED) -> None:
    """Python, numpy and TensorFlow/Keras seeds, so two runs train (and trace) alike.

    Only frameworks the target already imported are seeded: the scenario never imports
    TensorFlow itself (an untraced import would change what the trace sees)."""
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)
    keras = sys.modules.get("keras")
    utils = getattr(keras, "utils", None)
    if utils is not None and hasattr(utils, "set_random_seed"):
        utils.set_random_seed(seed)  # python, numpy and the backend's seed in one call
        return
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(getattr(tf, "random", None), "set_seed"):
        tf.random.set_seed(seed)


def _simulation_inputs(ctx: Context) -> dict[str, Any]:
    """Scan positions inside a small random-phase object, and the target's default probe."""
    import numpy

    rng = numpy.random.default_rng(SEED)
    size, n = SIM_OBJECT, ctx.N
    phase = rng.uniform(-numpy.pi / 4, numpy.pi / 4, (size, size))
    obj = numpy.exp(1j * phase).astype(numpy.complex64)
    low, high = n / 2 + 4, size - n / 2 - 4
    xcoords, ycoords = rng.uniform(low, high, SIM_POSITIONS), rng.uniform(low, high, SIM_POSITIONS)
    return {"xcoords": xcoords, "ycoords": ycoords, "objectGuess": obj, "probeGuess": _default_probe(ctx)}


def _default_probe(ctx: Context) -> Any:
    """The target's default probe as a 2-D array: `get_default_probe(N, fmt='np')`, else `(N)`."""
    probe = ctx.modules.get("probe")
    getter = getattr(probe, "get_default_probe", None) if probe is not None else None
    if getter is None:
        raise ScenarioError(
            f"the target has no {ctx.package}.probe.get_default_probe; the train variant needs a default probe to simulate data"
        )
    try:
        takes_fmt = "fmt" in inspect.signature(getter).parameters
    except (TypeError, ValueError):
        takes_fmt = False
    return getter(ctx.N, fmt="np") if takes_fmt else getter(ctx.N)


def phase_data(ctx: Context) -> None:
    """A tiny dataset from the target's own simulation API (`raw_data.RawData.from_simulation`)."""
    fix_seeds()
    raw = ctx.modules.get("raw_data")
    cls = getattr(raw, "RawData", None) if raw is not None else None
    simulate = getattr(cls, "from_simulation", None) if cls is not None else None
    if simulate is None:
        ctx.gap("data", f"{ctx.package}.raw_data.RawData.from_simulation", "none: this revision cannot simulate data")
        raise ScenarioError(
            f"the target has no {ctx.package}.raw_data.RawData.from_simulation; the train variant "
            "simulates its dataset with it, so nothing could be trained"
        )
    inputs = _simulation_inputs(ctx)
    ctx.modules["train_data"] = simulate(
        inputs["xcoords"], inputs["ycoords"], inputs["probeGuess"], inputs["objectGuess"], None
    )


def phase_train(ctx: Context) -> None:
    """One short epoch through `run_cdi_example(train_data, None, config)`; else `train_cdi_model`."""
    fix_seeds()
    components = ctx.modules.get("workflows.components")
    config = ctx.modules.get("training_config")
    if config is None:
        raise ScenarioError(
            f"the target has no {ctx.package}.config.config.TrainingConfig; the training entry points take one"
        )
    run = getattr(components, "run_cdi_example", None) if components is not None else None
    if run is not None:
        _train(ctx, "run_cdi_example", run, config)
        return
    train = getattr(components, "train_cdi_model", None) if components is not None else None
    if train is None:
        raise ScenarioError(
            f"the target has neither {ctx.package}.workflows.components.run_cdi_example nor "
            "train_cdi_model; nothing could be trained"
        )
    ctx.gap(
        "train",
        "workflows.components.run_cdi_example",
        "workflows.components.train_cdi_model (after update_legacy_dict)",
    )
    ctx.modules["config.config"].update_legacy_dict(ctx.modules["params"].cfg, config)
    _train(ctx, "train_cdi_model", train, config)


def _train(ctx: Context, name: str, entry: Callable[..., Any], config: Any) -> None:
    """Call the training entry point. If it raises while the simulated data still carries its
    optional ground truth `Y`, record the error as a gap and train once more without `Y`:
    PINN training needs no ground truth, and some revisions cannot group the `Y` their own
    simulation produces. Both attempts are in the trace; a second failure fails the run."""
    data = ctx.modules["train_data"]
    try:
        entry(data, None, config)
        return
    except Exception as error:  # noqa: BLE001 - retried once, then it propagates
        if getattr(data, "Y", None) is None:
            raise
        ctx.gap(
            "train",
            f"{name} accepting the ground truth Y of RawData.from_simulation "
            f"({type(error).__name__}: {error} at {where_raised(error, ctx.package)})",
            "trained again with Y = None (PINN training needs no ground truth)",
        )
    data.Y = None
    fix_seeds()
    entry(data, None, config)
