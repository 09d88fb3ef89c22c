"""What the torch-persistence scenario observes: where an error was raised, who imports MLflow.

`raised` gives an exception's type, scrubbed message and the line that raised it (the innermost
frame under the target root, `path:line` relative to it, and the innermost frame of all).

For the tracking library, a meta-path finder placed first on `sys.meta_path` sees every
import of `mlflow` that is not already done. Watching (`refuse=False`, during training) it only notes who asked: the innermost
line under the target root that led to the import, and the innermost frame outside the import
machinery (often a library's). Refusing (`refuse=True`, the `no-tracking` phase) it also
raises `ModuleNotFoundError` as a missing package would; MLflow's modules and the target's
`ptycho_torch` modules already imported are set aside for the phase (so what the phase uses is
imported afresh, as in a process without MLflow) and put back after.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .. import frames
from ..summarize import scrub

TRACKING = ("mlflow",)
MAX_ATTEMPTS = 10
MAX_MESSAGE = 500


def relative(ctx: Any, filename: str, line: int) -> str | None:
    """`path:line` relative to the target root, or None for a file outside it."""
    root = os.path.join(os.path.realpath(ctx.root), "")
    real = os.path.realpath(filename)
    return f"{os.path.relpath(real, root)}:{line}" if real.startswith(root) else None


def raised(ctx: Any, error: BaseException) -> dict[str, Any]:
    """Type, message and where: the innermost frame under the root, and the innermost of all (its module)."""
    located = frames.from_traceback(error.__traceback__)
    inside = frames.innermost(located, lambda f: relative(ctx, f.f_code.co_filename, 1) is not None)
    innermost = located[0] if located else None
    try:
        message = str(error)
    except Exception as inner:  # noqa: BLE001 - a failing __str__ is itself the evidence
        message = f"<str() failed: {type(inner).__name__}>"
    return {
        "type": type(error).__name__,
        "message": scrub(message)[:MAX_MESSAGE],
        "raised_at": relative(ctx, inside[0].f_code.co_filename, inside[1]) if inside else None,
        "innermost": f"{frames.module_of(innermost[0]) or '?'}:{innermost[1]}" if innermost else None,
    }


class TrackingFinder:
    """Notes (and, refusing, blocks) imports of the tracking library."""

    def __init__(self, ctx: Any, refuse: bool, fresh: tuple[str, ...] = ()) -> None:
        self.ctx, self.refuse = ctx, refuse
        self.fresh = TRACKING + tuple(fresh)  # refusing: set aside, imported afresh under the refusal
        self.attempts: list[dict[str, str]] = []
        self.aside: dict[str, Any] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname.split(".", 1)[0] not in TRACKING:
            return None
        if self.refuse or fullname in TRACKING:  # watching, the top-level import is enough
            self._note(fullname)
        if self.refuse:
            raise ModuleNotFoundError(f"No module named '{fullname}' (absent for this phase)", name=fullname)
        return None

    def _note(self, fullname: str) -> None:
        if len(self.attempts) >= MAX_ATTEMPTS:
            return
        stack = list(frames.from_stack(sys._getframe(2)))
        inside = frames.innermost(stack, lambda f: relative(self.ctx, f.f_code.co_filename, 1) is not None)
        via = frames.innermost(stack, self._outside_machinery)
        importer = relative(self.ctx, inside[0].f_code.co_filename, inside[1]) if inside else None
        self.attempts.append(
            {
                "module": fullname,
                "importer": importer or "outside the target",
                "via": f"{frames.module_of(via[0]) or '?'}:{via[1]}" if via else "?",
            }
        )

    @staticmethod
    def _outside_machinery(frame: Any) -> bool:
        name = frame.f_code.co_filename
        return "importlib" not in name and name != __file__

    def _ours(self, name: str) -> bool:
        return name.split(".", 1)[0] in self.fresh

    def __enter__(self) -> TrackingFinder:
        if self.refuse:
            for name in [n for n in sys.modules if self._ours(n)]:
                self.aside[name] = sys.modules.pop(name)
        sys.meta_path.insert(0, self)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.meta_path.remove(self)
        if self.refuse:  # what the phase imported afresh goes; the modules of the run come back
            for name in [n for n in sys.modules if self._ours(n)]:
                del sys.modules[name]
            sys.modules.update(self.aside)
