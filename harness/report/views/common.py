"""View data: the run record turned into what each deliverable shows.

`report.queries` computes the facts; the modules of `report.views` pick and shape them per
deliverable (`static` for static.md, `summary` for summary.md, `diagram` for diagram.mmd,
`unknowns` for the gaps both Markdown files list), and the
Jinja templates lay them out (all Markdown is written there, items here are plain data
with a `kind`). Phase and process names come from the record's scenario. This module holds
what more than one deliverable shows (the header, the spec clauses, the config state) and
the small tap_points.md view.
"""

from __future__ import annotations

import re
from typing import Any

from ...printable import Block
from ..queries.taps import tap_rows


def revision_text(target: dict[str, Any]) -> str:
    """The traced revision in words (one home: summary.md, static.md, dynamic.txt and
    env/trace_env.json say it alike): the commit and whether tracked files differed from it,
    or plainly that the root is not a git checkout. The same commit gives the same text."""
    if not target.get("git"):
        return "the embedded demo target, not a git checkout" if target.get("demo") else "not a git checkout"
    if not target.get("commit"):
        return "a git work tree without a commit"
    dirty = target.get("dirty")
    state = "clean" if dirty is False else "dirty: tracked files differ from it" if dirty else "dirty state unknown"
    return f"git commit {target['commit']}, {state}"


def common(record: dict[str, Any]) -> dict[str, Any]:
    """The header static.md and summary.md open with: the question, the target, how the run went."""
    failure = record.get("failure")
    calls = record.get("calls") or []
    last = calls[-1] if calls else None
    target = record.get("target") or {}
    scenario = record.get("scenario") or {}
    return {
        "title": f"{record.get('initiative')} · {record.get('plan_phase')}",
        "question": record.get("question"),
        "failure": failure,
        "status": record.get("status"),
        "last_frame": f"{last['function']} ({last['anchor']})" if last and failure else None,
        "target_root": str(target.get("root")),
        "revision": revision_text(target),
        "namespace": record.get("namespace"),
        "command": record.get("command"),
        "scenario": f"{scenario.get('name')} ({scenario.get('variant')})",
        "recorder": (record.get("recorder") or {}).get("backend") or "none",
        "kept": (record.get("events") or {}).get("kept", len(calls)),
        "torch_allowed": bool(scenario.get("allows_torch")),
        "by_namespace": by_namespace(str(record.get("namespace") or ""), calls),
        "stacks": [
            {"label": p["label"], "text": Block(p["stacks"]), "fence": Block(p["stacks"]).fence()}
            for p in record.get("processes") or []
            if p.get("stacks")
        ],
    }


def by_namespace(namespace: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kept calls and distinct functions per namespace, when the run kept several (`ptycho_torch,ptycho`)."""
    names = [n for n in namespace.split(",") if n]
    if len(names) < 2:
        return []
    rows = []
    for name in names:
        mine = [c for c in calls if (c.get("module") or "") == name or (c.get("module") or "").startswith(name + ".")]
        rows.append({"name": name, "calls": len(mine), "functions": len({c["function"] for c in mine})})
    return rows


_EVIDENCE_LABELS = {"archive": "archive check", "run": "run", "delta": "PyTorch delta", "scenario": "scenario"}


def _evidence_text(item: dict[str, Any]) -> str:
    """One piece of a clause's evidence as a line: its source and check, status, detail, and where."""
    label = _EVIDENCE_LABELS.get(item["source"], item["source"])
    head = f"{label} `{item['check']}`" if item.get("check") else label
    status = f" {item['status']}" if item["status"] != "none" else ""
    text = f"{head}{status}: {item['detail']}"
    if item.get("anchor"):
        text += f" — `{item['anchor']}`"
    written = item.get("written_by")
    if written:
        text += f" (written at `{written}`)" if re.fullmatch(r"[\w./\-]+:\d+", written) else f" (written {written})"
    return text


def spec_view(record: dict[str, Any]) -> dict[str, Any]:
    """The spec clauses (record['spec'], built by harness.static.spec and harness.static.verdicts) as table rows."""
    spec = record.get("spec") or {}
    rows = [
        {
            "id": c["id"],
            "anchor": c.get("anchor"),
            "level": c["level"],
            "text": c["text"],
            "section": c["section"],
            "section_anchor": c.get("section_anchor"),
            "verdict": c.get("verdict", "not judged"),
            "evidence": [_evidence_text(e) for e in c.get("evidence", [])],
        }
        for c in spec.get("clauses", [])
    ]
    return {
        "present": bool(spec),
        "source": spec.get("source", "builtin"),
        "clauses": rows,
        "sections": [s for s in spec.get("sections", []) if s.get("clauses")],
        "skipped": spec.get("skipped", []),
        "missing": spec.get("missing"),
    }


def config_state(record: dict[str, Any]) -> str:
    """`followed`, `not followed` (--config-global none) or `not found` (never present in the run)."""
    if record.get("config_global") in ("", "none", None):
        return "not followed"
    snapshots = (record.get("config") or {}).get("snapshots") or {}
    if (
        snapshots
        and all(values is None for values in snapshots.values())
        and not (record.get("config") or {}).get("changes")
    ):
        return "not found"
    return "followed"


def taps_view(record: dict[str, Any]) -> dict[str, Any]:
    """trace/tap_points.md: every declared tap, and the tap files that declared them."""
    sources = sorted({t["source"].rsplit(":", 1)[0].rsplit("/", 1)[-1] for t in record.get("taps_declared", [])})
    return {"taps": tap_rows(record), "sources": sources or ["(none)"]}
