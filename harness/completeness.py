"""A run record with every field the renderers read, whatever the run managed to produce.

A run can end anywhere: nothing kept, a namespace that matched nothing, a phase that raised,
a process killed before its `end` event, an archive never written, a `run.json` from an
older callchain or edited by hand. The renderers must still write every deliverable and say
what is missing, so they read a completed copy: each absent (or null, or wrongly typed)
field gets the empty value of its kind, and list items get the fields an item has. The
record on disk is never changed; what is missing is reported by `missing_fields`.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List

UNKNOWN = "unknown"

# Top-level fields: the empty value of each (a dict default lists the keys it must have).
TOP: Dict[str, Any] = {
    "callchain_version": UNKNOWN, "question": "", "scope_hints": [], "initiative": UNKNOWN,
    "plan_phase": UNKNOWN, "namespace": UNKNOWN, "package": UNKNOWN, "config_global": "params.cfg",
    "command": "", "started_at": UNKNOWN, "report": "", "scratch": "", "archive": "", "status": UNKNOWN,
    "failure": None, "archive_description": None, "schema": None,
    "scenario": {"name": UNKNOWN, "variant": UNKNOWN, "phases": []},
    "recorder": {"backend": None, "settings": None, "seen_means": None, "untraced": False},
    "target": {"root": UNKNOWN, "demo": False, "git": False, "commit": None, "branch": None, "dirty": None},
    "config": {"changes": [], "snapshots": {}},
    "events": {"seen": 0, "kept": 0},
    "evidence_only": {"before": {}, "after": {}, "changes": []},
    "torch_delta": {"package": "ptycho_torch", "present": False, "surfaces": []},
    "calls": [], "edges": [], "phases": [], "processes": [], "children": [], "errors": [], "sinks": [],
    "tap_hits": [], "taps_declared": [], "entry_points": [], "durations": {}, "environment": {},
    "docs": {}, "mentions": {},
}

# Fields of the items of a list (by the list's name), with their empty values.
ITEMS: Dict[str, Dict[str, Any]] = {
    "calls": {"i": -1, "function": "?", "module": "?", "qualname": "?", "anchor": None, "path": None, "line": None,
              "call_site": None, "call_line": None, "depth": 0, "direct": False, "parent": None, "phase": "?",
              "process": "?", "returned": None, "t0": 0.0, "t1": None},
    "edges": {"caller": "?", "callee": "?", "callee_anchor": None, "call_site": None, "count": 1, "direct": False, "phases": []},
    "phases": {"name": "?", "process": "?", "calls": 0, "seconds": 0.0, "t": 0.0},
    "processes": {"label": "?", "gaps": [], "blocked_imports": [], "torch_imported": [], "packages": {}, "devices": {},
                  "start": {}, "completed": False, "exit": None, "seconds": 0.0, "seen": 0, "kept": 0},
    "children": {"label": "?", "phases": [], "exit": None, "timed_out": False, "interrupted": False, "wall_seconds": 0.0},
    "errors": {"phase": "?", "type": "error", "message": "", "namespace_frame": None, "innermost_frame": None},
    "sinks": {"op": "?", "path": "?", "dest": None, "by": None, "module": None, "native": False, "phase": "?", "process": "?"},
    "tap_hits": {"key": "?", "call": -1, "status": "?", "value": "", "error": None, "process": "?"},
    "taps_declared": {"key": "?", "function": "?", "when": "call", "capture": "", "purpose": "", "units": "", "source": "?"},
    "entry_points": {"function": "?", "anchor": None, "confidence": "", "score": 0, "matched": [], "doc": "", "exercised": False},
}
CONFIG_CHANGE = {"key": "?", "op": "?", "old": None, "new": None, "by": None, "phase": "?", "process": "?"}
FAILURE = {"problem": "the run failed (no reason recorded)", "fix": "", "exit_code": 3}
ARCHIVE = {"members": [], "clauses": [], "models": {}, "status": UNKNOWN, "backend": None, "total_size": None,
           "display_path": "(unknown path)"}
ARCHIVE_MEMBER = {"name": "?", "size": None}
ARCHIVE_CLAUSE = {"status": "?", "text": "", "detail": ""}
GAP = {"phase": "?", "missing": "?", "used": "?"}
BLOCKED = {"module": "?", "importer": "?"}
SURFACE = {"kind": "?", "anchor": "?", "function": "?", "path": "?", "line": 0, "detail": "", "describe": ""}
MENTION = {"anchor": "?", "function": "?", "text": ""}


def _like(value: Any, default: Any) -> bool:
    """Whether `value` has the kind of `default` (any value is fine where the default is None)."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _fill(data: Any, defaults: Dict[str, Any]) -> Dict[str, Any]:
    """`data` as a dict with every key of `defaults` present and of the right kind."""
    filled = dict(data) if isinstance(data, dict) else {}
    for key, default in defaults.items():
        if key not in filled or filled[key] is None and default is not None or not _like(filled[key], default):
            filled[key] = copy.deepcopy(default)
    return filled


def _items(values: Any, defaults: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [_fill(item, defaults) for item in values if isinstance(item, dict)] if isinstance(values, list) else []


def complete(record: Any) -> Dict[str, Any]:
    """A copy of `record` that every renderer can read without a KeyError or TypeError."""
    done = _fill(record, {k: v for k, v in TOP.items() if not isinstance(v, dict) or not v})
    for key, default in TOP.items():
        if isinstance(default, dict) and default:
            done[key] = _fill(done.get(key), default)
    for key, defaults in ITEMS.items():
        done[key] = _items(done[key], defaults)
    for process in done["processes"]:
        process["gaps"] = _items(process["gaps"], GAP)
        process["blocked_imports"] = _items(process["blocked_imports"], BLOCKED)
    done["config"]["changes"] = _items(done["config"]["changes"], CONFIG_CHANGE)
    done["torch_delta"]["surfaces"] = _items(done["torch_delta"]["surfaces"], SURFACE)
    done["mentions"] = {key: _items(found, MENTION) for key, found in done["mentions"].items()}
    if done["failure"] is not None:
        done["failure"] = _fill(done["failure"], FAILURE)
    if done["archive_description"] is not None:
        archive = _fill(done["archive_description"], ARCHIVE)
        archive["members"] = _items(archive["members"], ARCHIVE_MEMBER)
        archive["clauses"] = _items(archive["clauses"], ARCHIVE_CLAUSE)
        done["archive_description"] = archive
    done["missing_fields"] = missing_fields(record)
    return done


def missing_fields(record: Any) -> List[str]:
    """Top-level fields absent from a record (named in the report's gaps, never silently filled)."""
    present = record if isinstance(record, dict) else {}
    return sorted(key for key in TOP if key not in present and key not in ("failure", "archive_description", "schema"))
