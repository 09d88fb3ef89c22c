"""Record queries: the facts a deliverable needs, computed from the run record.

Which calls are pipeline stages, which keys loading changed, what a tap observed, who wrote
an archive member. Phase names come from the record's scenario (`roles`), never from here.
Every list is sorted or kept in call order, never in dict order, so two runs on the same
code give the same answers.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Optional, Tuple

from . import contract

HOOK_CLASS = "ModelManager"  # the contract's persistence class: where the workflow hands over
SCALE_TOLERANCE = 1e-6  # relative: float32 round trips and exp(log(x)) stay within it

# What the contract asks of each archive member, and the hook a PyTorch shim needs for it.
MEMBER_ROLES: List[Tuple[str, str, Tuple[str, ...], str]] = [
    (m.name, m.role, m.torch_kinds, m.hook) for m in contract.MEMBERS]


def role(record: Dict[str, Any], name: str) -> Tuple[str, ...]:
    """The phase names the scenario gave a role (`save`, `load`, `fresh-load`, `entry`, …)."""
    return tuple(((record.get("scenario") or {}).get("roles") or {}).get(name, ()))


def calls_by_index(record: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    return {call["i"]: call for call in record["calls"]}


def _anchor_of(record: Dict[str, Any], function: str) -> Optional[str]:
    for call in record["calls"]:
        if call["function"] == function:
            return call["anchor"]
    return None


def short_name(function: str) -> str:
    return function.split(":", 1)[1] if ":" in function else function


# -- taps -------------------------------------------------------------------------------


def tap_rows(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One row per declared tap: where it lives, what it saw, and whether it was hit."""
    calls = calls_by_index(record)
    rows = []
    for tap in sorted(record.get("taps_declared", []), key=lambda t: t["key"]):
        hits = [hit for hit in record.get("tap_hits", []) if hit["key"] == tap["key"]]
        observed = _observed(hits, calls)
        errors = sorted({hit["error"] for hit in hits if hit["status"] == "error"})
        status = "hit" if any(h["status"] == "hit" for h in hits) else ("error: " + "; ".join(errors) if errors else "not hit")
        rows.append(dict(tap, owner_anchor=_anchor_of(record, tap["function"]), observed=observed,
                         hits=len(hits), status=status))
    return rows


def _observed(hits: List[Dict[str, Any]], calls: Dict[int, Dict[str, Any]]) -> str:
    values: Dict[str, List[str]] = {}
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


def config_changes(record: Dict[str, Any], phases: Optional[Tuple[str, ...]] = None) -> List[Dict[str, Any]]:
    calls = calls_by_index(record)
    rows = []
    for change in record["config"]["changes"]:
        if phases and change["phase"] not in phases:
            continue
        by = calls.get(change["by"]) if change["by"] is not None else None
        rows.append(dict(change, by_function=by["function"] if by else "scenario (outside the namespace)",
                         by_anchor=by["anchor"] if by else None))
    return rows


def net_changes(record: Dict[str, Any], process: str, phase: str) -> Optional[List[Dict[str, Any]]]:
    """Keys whose value differs between the start and the end of one phase (None: not run)."""
    snapshots = record["config"]["snapshots"]
    order = [span["name"] for span in record["phases"] if span["process"] == process]
    if phase not in order or f"{process}:{phase}" not in snapshots:
        return None
    following = order[order.index(phase) + 1:]
    after_key = f"{process}:{following[0]}" if following else f"{process}:end"
    before, after = snapshots.get(f"{process}:{phase}") or {}, snapshots.get(after_key) or {}
    rows = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            op = "added" if old is None else "removed" if new is None else "changed"
            rows.append({"key": key, "op": op, "old": old, "new": new})
    return rows


