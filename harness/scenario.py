"""The `tf-persistence` scenario: the TensorFlow save/load cycle as a no-op harness.

Build the models, do not train, save them with `ModelManager`, load them back, exactly as
persistence-contract.md describes the cycle that works. Written against the contract, not
one revision: where the target lacks an entry point, the next one is used and the gap is
recorded (`ctx.gap`) instead of failing the run.

Variants: `default` calls `ModelManager.save_multiple_models` with a custom-objects map;
`trainflow` calls the module-level `ptycho.model_manager.save(out)` the training scripts use.
A second, fresh process can run `fresh-import` + `fresh-load` to show what loading does to
the global config of a process that never built a model (inference).

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

VARIANTS = ("default", "trainflow")
CYCLE = ("import", "setup", "build", "save", "load")
FRESH_LOAD = ("fresh-import", "fresh-load")
# The processes the harness starts, in order; `title` is how the report names each in prose.
PROCESSES = (
    {"label": "cycle", "title": "In the process that saved", "phases": CYCLE},
    {"label": "fresh", "title": "In a fresh process (inference)", "phases": FRESH_LOAD},
)
# What each phase is for: the renderers pick the save chain, the load chains and the entry
# points by role, never by a phase name. `titles` names the chains in prose.
ROLES: Dict[str, List[str]] = {
    "build": ["build"], "save": ["save"], "load": ["load", "fresh-load"], "fresh-load": ["fresh-load"],
    "entry": ["build", "save", "load", "fresh-load"],
}
CHAINS = (("Save", ["save"]), ("Load", ["load"]), ("Fresh load", ["fresh-load"]))
ORDER = "build, save, load"
WHY = ("these are the calls the training and inference workflows make around `wts.h5.zip` (persistence contract: "
       "save with `ModelManager.save_multiple_models` or `model_manager.save`, load with `load_inference_bundle`), "
       "run without training so the trace holds persistence only.")


def processes(fresh_load: bool = True) -> List[Dict[str, Any]]:
    """The processes to run: the cycle, then (unless switched off) the fresh load."""
    return [dict(p) for p in PROCESSES if fresh_load or p["label"] == PROCESSES[0]["label"]]


def describe(name: str, variant: str, phases: List[str]) -> Dict[str, Any]:
    """The scenario as the run record carries it: every phase name a renderer may need."""
    return {"name": name, "variant": variant, "phases": phases, "roles": ROLES, "order": ORDER, "why": WHY,
            "chains": [{"title": title, "phases": chain} for title, chain in CHAINS],
            "processes": [{"label": p["label"], "title": p["title"], "phases": list(p["phases"])} for p in PROCESSES]}


class ScenarioError(Exception):
    """The target does not offer what the scenario needs; the message says what to do."""


class Context:
    """What the scenario needs from the run: phase marks, gap notes, and its settings."""

    def __init__(self, package: str, out: str, variant: str, set_phase: Callable[[str], None],
                 N: int = 64, gridsize: int = 1) -> None:
        self.package = package
        self.out = out
        self.variant = variant
        self.set_phase = set_phase
        self.N = N
        self.gridsize = gridsize
        self.gaps: List[Dict[str, str]] = []
        self.modules: Dict[str, Any] = {}
        self.deferred: List[str] = []

    def gap(self, phase: str, missing: str, used: str) -> None:
        self.gaps.append({"phase": phase, "missing": missing, "used": used})

    def module(self, name: str, required: bool = False) -> Optional[Any]:
        """Import `<package>.<name>`; a missing optional module is a gap, not an error."""
        full = f"{self.package}.{name}" if name else self.package
        try:
            module = importlib.import_module(full)
        except ModuleNotFoundError as error:
            if error.name not in (full, *_parents(full)) or required:
                raise
            self.gap("import", full, "skipped")
            module = None
        self.modules[name] = module
        return module


def _parents(name: str) -> List[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _require(module: Any, attribute: str, what: str) -> Any:
    value = getattr(module, attribute, None) if module is not None else None
    if value is None:
        raise ScenarioError(f"the target has no {what}; a ptycho-like target must provide it")
    return value


IMPORTS = (("params", True), ("config.config", False), ("probe", False),
           ("model", True), ("model_manager", True), ("workflows.components", False))


def _where(error: BaseException, package: str) -> str:
    """`module:line` of the innermost frame of the package in a traceback."""
    found = "unknown"
    for frame, line in traceback.walk_tb(error.__traceback__):
        name = frame.f_globals.get("__name__", "")
        if name == package or name.startswith(package + "."):
            found = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{line} ({name})"
    return found


def phase_import(ctx: Context) -> None:
    """Import the package's modules. A module that cannot be imported before the config is
    set up (some revisions build models at import time) is imported again after setup, and
    the gap is recorded; a missing dependency still fails the run."""
    for name, required in IMPORTS:
        if name != "params" and ctx.deferred:
            ctx.deferred.append(name)
            continue
        try:
            ctx.module(name, required)
        except ImportError:
            raise
        except Exception as error:  # noqa: BLE001 - recorded as a gap, retried after setup
            if name == "params":
                raise
            ctx.deferred.append(name)
            ctx.gap("import", f"{ctx.package}.{name} importable before setup",
                    f"imported after setup ({type(error).__name__}: {error} at {_where(error, ctx.package)})")


def import_deferred(ctx: Context) -> None:
    for name, required in IMPORTS:
        if name in ctx.deferred:
            ctx.module(name, required)
    ctx.deferred.clear()


def phase_setup(ctx: Context) -> None:
    params, config = ctx.modules["params"], ctx.modules.get("config.config")
    cfg = _require(params, "cfg", f"{ctx.package}.params.cfg")
    names = ("update_legacy_dict", "TrainingConfig", "ModelConfig")
    if config is not None and all(hasattr(config, n) for n in names):
        training = config.TrainingConfig(model=config.ModelConfig(N=ctx.N, gridsize=ctx.gridsize), output_dir=Path(ctx.out))
        config.update_legacy_dict(cfg, training)
    else:
        ctx.gap("setup", "config.config.update_legacy_dict(TrainingConfig(ModelConfig))", "params.set('N'/'gridsize')")
        params.set("N", ctx.N)
        params.set("gridsize", ctx.gridsize)
    probe = ctx.modules.get("probe")
    if probe is not None and hasattr(probe, "set_default_probe"):
        probe.set_default_probe()
    else:
        ctx.gap("setup", "probe.set_default_probe", "none")
    nphotons = cfg.get("nphotons", 1e9)
    params.set("intensity_scale", math.sqrt(nphotons) / (ctx.N / 2))


def phase_build(ctx: Context) -> None:
    create = _require(ctx.modules["model"], "create_model_with_gridsize", f"{ctx.package}.model.create_model_with_gridsize")
    built = create(ctx.gridsize, ctx.N)
    if not isinstance(built, (tuple, list)) or len(built) < 2:
        raise ScenarioError("create_model_with_gridsize did not return (autoencoder, diffraction_to_obj)")
    ctx.modules["built"] = {"autoencoder": built[0], "diffraction_to_obj": built[1]}


def custom_objects(namespace: str) -> Dict[str, Any]:
    """Name → class map of the namespace's Keras layers, as the target's own `save()` builds."""
    keras = sys.modules.get("keras")
    base = getattr(getattr(keras, "layers", None), "Layer", None)
    found: Dict[str, Any] = {}
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
    if ctx.variant == "trainflow":
        _require(manager, "save", f"module-level {ctx.package}.model_manager.save(out_prefix)")(ctx.out)
        return
    cls = _require(manager, "ModelManager", f"{ctx.package}.model_manager.ModelManager")
    save = _require(cls, "save_multiple_models", "ModelManager.save_multiple_models")
    scale = ctx.modules["params"].cfg["intensity_scale"]  # read directly: keep the trace to the save itself
    save(ctx.modules["built"], f"{ctx.out}/wts.h5", custom_objects(ctx.package), scale)


def phase_load(ctx: Context) -> None:
    components = ctx.modules.get("workflows.components")
    bundle = getattr(components, "load_inference_bundle", None) if components is not None else None
    if bundle is not None:
        bundle(Path(ctx.out))
        return
    ctx.gap("load", "workflows.components.load_inference_bundle", "ModelManager.load_multiple_models")
    manager = _require(ctx.modules["model_manager"], "ModelManager", f"{ctx.package}.model_manager.ModelManager")
    _require(manager, "load_multiple_models", "ModelManager.load_multiple_models")(f"{ctx.out}/wts.h5")


PHASES: Dict[str, Callable[[Context], None]] = {
    "import": phase_import, "setup": phase_setup, "build": phase_build, "save": phase_save,
    "load": phase_load, "fresh-import": phase_import, "fresh-load": phase_load,
}


def run(ctx: Context, phases) -> None:
    for name in phases:
        ctx.set_phase(name)
        PHASES[name](ctx)
        if not ctx.deferred:
            continue
        if name == "setup":
            ctx.set_phase("import-after-setup")
            import_deferred(ctx)
        elif name == "fresh-import":
            ctx.gap("fresh-import", "a fresh process that can import the package without setup", "ran setup first (fresh-setup)")
            ctx.set_phase("fresh-setup")
            phase_setup(ctx)
            ctx.set_phase("fresh-import-after-setup")
            import_deferred(ctx)
