"""Scenarios: the question a run asks, as files that follow one contract (`contract.py`).

The shipped scenarios are files of this package, found by name; any other scenario is a
path to a `.py` file or a `module:attribute`. The harness process never imports a scenario:
`probe.py` checks it in a subprocess and hands back its description as JSON.

Runs inside the traced process (and the probe's): standard library only. `persistence.py`
holds the shipped tf-persistence phases, `tf_persistence*.py` name them as scenario files;
`torch_persistence.py` is the PyTorch side (phases in `torch_cycle.py`, `torch_checks.py`).

May import: the shared helpers (`contract`, `frames`, `errors`). Never `harness.trace` (the
traced process's `child` drives a scenario, not the other way round) nor the harness side.
"""

from __future__ import annotations

# Shipped scenario name → variant → the module that implements it.
SHIPPED: dict[str, dict[str, str]] = {
    "tf-persistence": {
        "default": "harness.scenarios.tf_persistence",
        "trainflow": "harness.scenarios.tf_persistence",
        "train": "harness.scenarios.tf_persistence_train",
    },
    # The PyTorch side (ALLOWS_TORCH): run it with `--python .venv-torch/bin/python` (make torch-env).
    "torch-persistence": {"default": "harness.scenarios.torch_persistence"},
}
DEFAULT_SCENARIO = "tf-persistence"


def shipped_source(name: str, variant: str) -> str | None:
    """The module of a shipped scenario's variant; None when `name` is not a shipped scenario."""
    variants = SHIPPED.get(name)
    if variants is None:
        return None
    return variants.get(variant, "")
