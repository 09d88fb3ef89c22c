"""Library call queries: the calls the namespace made into library code, folded per line.

Folded per (callee, calling line) with their phases and threads, and, for the save and
load phases, grouped by the archive member written at that line: what a PyTorch shim must
replace. The calling line's source text is read from the target for the table.
"""

from __future__ import annotations

from typing import Any

from .archive import member_writers
from .calls import role


def _line_text(root: str | None, at: str | None) -> str | None:
    """The source text of a `path:line` under the target root (None when unreadable)."""
    if not root or not at:
        return None
    path, _, line = at.rpartition(":")
    try:
        with open(f"{root}/{path}", encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, 1):
                if number == int(line):
                    return text.strip().replace("`", "'")[:120] or None
    except (OSError, ValueError):
        return None
    return None


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
        rows.append(dict(entry, source=_line_text(root, entry["at"])))
    return sorted(rows, key=lambda r: (rank.get(r["phases"][0], len(rank)), _line_key(r["at"]), r["callee"]))


def _line_key(at: str | None) -> tuple[str, int]:
    path, _, line = (at or "").rpartition(":")
    return (path, int(line) if line.isdigit() else 0)


def shim_surface(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What a PyTorch shim must replace: the save/load library calls, grouped by the archive
    members whose file was written at the same line, or opened on the line just above
    (`with open(path, 'wb') as f:` then `dill.dump(obj, f)`); `None`: no member."""
    persistence = role(record, "save") + role(record, "load") + role(record, "fresh-load")
    written: dict[str, list[str]] = {}
    for member, by in sorted(member_writers(record).items()):
        written.setdefault(by.split(" ")[0].rstrip(","), []).append(member)
    archive = ((record.get("archive_description") or {}).get("display_path") or "").rpartition("/")[2]
    for sink in record["sinks"] if archive else []:
        if sink["op"] == "write" and sink["by"] and sink["path"].endswith("/" + archive):
            written.setdefault(sink["by"].split(" ")[0], []).append(f"{archive} (the archive)")
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for row in library_calls(record, persistence or None):
        path, line = _line_key(row["at"])
        members = written.get(row["at"] or "") or written.get(f"{path}:{line - 1}") or []
        groups.setdefault(", ".join(members) or None, []).append(row)
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return [{"member": member, "calls": rows} for member, rows in ordered]
