"""A TensorFlow report's PyTorch companion: the link its run record keeps, and reading it back.

`callchain render REPORT --companion TORCH_REPORT` and `callchain trace … --torch-python PY`
write the link into the TensorFlow run record (`companion`: `report`, the PyTorch report folder
relative to this one, and `problem`, what went wrong running or reading it, else None), so a
later plain `callchain render REPORT` shows the same PyTorch section. The renderer reads the
companion's record through `linked`; a link it cannot follow, or a PyTorch run that failed,
keeps a `problem` that summary.md and static.md list under Gaps.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import HarnessError
from ..record.complete import complete
from ..record.runjson import load

LINK = "companion"


def link_to(report: Path, companion: Path | None, problem: str | None = None) -> dict[str, Any]:
    """The link as the TensorFlow record keeps it: the companion's folder relative to the report."""
    where = os.path.relpath(companion.resolve(), report.resolve()) if companion is not None else None
    return {"report": where, "problem": problem}


def linked(report: Path, record: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the companion's completed record or None, the link as rendered or None when there is none)."""
    link = record.get(LINK)
    if not isinstance(link, dict):
        return None, None
    where = link.get("report")
    if not where:
        return None, dict(link, problem=link.get("problem") or "no PyTorch run record was named")
    folder = Path(where) if os.path.isabs(where) else report / where
    try:
        companion = complete(load(str(folder)))
    except HarnessError as error:
        return None, dict(
            link, problem=link.get("problem") or f"the PyTorch run's record was not read: {error.problem}"
        )
    if companion["status"] != "ok" and not link.get("problem"):
        failure = companion.get("failure") or {}
        link = dict(
            link, problem=f"the PyTorch run ended {companion['status']}: {failure.get('problem') or 'no detail'}"
        )
    return companion, link


def check_companion(folder: str) -> Path:
    """A companion folder given on the command line: a report of a PyTorch run, else HarnessError."""
    record = load(folder)
    if not (record.get("scenario") or {}).get("allows_torch"):
        raise HarnessError(
            f"{folder} is not the report of a PyTorch run (its scenario is {(record.get('scenario') or {}).get('name')})",
            "pass the report folder of a `callchain trace --scenario torch-persistence` run",
        )
    return Path(record["report"])
