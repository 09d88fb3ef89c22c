"""Train for one short epoch on a tiny simulated dataset, save, load back.

The `train` variant of the shipped `tf-persistence` scenario: the training path of
`scripts/training/train.py` (`run_cdi_example`, then `model_manager.save(out)`) in place of
the untrained build, then the same loads as `tf_persistence`.
"""

from __future__ import annotations

from . import persistence as tf
from .tf_persistence import PROCESS_TITLES, STATE, phases_of

VARIANTS = ("train",)
CONTRACT = True
STATE = STATE
_NAMES = set(tf.TRAIN_CYCLE + tf.FRESH_LOAD)
ROLES = {role: [p for p in phases if p in _NAMES] for role, phases in tf.TRAIN_ROLES.items() if set(phases) & _NAMES}
CHAINS = list(tf.TRAIN_CHAINS)
ORDER = tf.TRAIN_ORDER
WHY = tf.TRAIN_WHY
PROCESS_TITLES = PROCESS_TITLES
PHASES = phases_of(tf.TRAIN_CYCLE)
FRESH_PHASES = phases_of(tf.FRESH_LOAD)