def load_side_effects(record: Dict[str, Any]) -> List[Dict[str, Any]]:
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
        writers: Dict[str, Dict[str, Any]] = {}
        for change in changes:
            writers.setdefault(change["key"], change)
        rows = [dict(row, by_function=writers.get(row["key"], {}).get("by_function", "?"),
                     by_anchor=writers.get(row["key"], {}).get("by_anchor")) for row in net or []]
        net_keys = {row["key"] for row in rows}
        result.append({"process": process["label"], "title": process["title"], "phase": phase,
                       "fresh": phase in role(record, "fresh-load"), "ran": net is not None, "net": rows,
                       "transient": sorted({c["key"] for c in changes} - net_keys),
                       "added": sum(r["op"] == "added" for r in rows), "changed": sum(r["op"] == "changed" for r in rows)})
    return result


# -- pipeline ---------------------------------------------------------------------------


def stages(record: Dict[str, Any], phases: Tuple[str, ...], max_depth: int = 2) -> List[Dict[str, Any]]:
    """Distinct functions of the given phases, in first-call order, shallow ones only."""
    docs = record.get("docs", {})
    seen: Dict[str, Dict[str, Any]] = {}
    for call in record["calls"]:
        if call["phase"] not in phases or call["depth"] > max_depth or call["qualname"] == "<module>":
            continue
        entry = seen.get(call["function"])
        if entry is None:
            seen[call["function"]] = {"function": call["function"], "anchor": call["anchor"], "depth": call["depth"],
                                      "purpose": docs.get(call["function"], ""), "count": 1, "phase": call["phase"],
                                      "returned": call["returned"], "direct": call["direct"] or call["depth"] == 0}
        else:
            entry["count"] += 1
    return list(seen.values())


