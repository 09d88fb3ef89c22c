"""Config queries: how the target's global config (params.cfg) changed, and who changed it.

Every change as recorded, the net change of one phase from its snapshots, and what loading
leaves behind per process: the evidence that loading a model rewrites global state.
"""

from __future__ import annotations

from typing import Any

from .calls import calls_by_index, role


def config_changes(record: dict[str, Any], phases: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    calls = calls_by_index(record)
    rows = []
    for change in record["config"]["changes"]:
        if phases and change["phase"] not in phases:
            continue
        by = calls.get(change["by"]) if change["by"] is not None else None
        rows.append(
            dict(
                change,
                by_function=by["function"] if by else "scenario (outside the namespace)",
                by_anchor=by["anchor"] if by else None,
                at=change.get("at"),
            )
        )
    return rows


def net_changes(record: dict[str, Any], process: str, phase: str) -> list[dict[str, Any]] | None:
    """Keys whose value differs between the start and the end of one phase (None: not run)."""
    snapshots = record["config"]["snapshots"]
    order = [span["name"] for span in record["phases"] if span["process"] == process]
    if phase not in order or f"{process}:{phase}" not in snapshots:
        return None
    following = order[order.index(phase) + 1 :]
    after_key = f"{process}:{following[0]}" if following else f"{process}:end"
    before, after = snapshots.get(f"{process}:{phase}") or {}, snapshots.get(after_key) or {}
    rows = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            op = "added" if old is None else "removed" if new is None else "changed"
            rows.append({"key": key, "op": op, "old": old, "new": new})
    return rows


def load_side_effects(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What loading leaves in the global config, per process that loads: the net change per
    key, plus keys changed and changed back on the way (transient), and the setup phases that
    ran in that process before the load (`setup_first`: a "fresh" process that ran setup
    first is not a fresh process, and its load may change nothing because setup did)."""
    loads = role(record, "load")
    result = []
    for process in (record.get("scenario") or {}).get("processes", []):
        phase = next((name for name in process["phases"] if name in loads), None)
        if phase is None:
            continue
        net = net_changes(record, process["label"], phase)
        changes = config_changes(record, (phase,))
        writers: dict[str, dict[str, Any]] = {}
        for change in changes:
            writers.setdefault(change["key"], change)
        rows = [
            dict(
                row,
                by_function=writers.get(row["key"], {}).get("by_function", "?"),
                by_anchor=writers.get(row["key"], {}).get("by_anchor"),
                at=writers.get(row["key"], {}).get("at"),
            )
            for row in net or []
        ]
        net_keys = {row["key"] for row in rows}
        ran = [span["name"] for span in record["phases"] if span["process"] == process["label"]]
        before = ran[: ran.index(phase)] if phase in ran else []
        result.append(
            {
                "process": process["label"],
                "title": process["title"],
                "phase": phase,
                "fresh": phase in role(record, "fresh-load"),
                "ran": net is not None,
                "net": rows,
                "transient": sorted({c["key"] for c in changes} - net_keys),
                "added": sum(r["op"] == "added" for r in rows),
                "changed": sum(r["op"] == "changed" for r in rows),
                "setup_first": [name for name in before if "setup" in name],
            }
        )
    return result
