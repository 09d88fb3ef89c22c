"""Record queries: the facts a deliverable needs, computed from the run record.

Which calls are pipeline stages, which keys loading changed, what a tap observed, who wrote
an archive member. Phase names come from the record's scenario (`roles`), never from here.
Every list is sorted or kept in call order, never in dict order, so two runs on the same
code give the same answers.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .. import contract

HOOK_CLASS = "ModelManager"  # the contract's persistence class: where the workflow hands over
SCALE_TOLERANCE = 1e-6  # relative: float32 round trips and exp(log(x)) stay within it

# What the contract asks of each archive member, and the hook a PyTorch shim needs for it.
MEMBER_ROLES: list[tuple[str, str, tuple[str, ...], str]] = [
    (m.name, m.role, m.torch_kinds, m.hook) for m in contract.MEMBERS
]


def role(record: dict[str, Any], name: str) -> tuple[str, ...]:
    """The phase names the scenario gave a role (`save`, `load`, `fresh-load`, `entry`, …)."""
    return tuple(((record.get("scenario") or {}).get("roles") or {}).get(name, ()))


def calls_by_index(record: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {call["i"]: call for call in record["calls"]}


def _anchor_of(record: dict[str, Any], function: str) -> str | None:
    for call in record["calls"]:
        if call["function"] == function:
            return call["anchor"]
    return None


def short_name(function: str) -> str:
    return function.split(":", 1)[1] if ":" in function else function


# -- taps -------------------------------------------------------------------------------


def tap_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per declared tap: where it lives, what it saw, and whether it was hit."""
    calls = calls_by_index(record)
    rows = []
    for tap in sorted(record.get("taps_declared", []), key=lambda t: t["key"]):
        hits = [hit for hit in record.get("tap_hits", []) if hit["key"] == tap["key"]]
        observed = _observed(hits, calls)
        errors = sorted({hit["error"] for hit in hits if hit["status"] == "error"})
        status = (
            "hit"
            if any(h["status"] == "hit" for h in hits)
            else ("error: " + "; ".join(errors) if errors else "not hit")
        )
        rows.append(
            dict(
                tap, owner_anchor=_anchor_of(record, tap["function"]), observed=observed, hits=len(hits), status=status
            )
        )
    return rows


def _observed(hits: list[dict[str, Any]], calls: dict[int, dict[str, Any]]) -> str:
    values: dict[str, list[str]] = {}
    for hit in hits:
        if hit["status"] != "hit":
            continue
        phase = calls[hit["call"]]["phase"] if hit["call"] in calls else "?"
        values.setdefault(hit["value"], [])
        if phase not in values[hit["value"]]:
            values[hit["value"]].append(phase)
    if not values:
        return "—"
    if len(values) == 1:
        value = next(iter(values))
        return value + (f" ({len(hits)} hits)" if len(hits) > 1 else "")
    return "; ".join(f"{', '.join(phases)}: {value}" for value, phases in values.items())


# -- config flow ------------------------------------------------------------------------


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
    key, plus keys changed and changed back on the way (transient)."""
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
            }
        )
    return result


# -- pipeline ---------------------------------------------------------------------------


def stages(record: dict[str, Any], phases: tuple[str, ...], max_depth: int = 2) -> list[dict[str, Any]]:
    """Distinct functions of the given phases, in first-call order, shallow ones only."""
    docs = record.get("docs", {})
    seen: dict[str, dict[str, Any]] = {}
    for call in record["calls"]:
        if call["phase"] not in phases or call["depth"] > max_depth or call["qualname"] == "<module>":
            continue
        entry = seen.get(call["function"])
        if entry is None:
            seen[call["function"]] = {
                "function": call["function"],
                "anchor": call["anchor"],
                "depth": call["depth"],
                "purpose": docs.get(call["function"], ""),
                "count": 1,
                "phase": call["phase"],
                "returned": call["returned"],
                "direct": call["direct"] or call["depth"] == 0,
            }
        else:
            entry["count"] += 1
    return list(seen.values())


def entry_calls(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls the scenario made itself (depth 0) in the phases of its `entry` role."""
    chosen, seen = [], set()
    phases = role(record, "entry")
    for call in record["calls"]:
        if (
            call["depth"] == 0
            and call.get("thread", "main") == "main"
            and call["phase"] in phases
            and call["function"] not in seen
        ):
            seen.add(call["function"])
            chosen.append(call)
    return chosen


