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
run record. The phases themselves: persistence_cycle.py (import, setup, build, save, load),
persistence_training.py (data, train), both on the target's entry points found by
persistence_api.py.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..contract import ARCHIVE_NAME
from .persistence_api import Context
from .persistence_cycle import phase_build, phase_import, phase_load, phase_save, phase_setup
from .persistence_training import phase_data, phase_train

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
