"""The run record's outcome types: whether the target stayed untouched, the problems a run found, event counts.

Part of the record's shape (`record.types` holds the rest and re-exports these); `record.outcome` builds them.
"""

from __future__ import annotations

from typing import Any, TypedDict


class EvidenceOnly(TypedDict):
    """The target tree before and after the run; any change fails the run."""

    before: dict[str, Any]
    """Counts (`files`, `entries`) and one digest over every entry's metadata (`target.fingerprint`)."""
    after: dict[str, Any]
    changes: list[str]
    """One line per entry added, removed, replaced, changed, re-moded or touched (`target.compare`)."""
    notes: list[str]
    """What could not be compared fully: unreadable entries, names that are not UTF-8, digest budget."""


class Problem(TypedDict):
    """One problem of a run, and what to do about it (printable: `harness/printable.py`)."""

    problem: str
    fix: str


class Failure(TypedDict, total=False):
    """Every problem the run found (`record.outcome`), most useful first: the first one here,
    with the exit code it gives, the others in `also` (absent in records made before)."""

    problem: str
    fix: str
    exit_code: int
    also: list[Problem]


class EventCounts(TypedDict):
    seen: int
    kept: int
