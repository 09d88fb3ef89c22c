"""`--publish DIR`: copy a finished report into the target, where the team keeps its reports.

The one write callchain ever makes inside a target, and only when asked: after the run, after
the evidence-only check (the tree was hashed before and after the traced processes, so this
copy is never counted against it), into `<root>/<DIR>/<initiative>/reports/<stamp>/<plan
phase>/`, never over an existing folder. The traced processes and their scratch folder stay
outside the target.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import HarnessError

FIX = "pass --publish a folder relative to the target root, e.g. --publish plans/active"


def check(root: Path, folder: str) -> Path:
    """The publish folder inside the root; refused before the run if it could leave the root."""
    relative = Path(folder)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise HarnessError(f"--publish {folder} must be a folder relative to the target root, inside it", FIX)
    base = root / relative
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(base))
    if real != real_root and real_root not in real.parents:
        raise HarnessError(f"--publish {folder} leads outside the target root {root} (through a symbolic link)", FIX)
    if base.exists() and not base.is_dir():
        raise HarnessError(f"--publish {folder} is a file in the target, not a folder", FIX)
    return base


def copy(report: Path, base: Path, initiative: str, plan_phase: str) -> Path:
    """Copy the report folder to `<base>/<initiative>/reports/<stamp>/<plan phase>/`; never overwrite."""
    destination = base / initiative / "reports" / report.parent.name / plan_phase
    if destination.exists():
        raise HarnessError(
            f"not published: {destination} already exists (the report is kept at {report})",
            "remove or rename that folder, or publish the next run",
            exit_code=2,
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(report, destination)
    return destination
