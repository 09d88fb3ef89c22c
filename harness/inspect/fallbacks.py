"""The paths PtychoPINN's TensorFlow loader takes from a model folder's contents, judged.

``ModelManager.load_model`` (main ``ptycho/model_manager.py`` 199-320, torchapi-devel 199-337,
refactor 214-335), for every model the manifest lists (``load_inference_bundle`` loads them all):

* ``model.keras`` exists: ``tf.keras.models.load_model(model.keras)`` — its config.json is judged
  (:mod:`harness.inspect.kerascfg`), read as zipfile reads it;
* else ``saved_model.pb`` exists: the loader turns Keras' safe mode off and calls
  ``tf.keras.models.load_model(folder)`` (a Keras folder-format ``config.json`` there is read with
  safe mode off), and when that raises, ``tf.saved_model.load(folder)``, which restores the
  archive's own TensorFlow graph, runs its initializers at load and its functions at predict, and
  returns it as the model. Either way the model is code from the archive: hostile;
* else ``model.load_weights(folder)``: Keras 3 raises (or, with Orbax markers, needs orbax): the load
  fails, which the ``model.keras`` clause already reports.

``model.h5`` is never read (torchapi-devel's H5 branch is disabled), nor is anything outside the
listed folders and ``manifest.dill``.
"""

from __future__ import annotations

from typing import Any

from .. import contract
from .loaderview import listed_models, model_name_problem

SAVED_MODEL = "saved_model.pb"
KERAS_FOLDER_CONFIG = "config.json"


def _exists(state: Any, path: str) -> bool:
    """``os.path.exists`` after extraction: a file of that name, or a folder holding something."""
    return path in state.infos or any(name.startswith(path + "/") for name in state.infos)


def judge(state: Any, manifest: Any) -> None:
    """Flag every listed model whose folder makes the loader fall back to the archive's own graph."""
    for name in listed_models(manifest) or []:
        if not isinstance(name, str) or model_name_problem(name):
            continue  # refused as a model name already
        keras = f"{name}/{contract.MEMBER_BY_NAME['model.keras'].name}"
        saved = f"{name}/{SAVED_MODEL}"
        if _exists(state, keras) or saved not in state.infos:
            continue
        folder_config = f"{name}/{KERAS_FOLDER_CONFIG}" in state.infos
        state.problems.add(
            "loader_fallback",
            saved,
            f"{saved} without {keras}: the loader turns Keras' safe mode off and loads the folder "
            + ("(its config.json as a Keras model) " if folder_config else "")
            + "with tf.keras.models.load_model, then tf.saved_model.load, which runs the archive's own "
            "TensorFlow graph as the model; do not load this archive",
        )
