"""Runs at start-up of every Python process the traced process spawns (multiprocessing
'spawn'/'forkserver' workers, `subprocess` running python): the traced process puts this
folder first on PYTHONPATH and names its run configuration in CALLCHAIN_CHILD_CONFIG, so a
spawned interpreter gets the same torch guard and recorder, writing into a stream of its
own. Any sitecustomize the environment had is run afterwards, as it would have been.
"""

import os
import sys


def _boot() -> None:
    config = os.environ.get("CALLCHAIN_CHILD_CONFIG")
    if not config:
        return
    try:
        from harness.trace.child import start_spawned
    except Exception:  # noqa: BLE001 - never stop the target's interpreter from starting
        return
    start_spawned(config)


def _chain() -> None:
    """Run the sitecustomize this one shadows, if the environment has one."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec("sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != here])
        if spec is not None and spec.loader is not None:
            module = type(sys)("sitecustomize")
            module.__file__ = spec.origin
            spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001
        pass


_boot()
_chain()
