"""Verdicts from what a scenario ran itself for a clause: its findings (`ctx.finding`).

The torch-persistence scenario runs two clauses for real (harness/scenarios/torch_checks.py):
save and load with the tracking library absent ("persistence SHOULD NOT depend on experiment
tracking"; PtychoPINN's spec: "Implementations MUST NOT require MLflow …"), and each backend's
loader handed the other backend's archive ("loaders MUST raise a descriptive error stating the
archived backend"). An error that does not name the archived backend is not descriptive, and a
loader that returns without error on another backend's archive did not refuse it: both are
`broken`. A record without such findings is judged as before (`verdicts.judge`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

HOLDS, BROKEN = "holds", "broken"
CROSS_BACKEND = re.compile(r"cross-backend|when unsupported|archived backend|another backend|loader backend", re.I)
TRACKING = re.compile(r"\b(require|depend)\w*\b[^.]*\b(mlflow|experiment tracking)\b", re.I)


def _evidence(status: str, detail: str, anchor: str | None) -> dict[str, Any]:
    return {"source": "run", "check": None, "status": status, "detail": detail, "anchor": anchor, "written_by": None}


def findings(record: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The scenario's findings of one kind, every process, in order."""
    return [f for p in record.get("processes") or [] for f in p.get("findings") or [] if f.get("kind") == kind]


def _loader_def(record: dict[str, Any], loader: str, phase: str) -> str | None:
    """`def path:line` of the loader as the run called it in that phase."""
    name = loader.rsplit(".", 1)[-1]
    for call in record.get("calls") or []:
        if call["phase"] == phase and call["qualname"].rsplit(".", 1)[-1] == name and call.get("anchor"):
            return f"def {call['anchor']}"
    return None


def _cross(record: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    loader, archived, active = found.get("loader"), found.get("archived_backend"), found.get("loader_backend")
    if not found.get("raised"):
        return _evidence(
            "fail",
            f"`{loader}` ({active}) loaded the {archived} archive without an error: nothing told the caller "
            f"that the archive is {archived}'s",
            _loader_def(record, str(loader), str(found.get("phase"))),
        )
    said = f"`{loader}` ({active}) raised {found.get('type')}: {found.get('message')}"
    if not found.get("names_archived_backend"):
        return _evidence(
            "fail", f"{said} — the message does not name the archived backend ({archived})", found.get("raised_at")
        )
    both = "" if found.get("names_loader_backend") else f"; it does not name the loader's backend ({active})"
    return _evidence("pass", f"{said} — it names the archived backend ({archived}){both}", found.get("raised_at"))


def _tracking(record: dict[str, Any], found: dict[str, Any]) -> list[dict[str, Any]]:
    library = found.get("library") or "the tracking library"
    asked = found.get("refused_imports") or []
    items = []
    for step in found.get("steps") or []:
        if step.get("ok"):
            items.append(_evidence("pass", f"{step['step']} worked with `{library}` absent", None))
        else:
            detail = f"{step['step']} failed with `{library}` absent: {step.get('type')}: {step.get('message')}"
            # the library's absence is the cause when the error names it or an import of it was refused
            caused = bool(asked) or any(name in str(step.get("message")).lower() for name in library.split(", "))
            if not caused:
                detail += f" — not an error about `{library}`, and no import of it was refused: this step says nothing about it"
            items.append(_evidence("fail" if caused else "none", detail, step.get("raised_at")))
    for attempt in asked:
        items.append(
            _evidence("none", f"`import {attempt['module']}` was asked for and refused", attempt.get("importer"))
        )
    if not asked:
        items.append(_evidence("none", f"no import of `{library}` was asked for while it was absent", None))
    for seen in found.get("imported_in_training") or []:  # watched, not refused: where a dependency shows
        detail = f"`import {seen['module']}` ran during training (via `{seen.get('via')}`)"
        items.append(_evidence("none", detail, seen.get("importer")))
    earlier = found.get("was_imported") or []
    if earlier:  # imported earlier in the run (e.g. during training): set aside for the phase, put back after
        shown = ", ".join(f"`{m}`" for m in earlier[:3]) + (" …" if len(earlier) > 3 else "")
        items.append(
            _evidence("none", f"already imported earlier in the run and set aside for the phase: {shown}", None)
        )
    return items


def _judged(items: list[dict[str, Any]]) -> dict[str, Any]:
    failed = any(item["status"] == "fail" for item in items)
    return {"verdict": BROKEN if failed else HOLDS, "evidence": items}


JUDGES: tuple[
    tuple[re.Pattern[str], str, Callable[[dict[str, Any], list[dict[str, Any]]], list[dict[str, Any]]]], ...
] = (
    (CROSS_BACKEND, "cross-backend", lambda record, found: [_cross(record, f) for f in found]),
    (TRACKING, "tracking", lambda record, found: [item for f in found for item in _tracking(record, f)]),
)


def judge_findings(text: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """A verdict from the scenario's own findings for this clause, or None when it ran none."""
    for pattern, kind, judge in JUDGES:
        found = findings(record, kind)
        if found and pattern.search(text):
            items = judge(record, found)
            if items and any(item["status"] in ("pass", "fail") for item in items):
                return _judged(items)
    return None
