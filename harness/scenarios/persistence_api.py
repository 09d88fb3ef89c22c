"""The target's entry points for the tf-persistence scenario, found by name.

The phases ask for `<package>.<module>` and its attributes here: an optional module that is
missing is a gap (`ctx.gap`), a required entry point that is missing is a `ScenarioError`
that names it, and an error the target raised is placed at its innermost line in the
package. `Context` is what the phases get when run in-process without the harness
(`persistence.run`); under the harness they get the contract's `Context` with `STATE`.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

from .. import frames
from .contract import ScenarioError

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
    return import_named(ctx, full, name, required, "import")


def import_named(ctx: Any, full: str, key: str, required: bool, phase: str) -> Any | None:
    """Import `full` into `ctx.modules[key]`; a missing optional module (or package of it) is a gap of `phase`."""
    try:
        module = importlib.import_module(full)
    except ModuleNotFoundError as error:
        if error.name not in (full, *_parents(full)) or required:
            raise
        ctx.gap(phase, full, "skipped")
        module = None
    ctx.modules[key] = module
    return module


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def require(module: Any, attribute: str, what: str) -> Any:
    """`module.attribute`, which the scenario cannot do without: else a ScenarioError naming `what`."""
    value = getattr(module, attribute, None) if module is not None else None
    if value is None:
        raise ScenarioError(f"the target has no {what}; a ptycho-like target must provide it")
    return value


def where_raised(error: BaseException, package: str) -> str:
    """`file:line (module)` of the innermost frame of the package in a traceback."""

    def in_package(frame) -> bool:
        name = frames.module_of(frame) or ""
        return name == package or name.startswith(package + ".")

    found = frames.innermost(frames.from_traceback(error.__traceback__), in_package)
    if found is None:
        return "unknown"
    frame, line = found
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{line} ({frames.module_of(frame)})"


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