def entry_calls(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The calls the scenario made itself (depth 0) in the phases of its `entry` role."""
    chosen, seen = [], set()
    phases = role(record, "entry")
    for call in record["calls"]:
        if call["depth"] == 0 and call.get("thread", "main") == "main" and call["phase"] in phases and call["function"] not in seen:
            seen.add(call["function"])
            chosen.append(call)
    return chosen


def hooks(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Where the workflow hands over to ModelManager: calls into the class from outside it."""
    calls = calls_by_index(record)
    found: Dict[Tuple[str, str, str], Dict[str, Any]] = {}
    for call in record["calls"]:
        if not short_name(call["function"]).startswith(HOOK_CLASS + "."):
            continue
        parent = calls.get(call["parent"]) if call["parent"] is not None else None
        caller = parent["function"] if parent else "<scenario>"
        if short_name(caller).startswith(HOOK_CLASS + "."):
            continue
        key = (caller, call["function"], call["call_site"] or "")
        entry = found.setdefault(key, {"caller": caller, "caller_anchor": parent["anchor"] if parent else None,
                                       "callee": call["function"], "callee_anchor": call["anchor"],
                                       "site": call["call_site"], "phases": []})
        if call["phase"] not in entry["phases"]:
            entry["phases"].append(call["phase"])
    return list(found.values())


def edges(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    rows = []
    for edge in record["edges"]:
        how = "direct call" if edge["direct"] else "called back by framework code (e.g. Keras)"
        phases = ", ".join(edge["phases"])
        rows.append(dict(edge, why=f"{how}; {phases}" + (f"; ×{edge['count']}" if edge["count"] > 1 else "")))
    return rows


# -- the trained scale ------------------------------------------------------------------


def tap_values(record: Dict[str, Any], key: str) -> List[str]:
    """Values a tap observed (hits only), in observation order."""
    return [hit["value"] for hit in record.get("tap_hits", []) if hit["key"] == key and hit["status"] == "hit"]


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")  # not the 32 of float32


def number(text: Any) -> Optional[float]:
    """The first number in a summary ('float32(988.2)', '[6.89] (Variable float32)', 988.2)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    found = _NUMBER.search(str(text)) if text is not None else None
    return float(found.group()) if found else None


def _close(a: Optional[float], b: Optional[float]) -> bool:
    return a is not None and b is not None and abs(a - b) <= SCALE_TOLERANCE * max(abs(a), abs(b))


def trained_scale(record: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Which intensity_scale the archive carries: the trained one (exp of the log-scale variable
    after training, tap `train.log_scale`) or the configured one (params.cfg at save, tap
    `save.cfg_intensity_scale`), against params.dill and model.h5. None when neither tap ran."""
    logs = tap_values(record, "train.log_scale")
    log_value = number(logs[-1]) if logs else None
    trained = math.exp(log_value) if log_value is not None else None
    configured_values = tap_values(record, "save.cfg_intensity_scale")
    configured, source = (number(configured_values[-1]), "at save") if configured_values else (None, None)
    if configured is None:  # e.g. a revision that restores params.cfg when training returns
        during = [c["new"] for c in record.get("config", {}).get("changes", [])
                  if c["key"] == "intensity_scale" and c["phase"] in role(record, "train") and c["new"] is not None]
        configured, source = (number(during[-1]), "during training (absent from params.cfg at save)") if during else (None, None)
    if trained is None and configured is None:
        return None
    models = (record.get("archive_description") or {}).get("models") or {}
    archived = [{"model": name, "params": number((info.get("params_values") or {}).get("intensity_scale")),
                 "h5": number((info.get("h5_attrs") or {}).get("intensity_scale"))} for name, info in sorted(models.items())]
    values = [v for row in archived for v in (row["params"], row["h5"]) if v is not None]
    verdict = scale_verdict(trained, configured, values)
    return {"log_scale": log_value, "trained": trained, "configured": configured, "configured_source": source,
            "archived": archived, "verdict": verdict, "tolerance": SCALE_TOLERANCE,
            "nearest": nearest_scale(trained, configured, values)}


def nearest_scale(trained: Optional[float], configured: Optional[float], archived: List[float]) -> Optional[str]:
    """`trained` or `configured`: the one every archived value is nearer to (even inside the
    tolerance, e.g. a float32 round trip of one of them); None when they disagree or tie."""
    if trained is None or configured is None or not archived:
        return None
    sides = {"trained" if abs(v - trained) < abs(v - configured) else
             "configured" if abs(v - configured) < abs(v - trained) else "tie" for v in archived}
    return next(iter(sides)) if len(sides) == 1 and "tie" not in sides else None


def scale_verdict(trained: Optional[float], configured: Optional[float], archived: List[float]) -> str:
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


def sinks(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    rows = []
    for sink in record["sinks"]:
        outside = any(path and not path.startswith("<scratch>") for path in (sink["path"], sink.get("dest")))
        rows.append(dict(sink, outside=outside, by=sink["by"] or "scenario / framework (no namespace frame)"))
    return rows


def member_writers(record: Dict[str, Any]) -> Dict[str, str]:
    """Archive member → the function line that wrote the file it was zipped from."""
    writers: Dict[str, str] = {}
    for sink in record["sinks"]:
        if sink["op"] != "write" or sink["phase"] not in role(record, "save"):
            continue
        for member in _members(record):
            if sink["path"].endswith("/" + member) and member not in writers:
                by = sink["by"] or "scenario / framework (no namespace frame)"
                writers[member] = by + (", native write: line unknown" if sink["native"] else "")
    return writers


def _members(record: Dict[str, Any]) -> List[str]:
    description = record.get("archive_description") or {}
    return [member["name"] for member in description.get("members", [])]


def archive_rows(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    description = record.get("archive_description") or {}
    writers = member_writers(record)
    rows = []
    for member in description.get("members", []):
        rows.append(dict(member, role=contract.role_of(member["name"]), writer=writers.get(member["name"], "—")))
    return rows


# -- the PyTorch delta ------------------------------------------------------------------


def torch_contrast(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    delta = record.get("torch_delta") or {}
    surfaces = delta.get("surfaces", [])
    rows = []
    for member, requirement, kinds, hook in MEMBER_ROLES:
        today = [f"{s['kind']} `{s['anchor']}`" for s in surfaces if s["kind"] in kinds]
        shown = ", ".join(today[:4]) + (f" (+{len(today) - 4} more)" if len(today) > 4 else "")
        rows.append({"member": member, "requirement": requirement, "today": shown or "nothing found", "hook": hook})
    return rows


def torch_groups(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    delta = record.get("torch_delta") or {}
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for surface in delta.get("surfaces", []):
        groups.setdefault(surface["kind"], []).append(surface)
    return [{"kind": kind, "surfaces": groups[kind]} for kind in sorted(groups)]


