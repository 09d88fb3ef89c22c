"""Which sentences of the target's spec a contract check proves, found by their text.

The trace report ties each spec clause to the archive checks that prove it
(:data:`harness.static.verdicts.CLAUSE_CHECKS`: words of the clause → check ids). This module
reads that table the other way round, for the commands that start from a check: ``callchain
inspect --root`` and ``callchain parity`` name, beside a failed check, the spec sentence it
breaks at its ``path:line`` on the target's own revision (read by :mod:`harness.static.spec`,
never remembered). A target without such docs has the built-in contract (no ``path:line``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import HarnessError
from .spec import read_contract
from .verdicts import CLAUSE_CHECKS

Link = Callable[[str], list[dict[str, Any]]]


def family(check_id: str) -> str:
    """``torch.ckpt[autoencoder]`` → ``torch.ckpt``."""
    return check_id.split("[", 1)[0]


def linker(clauses: list[dict[str, Any]]) -> Link:
    """A function: check id (or contract clause id) → the spec clauses it proves, in document order."""
    by_family: dict[str, list[dict[str, Any]]] = {}
    for clause in clauses:
        names = {
            name for pattern, groups in CLAUSE_CHECKS if pattern.search(clause["text"]) for g in groups for name in g
        }
        shown = {
            "id": clause["id"],
            "anchor": clause.get("anchor"),
            "level": clause.get("level"),
            "text": clause["text"],
        }
        for name in sorted(names):
            by_family.setdefault(name, []).append(shown)

    def link(check_id: str) -> list[dict[str, Any]]:
        return list(by_family.get(family(check_id), []))

    return link


def spec_of_root(root: str | Path) -> dict[str, Any]:
    """The target's persistence contract, read from its docs (the built-in one when it states none)."""
    return read_contract(Path(root))


def root_linker(root: str | Path) -> tuple[Link, str]:
    """(the link function, where the clauses come from: ``docs`` or ``builtin``) for a target root."""
    spec = spec_of_root(root)
    return linker(spec["clauses"]), spec["source"]


def checked_root(root: str | Path) -> Path:
    """The target root given with ``--root``, or a plain error naming what to pass."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise HarnessError(
            f"--root {root} is not a folder",
            "pass the checkout whose specs/ or docs/ state the persistence contract, or leave --root out",
        )
    return path
