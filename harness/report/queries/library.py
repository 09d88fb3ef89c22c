"""Library call queries: the calls the namespace made into library code, folded per line.

Folded per (callee, calling line) with their phases and threads, and, for the save and
load phases, grouped by the archive member written at that line: what a PyTorch shim must
replace. The calling line's source text is read from the target for the table.
"""

from __future__ import annotations

from typing import Any

from .calls import role
from .source import line_text


def library_calls(record: dict[str, Any], phases: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Library calls folded per (callee, line): phases, threads and total count, in phase order."""
    rank: dict[str, int] = {}
    for span in record.get("phases", []):
        rank.setdefault(span["name"], len(rank))
    folded: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in record.get("library_calls") or []:
        if phases and row["phase"] not in phases:
            continue
        key = (row["callee"], row["at"])
        entry = folded.setdefault(
            key,
            {
                "callee": row["callee"],
                "at": row["at"],
                "function": row["function"],
                "phases": [],
                "threads": [],
                "count": 0,
            },
        )
        entry["count"] += row["count"]
        for field, value in (("phases", row["phase"]), ("threads", row["thread"])):
            if value not in entry[field]:
                entry[field].append(value)
    root = (record.get("target") or {}).get("root")
    rows = []
    for entry in folded.values():
        entry["phases"].sort(key=lambda name: rank.get(name, len(rank)))
        entry["threads"].sort(key=lambda name: (name != "main", name))
        rows.append(dict(entry, source=line_text(root, entry["at"])))
    return sorted(rows, key=lambda r: (rank.get(r["phases"][0], len(rank)), _line_key(r["at"]), r["callee"]))


def _line_key(at: str | None) -> tuple[str, int]:
    path, _, line = (at or "").rpartition(":")
    return (path, int(line) if line.isdigit() else 0)


def _member_lines(record: dict[str, Any]) -> dict[str, list[str]]:
    """`path:line` → the archive members written or zipped there (save), opened for reading
    there or extracted there (load), or the archive itself written or opened there."""
    description = record.get("archive_description") or {}
    members = [m["name"] for m in description.get("members", [])]
    archive = (description.get("display_path") or "").rpartition("/")[2]
    saves, loads = role(record, "save"), role(record, "load")
    lines: dict[str, list[str]] = {}
    for sink in record["sinks"] if archive else []:
        at = (sink.get("by") or "").split(" ")[0].rstrip(",")
        wanted = sink["op"] in ("write", "read") and sink["phase"] in saves + loads
        if not at or not wanted:
            continue
        if sink["path"].endswith("/" + archive):
            label = f"{archive} (the archive)"
        else:
            found = [m for m in members if sink["path"].endswith("/" + m)]
            if not found:
                continue
            label = found[0] + _how(sink, saves, loads)
        if label not in lines.setdefault(at, []):
            lines[at].append(label)
    for at, labels in lines.items():  # one line that extracts (or zips) every member: named once
        for how in (" (extracted)", " (zipped)"):
            many = [label for label in labels if label.endswith(how)]
            if len(many) > 1:
                lines[at] = [label for label in lines[at] if label not in many]
                lines[at].append(f"{archive} ({how.strip(' ()')}: {len(many)} members)")
    return lines


def _how(sink: dict[str, Any], saves: tuple[str, ...], loads: tuple[str, ...]) -> str:
    """A member's file operation as the shim table names it: written or read back as itself,
    extracted from the archive (a write during load), or zipped into it (a read during save)."""
    if sink["op"] == "write" and sink["phase"] in loads:
        return " (extracted)"
    if sink["op"] == "read" and sink["phase"] in saves:
        return " (zipped)"
    return ""


# Callee families that build or test paths: never the call that writes or reads a member.
PLUMBING = frozenset({"posixpath", "ntpath", "genericpath", "os", "pathlib", "tempfile"})


def family(callee: str) -> str:
    """A callee's family: its top-level module (`keras`, `posixpath`, `dill`, …)."""
    return callee.split(":", 1)[0].split(".", 1)[0]


def shim_surface(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What a PyTorch shim must replace: the save/load library calls, grouped by the archive
    members whose file was written, read or extracted at the same line, or opened on the line
    just above (`with open(path, 'wb') as f:` then `dill.dump(obj, f)`); `None`: no member
    (those are counted by the summary and listed in static.md, folded by family)."""
    persistence = role(record, "save") + role(record, "load") + role(record, "fresh-load")
    at_line = _member_lines(record)
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for row in library_calls(record, persistence or None):
        path, line = _line_key(row["at"])
        members = at_line.get(row["at"] or "") or at_line.get(f"{path}:{line - 1}") or []
        if family(row["callee"]) in PLUMBING:  # building the path is not writing the file
            members = []
        groups.setdefault(", ".join(sorted(members)) or None, []).append(row)
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return [{"member": member, "calls": rows} for member, rows in ordered]


def families(rows: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """Library calls folded by callee family: lines, distinct callees, calls, phases (in `order`)."""
    folded: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = folded.setdefault(
            family(row["callee"]),
            {"family": family(row["callee"]), "lines": set(), "callees": set(), "calls": 0, "phases": []},
        )
        entry["lines"].add(row["at"])
        entry["callees"].add(row["callee"])
        entry["calls"] += row["count"]
        entry["phases"] += [p for p in row["phases"] if p not in entry["phases"]]
    rank = {name: i for i, name in enumerate(order)}
    return [
        dict(
            e,
            lines=len(e["lines"]),
            callees=len(e["callees"]),
            phases=sorted(e["phases"], key=lambda p: rank.get(p, len(rank))),
        )
        for e in sorted(folded.values(), key=lambda e: (-e["calls"], e["family"]))
    ]