def hooks(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Where the workflow hands over to ModelManager: calls into the class from outside it."""
    calls = calls_by_index(record)
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for call in record["calls"]:
        if not short_name(call["function"]).startswith(HOOK_CLASS + "."):
            continue
        parent = calls.get(call["parent"]) if call["parent"] is not None else None
        caller = parent["function"] if parent else "<scenario>"
        if short_name(caller).startswith(HOOK_CLASS + "."):
            continue
        key = (caller, call["function"], call["call_site"] or "")
        entry = found.setdefault(
            key,
            {
                "caller": caller,
                "caller_anchor": parent["anchor"] if parent else None,
                "callee": call["function"],
                "callee_anchor": call["anchor"],
                "site": call["call_site"],
                "phases": [],
            },
        )
        if call["phase"] not in entry["phases"]:
            entry["phases"].append(call["phase"])
    return list(found.values())


def edges(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for edge in record["edges"]:
        how = "direct call" if edge["direct"] else "called back by framework code (e.g. Keras)"
        phases = ", ".join(edge["phases"])
        rows.append(dict(edge, why=f"{how}; {phases}" + (f"; ×{edge['count']}" if edge["count"] > 1 else "")))
    return rows


# -- the trained scale ------------------------------------------------------------------


def tap_values(record: dict[str, Any], key: str) -> list[str]:
    """Values a tap observed (hits only), in observation order."""
    return [hit["value"] for hit in record.get("tap_hits", []) if hit["key"] == key and hit["status"] == "hit"]


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")  # not the 32 of float32


def number(text: Any) -> float | None:
    """The first number in a summary ('float32(988.2)', '[6.89] (Variable float32)', 988.2)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    found = _NUMBER.search(str(text)) if text is not None else None
    return float(found.group()) if found else None


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= SCALE_TOLERANCE * max(abs(a), abs(b))


def trained_scale(record: dict[str, Any]) -> dict[str, Any] | None:
    """Which intensity_scale the archive carries: the trained one (exp of the log-scale variable
    after training, tap `train.log_scale`) or the configured one (params.cfg at save, tap
    `save.cfg_intensity_scale`), against params.dill and model.h5. None when neither tap ran."""
    logs = tap_values(record, "train.log_scale")
    log_value = number(logs[-1]) if logs else None
    trained = math.exp(log_value) if log_value is not None else None
    configured_values = tap_values(record, "save.cfg_intensity_scale")
    configured, source = (number(configured_values[-1]), "at save") if configured_values else (None, None)
    if configured is None:  # e.g. a revision that restores params.cfg when training returns
        during = [
            c["new"]
            for c in record.get("config", {}).get("changes", [])
            if c["key"] == "intensity_scale" and c["phase"] in role(record, "train") and c["new"] is not None
        ]
        configured, source = (
            (number(during[-1]), "during training (absent from params.cfg at save)") if during else (None, None)
        )
    if trained is None and configured is None:
        return None
    models = (record.get("archive_description") or {}).get("models") or {}
    archived = [
        {
            "model": name,
            "params": number((info.get("params_values") or {}).get("intensity_scale")),
            "h5": number((info.get("h5_attrs") or {}).get("intensity_scale")),
        }
        for name, info in sorted(models.items())
    ]
    values = [v for row in archived for v in (row["params"], row["h5"]) if v is not None]
    verdict = scale_verdict(trained, configured, values)
    return {
        "log_scale": log_value,
        "trained": trained,
        "configured": configured,
        "configured_source": source,
        "archived": archived,
        "verdict": verdict,
        "tolerance": SCALE_TOLERANCE,
        "nearest": nearest_scale(trained, configured, values),
    }


def nearest_scale(trained: float | None, configured: float | None, archived: list[float]) -> str | None:
    """`trained` or `configured`: the one every archived value is nearer to (even inside the
    tolerance, e.g. a float32 round trip of one of them); None when they disagree or tie."""
    if trained is None or configured is None or not archived:
        return None
    sides = {
        "trained"
        if abs(v - trained) < abs(v - configured)
        else "configured"
        if abs(v - configured) < abs(v - trained)
        else "tie"
        for v in archived
    }
    return next(iter(sides)) if len(sides) == 1 and "tie" not in sides else None


def scale_verdict(trained: float | None, configured: float | None, archived: list[float]) -> str:
    """`trained`, `configured`, `indistinct` (training left the scale where it was), `neither`, or
    `unknown` (a value is missing)."""
    if not archived or trained is None or configured is None:
        return "unknown"
    if _close(trained, configured):
        return "indistinct" if all(_close(v, trained) for v in archived) else "neither"
    if all(_close(v, trained) for v in archived):
        return "trained"
    if all(_close(v, configured) for v in archived):
        return "configured"
    return "neither"


# -- sinks ------------------------------------------------------------------------------


def sinks(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for sink in record["sinks"]:
        outside = any(path and not path.startswith("<scratch>") for path in (sink["path"], sink.get("dest")))
        rows.append(dict(sink, outside=outside, by=sink["by"] or "scenario / framework (no namespace frame)"))
    return rows


def member_writers(record: dict[str, Any]) -> dict[str, str]:
    """Archive member → the function line that wrote the file it was zipped from."""
    writers: dict[str, str] = {}
    for sink in record["sinks"]:
        if sink["op"] != "write" or sink["phase"] not in role(record, "save"):
            continue
        for member in _members(record):
            if sink["path"].endswith("/" + member) and member not in writers:
                by = sink["by"] or "scenario / framework (no namespace frame)"
                writers[member] = by + (", native write" if sink["native"] else "")
    return writers


def _members(record: dict[str, Any]) -> list[str]:
    description = record.get("archive_description") or {}
    return [member["name"] for member in description.get("members", [])]


def archive_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    description = record.get("archive_description") or {}
    writers = member_writers(record)
    rows = []
    for member in description.get("members", []):
        rows.append(dict(member, role=contract.role_of(member["name"]), writer=writers.get(member["name"], "—")))
    return rows


# -- the PyTorch delta ------------------------------------------------------------------


def torch_contrast(record: dict[str, Any]) -> list[dict[str, Any]]:
    delta = record.get("torch_delta") or {}
    surfaces = delta.get("surfaces", [])
    rows = []
    for member, requirement, kinds, hook in MEMBER_ROLES:
        today = [f"{s['kind']} `{s['anchor']}`" for s in surfaces if s["kind"] in kinds]
        shown = ", ".join(today[:4]) + (f" (+{len(today) - 4} more)" if len(today) > 4 else "")
        rows.append({"member": member, "requirement": requirement, "today": shown or "nothing found", "hook": hook})
    return rows


def torch_groups(record: dict[str, Any]) -> list[dict[str, Any]]:
    delta = record.get("torch_delta") or {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for surface in delta.get("surfaces", []):
        groups.setdefault(surface["kind"], []).append(surface)
    return [{"kind": kind, "surfaces": groups[kind]} for kind in sorted(groups)]


# -- library calls ----------------------------------------------------------------------


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
