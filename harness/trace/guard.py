"""Keep the traced process torch-free, provably.

A finder placed first on `sys.meta_path` refuses `torch`, `lightning`, `pytorch_lightning`
and `mlflow` before any other finder can look, so a stray `torch/` folder on `sys.path`
(PtychoPINN has one at its root) cannot turn `import torch` into an empty namespace
package. The refusal is a `ModuleNotFoundError`, which code written as
`try: import torch / except ImportError:` already handles; every attempt is remembered
with the `path:line` that made it, so the run can report who asked.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .. import frames

BLOCKED = ("torch", "lightning", "pytorch_lightning", "mlflow")
_IMPORT_MACHINERY = ("<frozen importlib", "importlib/", "importlib\\")


def _importer(describe: Callable[[str, int], str]) -> str:
    """path:line of the first frame outside the import machinery."""

    def outside(frame) -> bool:
        filename = frame.f_code.co_filename
        return not any(marker in filename for marker in _IMPORT_MACHINERY) and filename != __file__

    found = frames.innermost(frames.from_stack(sys._getframe(2)), outside)
    return "<unknown>" if found is None else describe(found[0].f_code.co_filename, found[1])


class TorchBlocker:
    """A meta-path finder that refuses the PyTorch stack and records who tried."""

    def __init__(self, describe: Callable[[str, int], str], blocked=BLOCKED) -> None:
        self.blocked = tuple(blocked)
        self.describe = describe
        self.attempts: list[dict[str, str]] = []

    def _is_blocked(self, fullname: str) -> bool:
        top = fullname.split(".", 1)[0]
        return top in self.blocked

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not self._is_blocked(fullname):
            return None
        where = _importer(self.describe)
        self.attempts.append({"module": fullname, "importer": where})
        raise ModuleNotFoundError(
            f"callchain blocked 'import {fullname}' (from {where}): the traced TensorFlow run "
            "must stay torch-free; the PyTorch side is read statically instead",
            name=fullname,
        )

    def install(self) -> TorchBlocker:
        for name in list(sys.modules):
            if self._is_blocked(name):
                raise RuntimeError(f"{name} was imported before the torch guard was installed")
        sys.meta_path.insert(0, self)
        return self

    def imported(self) -> list[str]:
        """Blocked modules present in sys.modules anyway (should always be empty)."""
        return sorted(name for name in sys.modules if self._is_blocked(name))
