"""Record queries: the facts a deliverable needs, computed from the run record.

Which calls are pipeline stages, which calls are entry points and hooks, how calls link
up. Phase names come from the record's scenario (`roles`), never from here. Every list is
sorted or kept in call order, never in dict order, so two runs on the same code give the
same answers; the sibling modules of `report.queries` keep that rule for their subjects (taps,
config, the trained scale, the archive, the PyTorch delta, library calls). This one holds
what they all share (a role's phases, calls by index, short names) and the call chain.
"""

from __future__ import annotations

from typing import Any

HOOK_CLASS = "ModelManager"  # the contract's persistence class: where the workflow hands over


def role(record: dict[str, Any], name: str) -> tuple[str, ...]:
    """The phase names the scenario gave a role (`save`, `load`, `fresh-load`, `entry`, …)."""
    return tuple(((record.get("scenario") or {}).get("roles") or {}).get(name, ()))


def calls_by_index(record: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Call index → call: how parents, tap hits and config writers are followed."""
    return {call["i"]: call for call in record["calls"]}


def anchor_of(record: dict[str, Any], function: str) -> str | None:
    """The def line of a function's first call (None: never called, or no source file)."""
    for call in record["calls"]:
        if call["function"] == function:
            return call["anchor"]
    return None


def short_name(function: str) -> str:
    """`qualname` of `module:qualname`: how diagrams show a function and hooks find a class."""
    return function.split(":", 1)[1] if ":" in function else function


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
                "per_phase": {call["phase"]: 1},
            }
        else:
            entry["count"] += 1
            entry["per_phase"][call["phase"]] = entry["per_phase"].get(call["phase"], 0) + 1
    for entry in seen.values():  # counts of several phases are shown per phase, never summed under one
        per = entry["per_phase"]
        entry["phases_text"] = ", ".join(f"{p} ×{n}" for p, n in per.items()) if len(per) > 1 else entry["phase"]
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
        if short_name(edge["callee"]) == "<module>":
            how = "import (the module body, run by the import system)"
        elif not edge.get("callee_anchor"):
            how = "generated code (no source file, e.g. dataclass methods)"
        phases = ", ".join(edge["phases"])
        rows.append(dict(edge, why=f"{how}; {phases}" + (f"; ×{edge['count']}" if edge["count"] > 1 else "")))
    return rows
