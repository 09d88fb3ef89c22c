"""Build the two models (no training), save them with `ModelManager`, load them back.

The shipped `tf-persistence` scenario as a scenario file: the phases of `harness/scenarios/persistence.py`
(written against the persistence contract, with gaps where a revision lacks an entry point)
listed in the contract's form. Variant `default` saves with
`ModelManager.save_multiple_models`, `trainflow` with the module-level
`model_manager.save(out)`; the fresh process loads the archive as inference does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import persistence as tf

VARIANTS = ("default", "trainflow")
CONTRACT = True  # the built-in persistence contract applies when the target's docs state none
STATE = {"N": 64, "gridsize": 1, "modules": {}, "deferred": []}
ROLES = tf.ROLES
CHAINS = list(tf.CHAINS)
ORDER = tf.ORDER
WHY = tf.WHY
PROCESS_TITLES = tuple(p["title"] for p in tf.PROCESSES)


def phases_of(names: tuple[str, ...]) -> list[tuple[str, Callable[[Any], None]]]:
    """The phase functions of harness/scenarios/persistence.py by name (`setup` and `fresh-import` import
    what could not be imported before setup themselves)."""
    return [(name, tf.PHASES[name]) for name in names]


PHASES = phases_of(tf.CYCLE)
FRESH_PHASES = phases_of(tf.FRESH_LOAD)
