"""The PyTorch side as run: a companion run record (a torch-persistence run of the same revision)
beside this TensorFlow record.

The TensorFlow record names its companion (`companion`: the companion report's folder relative
to this report, and any problem met running or reading it); the renderer loads that record and
passes it here. From the two records alone: the two archives compared against the contract
(`harness.inspect.parity.compare` on the descriptions each run recorded, with each run's writing
lines), what `ptycho_torch` wrote and read back in its run (its archive members and its other
files), and the verdicts that run judged for real (the tracking clause, the cross-backend
clause: `harness.static.runchecks`). Per TensorFlow archive member, `member_parity` gives the
line that wrote its counterpart in the PyTorch run and the clauses that PyTorch archive breaks.
"""

from __future__ import annotations

import re
from typing import Any

from ... import contract
from ...inspect.parity import CLAUSE_MEMBERS, compare, verdict
from ...static.runchecks import CROSS_BACKEND, TRACKING
from ...static.speclink import linker
from ..parity import run_facts
from ..queries.recipe import recipe_rows
from .common import revision_text

CELL = 140  # a parity cell's length, as `callchain parity` prints it
OTHER_FILES_SHOWN = 10  # files the PyTorch run wrote besides its archive; the rest are counted
_MODEL = re.compile(r"\[([^\]]+)\]")


def parity_rows(record: dict[str, Any], companion: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The TensorFlow archive (A) against the PyTorch one (B), as both runs recorded them."""
    a = record.get("archive_description") or {}
    b = (companion or {}).get("archive_description") or {}
    if not a or not b or companion is None:
        return []
    facts = tuple(run_facts(r, [m["name"] for m in d.get("members") or []]) for r, d in ((record, a), (companion, b)))
    clauses = ((record.get("spec") or {}).get("clauses")) or ((companion.get("spec") or {}).get("clauses")) or []
    return compare(a, b, (facts[0], facts[1]), linker(clauses) if clauses else None)


def _short(value: Any) -> str:
    """A parity cell as `callchain parity` shortens it (140 characters)."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= CELL else text[: CELL - 3] + "..."


def _anchor(writer: str | None) -> str | None:
    """`path:line` of a writer (a native write adds ` in function`)."""
    return writer.split(" ")[0] if writer else None


def _concerns(row: dict[str, Any], member: str, archive: bool) -> bool:
    """Whether a clause row is about this archive member (its model, its file name)."""
    key = (row.get("clause") or "").split(" ↔ ")[0]
    members = CLAUSE_MEMBERS.get(key)
    if members is None or contract.ARCHIVE_NAME in members:
        return archive
    model, _, base = member.rpartition("/")
    found = _MODEL.search(row["item"])
    return not archive and base in members and (found is None or found.group(1) == model)


def member_parity(rows: list[dict[str, Any]], member: str, archive: bool) -> dict[str, Any]:
    """For one TensorFlow member: the PyTorch run's line that wrote its counterpart (`counterpart`,
    `as_item`) and the clauses the PyTorch archive breaks there (`breaks`: item and spec lines)."""
    mine = [r for r in rows if r["section"] == "clauses" and _concerns(r, member, archive)]
    written = next((r for r in mine if r["writer_b"]), None)
    return {
        "counterpart": _anchor(written["writer_b"]) if written else None,
        "as_item": written["item"].split(" ↔ ")[-1] if written else None,
        "checked": bool(mine),
        "breaks": [{"item": r["item"], "spec": r["spec"], "b": r["b"]} for r in mine if r["gate"]],
    }


def _other_files(companion: dict[str, Any], members: list[str]) -> list[dict[str, str]]:
    """Files the PyTorch package's own lines wrote in the run, besides the archive members."""
    package = ((companion.get("torch_delta") or {}).get("package")) or "ptycho_torch"
    archive = (companion.get("archive_description") or {}).get("display_path")
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for sink in companion.get("sinks") or []:
        by = _anchor(sink.get("by")) or ""
        if sink.get("op") != "write" or not by.startswith(package + "/"):
            continue
        if any(sink["path"].endswith("/" + m) for m in members) or "<tmp>" in sink["path"] or sink["path"] == archive:
            continue
        seen.setdefault((sink["path"], by), {"path": sink["path"], "by": by, "phase": sink.get("phase") or ""})
    return list(seen.values())


def _run_verdicts(companion: dict[str, Any]) -> list[dict[str, Any]]:
    """The clauses the PyTorch run judged for real: tracking and cross-backend, with their run evidence."""
    rows = []
    for clause in (companion.get("spec") or {}).get("clauses") or []:
        run = [e for e in clause.get("evidence") or [] if e.get("source") == "run"]
        kind = (
            "tracking"
            if TRACKING.search(clause["text"])
            else "cross-backend"
            if CROSS_BACKEND.search(clause["text"])
            else None
        )
        if run and kind:
            evidence = [{"detail": e["detail"], "anchor": e.get("anchor")} for e in run if e.get("status") != "none"]
            rows.append(
                dict(
                    kind=kind,
                    anchor=clause.get("anchor") or "",
                    level=clause["level"],
                    text=clause["text"],
                    verdict=clause["verdict"],
                    evidence=evidence,
                )
            )
    return rows


def torch_side(record: dict[str, Any], companion: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """summary.md § PyTorch side, as run: the companion run, its archive, the parity, its verdicts."""
    link = record.get("companion") or {}
    ours = recipe_rows(companion)
    members = [r["member"] for r in ours if not r["archive"]]
    others = _other_files(companion, members)
    code, summary = (
        verdict(record.get("archive_description") or {}, companion.get("archive_description") or {}, rows)
        if rows
        else (None, "")
    )
    failure = companion.get("failure") or {}
    return {
        "report": link.get("report"),
        "command": companion.get("command"),
        "status": companion.get("status"),
        "problem": failure.get("problem"),
        "revision": revision_text(companion.get("target") or {}),
        "same_revision": revision_text(companion.get("target") or {}) == revision_text(record.get("target") or {})
        and (companion.get("target") or {}).get("root") == (record.get("target") or {}).get("root"),
        "archive": ((companion.get("archive_description") or {}).get("display_path")),
        "members": [
            {k: r[k] for k in ("member", "archive", "format", "size", "writer", "writer_note", "readers")} for r in ours
        ],
        "others": others[:OTHER_FILES_SHOWN],
        "others_more": max(0, len(others) - OTHER_FILES_SHOWN),
        "parity_code": code,
        "parity_summary": summary,
        "parity": [dict(r, a=_short(r["a"]), b=_short(r["b"])) for r in rows if r["section"] == "clauses"],
        "parity_other": {
            s: sum(1 for r in rows if r["section"] == s and r["status"] not in ("same", "met"))
            for s in ("members", "manifest", "params", "intensity_scale", "restored")
        },
        "verdicts": _run_verdicts(companion),
    }
