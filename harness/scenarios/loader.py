"""Loading a scenario: a `.py` file, a `module`, or a `module:attribute`, imported and checked.

A file is compiled before it runs, so a syntax error names its line; an exception raised at
its top level names the line of the file that raised it. The imported object is then checked
(checks.py) and becomes a `Scenario`.

This runs in two places: the probe subprocess that checks a file before anything is traced,
and the traced process (which loads the checked file before the recorder starts); the
harness process only asks `is_module_ref`, never imports a scenario file (it may import the
target). Standard library only, Python 3.10+.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from .. import frames
from .checks import checked_scenario
from .contract import Scenario, ScenarioFileError

MODULE_NAME = "callchain_scenario"


def load(source: str) -> Scenario:
    """Import a scenario (`path/to/file.py`, `module`, or `module:attribute`) and check it."""
    file, obj = _import(source)
    attribute = source.rsplit(":", 1)[1] if is_module_ref(source) and ":" in source else None
    return checked_scenario(source, file, obj, attribute)


def is_module_ref(source: str) -> bool:
    """`pkg.module` or `pkg.module:attr` (not a path to a .py file)."""
    head = source.split(":", 1)[0] if not os.path.exists(source) else source
    return not head.endswith(".py") and "/" not in head and os.sep not in head and bool(re.fullmatch(r"[\w.]+", head))


def _import(source: str) -> tuple[str, Any]:
    if is_module_ref(source):
        return _import_module(source)
    path = os.path.abspath(os.path.expanduser(source))
    if not os.path.isfile(path):
        raise ScenarioFileError(
            source, None, "no such scenario file (pass a .py file, module:attribute, or a shipped name)"
        )
    _compile(path)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ScenarioFileError(path, None, "cannot be loaded as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module  # dataclasses and pickling look their module up here
    _execute(lambda: spec.loader.exec_module(module), path)  # type: ignore[union-attr]
    return path, module


def _import_module(source: str) -> tuple[str, Any]:
    name, _, attribute = source.partition(":")
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.origin or not os.path.isfile(found.origin):
        raise ScenarioFileError(source, None, f"no module {name!r} to load the scenario from")
    _compile(found.origin)
    module = _execute(lambda: importlib.import_module(name), found.origin)
    if not attribute:
        return found.origin, module
    if not hasattr(module, attribute):
        raise ScenarioFileError(found.origin, None, f"defines no {attribute!r}")
    return found.origin, getattr(module, attribute)


def _compile(path: str) -> None:
    try:
        with open(path, "rb") as handle:
            compile(handle.read(), path, "exec", dont_inherit=True)
    except SyntaxError as error:
        raise ScenarioFileError(path, error.lineno, f"syntax error: {error.msg}") from None
    except (OSError, ValueError) as error:
        raise ScenarioFileError(path, None, f"cannot be read: {error}") from None


def _execute(run: Callable[[], Any], path: str) -> Any:
    """Run the file's top level; an exception there names the file's line that raised it."""
    try:
        return run()
    except ScenarioFileError:
        raise
    except BaseException as error:  # noqa: BLE001 - any failure of a user file is bad input
        found = frames.innermost(
            frames.from_traceback(error.__traceback__),
            lambda frame: os.path.abspath(frame.f_code.co_filename) == os.path.abspath(path),
        )
        line = found[1] if found else None
        raise ScenarioFileError(path, line, f"raised {type(error).__name__} when loaded: {error}") from None
