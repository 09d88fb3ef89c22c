"""The `tf-persistence` scenario: the TensorFlow save/load cycle as a no-op harness.

Build the models, do not train, save them with `ModelManager`, load them back, exactly as
persistence-contract.md describes the cycle that works. Written against the contract, not
one revision: where the target lacks an entry point, the next one is used and the gap is
recorded (`ctx.gap`) instead of failing the run.

Variants: `default` calls `ModelManager.save_multiple_models` with a custom-objects map;
`trainflow` calls the module-level `ptycho.model_manager.save(out)` the training scripts use;
`train` replaces the build with the real training path: simulate a tiny dataset with the
target's own API (`data`), run `workflows.components.run_cdi_example` for one epoch
(`train`), then save with `model_manager.save(out)` as `scripts/training/train.py` does.
A second, fresh process can run `fresh-import` + `fresh-load` to show what loading does to
the global config of a process that never built a model (inference).

Which phases a variant runs, and what role each phase plays (the renderers pick "the save
path", "the train path" by role), is said here and nowhere else: `describe` hands it to the
run record.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import frames
from ..contract import ARCHIVE_BASE, ARCHIVE_NAME, REQUIRED_MODELS
from .contract import ScenarioError

VARIANTS = ("default", "trainflow", "train")
CYCLE = ("import", "setup", "build", "save", "load")
TRAIN_CYCLE = ("import", "setup", "data", "train", "save", "load")
FRESH_LOAD = ("fresh-import", "fresh-load")
# The processes the harness starts, in order; `title` is how the report names each in prose.
PROCESSES = (
    {"label": "cycle", "title": "In the process that saved", "phases": CYCLE},
    {"label": "fresh", "title": "In a fresh process (inference)", "phases": FRESH_LOAD},
)
# What each phase is for: the renderers pick the save chain, the load chains and the entry
# points by role, never by a phase name. `titles` names the chains in prose.
ROLES: dict[str, list[str]] = {
    "build": ["build"],
    "save": ["save"],
    "load": ["load", "fresh-load"],
    "fresh-load": ["fresh-load"],
    "entry": ["build", "save", "load", "fresh-load"],
}
CHAINS = (("Save", ["save"]), ("Load", ["load"]), ("Fresh load", ["fresh-load"]))
ORDER = "build, save, load"
WHY = (
    f"these are the calls the training and inference workflows make around `{ARCHIVE_NAME}` (persistence contract: "
    "save with `ModelManager.save_multiple_models` or `model_manager.save`, load with `load_inference_bundle`), "
    "run without training so the trace holds persistence only."
)
# The `train` variant: the training path replaces the build (data, then train), and the path
# the report shows starts at the training entry point.
TRAIN_ROLES: dict[str, list[str]] = dict(
    ROLES, data=["data"], train=["train"], entry=["train", "save", "load", "fresh-load"]
)
TRAIN_CHAINS = (("Train", ["train"]),) + CHAINS
TRAIN_ORDER = "train, save, load"
TRAIN_WHY = (
    "this is the path the training script takes: `run_cdi_example` trains for one short epoch on a tiny dataset "
    "simulated with the target's own API and publishes the trained models as `ptycho.model`'s module-level "
    "singletons; `model_manager.save(out)` archives them through `ModelManager`; `load_inference_bundle` loads "
    "the archive as inference does."
)
SEED = 0
# The training run: small enough for a 2-core CPU, big enough to run every stage once.
TRAIN_SETTINGS = {"nepochs": 1, "n_groups": 64, "batch_size": 16}
SIM_POSITIONS = 64
SIM_OBJECT = 256


def cycle(variant: str) -> tuple:
    """The phases the first (saving) process runs for a variant."""
    return TRAIN_CYCLE if variant == "train" else CYCLE


def processes(fresh_load: bool = True, variant: str = "default") -> list[dict[str, Any]]:
    """The processes to run: the cycle (its phases per variant), then (unless switched off) the fresh load."""
    chosen = [dict(p) for p in PROCESSES if fresh_load or p["label"] == PROCESSES[0]["label"]]
    chosen[0]["phases"] = cycle(variant)
    return chosen


def describe(name: str, variant: str, phases: list[str]) -> dict[str, Any]:
    """The scenario as the run record carries it: every phase name a renderer may need."""
    train = variant == "train"
    chains = TRAIN_CHAINS if train else CHAINS
    return {
        "name": name,
        "variant": variant,
        "phases": phases,
        "roles": TRAIN_ROLES if train else ROLES,
        "order": TRAIN_ORDER if train else ORDER,
        "why": TRAIN_WHY if train else WHY,
        "chains": [{"title": title, "phases": chain} for title, chain in chains],
        "processes": [
            {"label": p["label"], "title": p["title"], "phases": list(p["phases"])} for p in processes(True, variant)
        ],
    }


class Context:
    """What the scenario needs from the run: phase marks, gap notes, and its settings."""

    def __init__(
        self, package: str, out: str, variant: str, set_phase: Callable[[str], None], N: int = 64, gridsize: int = 1
    ) -> None:
        self.package = package
        self.out = out
        self.variant = variant
        self.set_phase = set_phase
        self.N = N
        self.gridsize = gridsize
        self.gaps: list[dict[str, str]] = []
        self.modules: dict[str, Any] = {}
        self.deferred: list[str] = []
        self.phase = ""

    def gap(self, phase: str, missing: str, used: str) -> None:
        self.gaps.append({"phase": phase, "missing": missing, "used": used})

    def module(self, name: str, required: bool = False) -> Any | None:
        return import_module(self, name, required)


def import_module(ctx: Any, name: str, required: bool = False) -> Any | None:
    """Import `<package>.<name>`; a missing optional module is a gap, not an error."""
    full = f"{ctx.package}.{name}" if name else ctx.package
    try:
        module = importlib.import_module(full)
    except ModuleNotFoundError as error:
        if error.name not in (full, *_parents(full)) or required:
            raise
        ctx.gap("import", full, "skipped")
        module = None
    ctx.modules[name] = module
    return module


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _require(module: Any, attribute: str, what: str) -> Any:
    value = getattr(module, attribute, None) if module is not None else None
    if value is None:
        raise ScenarioError(f"the target has no {what}; a ptycho-like target must provide it")
    return value


IMPORTS = (
    ("params", True),
    ("config.config", False),
    ("probe", False),
    ("model", True),
    ("model_manager", True),
    ("workflows.components", False),
)
TRAIN_IMPORTS = (("raw_data", False),)


def imports(variant: str) -> tuple:
    """The modules the import phase brings in: the train variant also needs the simulation API."""
    return IMPORTS + TRAIN_IMPORTS if variant == "train" else IMPORTS


def _where(error: BaseException, package: str) -> str:
    """`module:line` of the innermost frame of the package in a traceback."""

    def in_package(frame) -> bool:
        name = frames.module_of(frame) or ""
        return name == package or name.startswith(package + ".")

    found = frames.innermost(frames.from_traceback(error.__traceback__), in_package)
    if found is None:
        return "unknown"
    frame, line = found
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{line} ({frames.module_of(frame)})"


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
                f"imported after setup ({type(error).__name__}: {error} at {_where(error, ctx.package)})",
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
    cfg = _require(params, "cfg", f"{ctx.package}.params.cfg")
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
    create = _require(
        ctx.modules["model"], "create_model_with_gridsize", f"{ctx.package}.model.create_model_with_gridsize"
    )
    built = create(ctx.gridsize, ctx.N)
    if not isinstance(built, (tuple, list)) or len(built) < 2:
        raise ScenarioError(f"create_model_with_gridsize did not return ({', '.join(REQUIRED_MODELS)})")
    ctx.modules["built"] = dict(zip(REQUIRED_MODELS, built))


def custom_objects(namespace: str) -> dict[str, Any]:
    """Name → class map of the namespace's Keras layers, as the target's own `save()` builds."""
    keras = sys.modules.get("keras")
    base = getattr(getattr(keras, "layers", None), "Layer", None)
    found: dict[str, Any] = {}
    for name in sorted(sys.modules):
        if name != namespace and not name.startswith(namespace + "."):
            continue
        for attribute, value in sorted(vars(sys.modules[name]).items()):
            if inspect.isclass(value) and value.__module__ == name and base is not None and issubclass(value, base):
                found.setdefault(attribute, value)
    return found


def phase_save(ctx: Context) -> None:
    Path(ctx.out).mkdir(parents=True, exist_ok=True)
    manager = ctx.modules["model_manager"]
    if ctx.variant in ("trainflow", "train"):
        _require(manager, "save", f"module-level {ctx.package}.model_manager.save(out_prefix)")(ctx.out)
        return
    cls = _require(manager, "ModelManager", f"{ctx.package}.model_manager.ModelManager")
    save = _require(cls, "save_multiple_models", "ModelManager.save_multiple_models")
    scale = ctx.modules["params"].cfg["intensity_scale"]  # read directly: keep the trace to the save itself
    save(ctx.modules["built"], f"{ctx.out}/{ARCHIVE_BASE}", custom_objects(ctx.package), scale)


# -- the training path (variant `train`) -------------------------------------------------


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
            f"({type(error).__name__}: {error} at {_where(error, ctx.package)})",
            "trained again with Y = None (PINN training needs no ground truth)",
        )
    data.Y = None
    fix_seeds()
    entry(data, None, config)


def phase_load(ctx: Context) -> None:
    components = ctx.modules.get("workflows.components")
    bundle = getattr(components, "load_inference_bundle", None) if components is not None else None
    if bundle is not None:
        bundle(Path(ctx.out))
        return
    ctx.gap("load", "workflows.components.load_inference_bundle", "ModelManager.load_multiple_models")
    manager = _require(ctx.modules["model_manager"], "ModelManager", f"{ctx.package}.model_manager.ModelManager")
    _require(manager, "load_multiple_models", "ModelManager.load_multiple_models")(f"{ctx.out}/{ARCHIVE_BASE}")


PHASES: dict[str, Callable[[Context], None]] = {
    "import": phase_import,
    "setup": phase_setup,
    "build": phase_build,
    "data": phase_data,
    "train": phase_train,
    "save": phase_save,
    "load": phase_load,
    "fresh-import": phase_import,
    "fresh-load": phase_load,
}


def run(ctx: Context, phases) -> None:
    """Run phases by name in-process (the harness runs them through harness/scenarios/tf_persistence.py)."""
    for name in phases:
        ctx.phase = name
        ctx.set_phase(name)
        PHASES[name](ctx)
