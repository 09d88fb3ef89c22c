"""A run record with every field the renderers read, whatever the run managed to produce.

A run can end anywhere: nothing kept, a namespace that matched nothing, a phase that raised,
a process killed before its `end` event, an archive never written, a `run.json` edited by
hand. The renderers must still write every deliverable and say what is missing, so they
read a completed copy: each field absent, null where it may not be, or of the wrong kind
gets the empty value of its declared type (`runrecord`: the one home of the record's shape),
recursively through lists and nested records. The few parts typed only as `Dict[str, Any]`
there (archive description, PyTorch surfaces, errors, …) get their fields from `LOOSE`.
The record itself is never changed; the top-level fields it lacked are listed in
`missing_fields` for the report's gaps.
"""

from __future__ import annotations

import copy
import functools
import types
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

from . import types as runrecord

UNKNOWN = "unknown"


class Maybe:
    """A LOOSE default: the field is None or of `kind` (anything else becomes None)."""

    def __init__(self, kind: type) -> None:
        self.kind = kind


TEXT_OR_NONE = Maybe(str)

# Text shown where the record has nothing better (instead of an empty string).
TEXT = {
    "status": UNKNOWN,
    "namespace": UNKNOWN,
    "initiative": UNKNOWN,
    "plan_phase": UNKNOWN,
    "root": UNKNOWN,
    "name": UNKNOWN,
    "variant": UNKNOWN,
    "function": "?",
    "problem": "no reason recorded",
}

# Fields of the parts `runrecord` types loosely (`Dict[str, Any]`), by path in the record.
LOOSE: dict[str, dict[str, Any]] = {
    "static_skipped[]": {"pass": "?", "path": "?", "reason": ""},
    "events_files[]": {
        "name": "?",
        "bytes": 0,
        "shipped_as": "?",
        "shipped_bytes": 0,
        "omitted_lines": 0,
        "foreign_lines": 0,
    },
    "spec": {"source": "builtin", "clauses": [], "sections": [], "skipped": [], "missing": None},
    "spec.clauses[]": {
        "id": "?",
        "level": "",
        "text": "",
        "section": "",
        "anchor": None,
        "section_anchor": None,
        "verdict": "not judged",
        "evidence": [],
    },
    "spec.clauses[].evidence[]": {
        "source": "?",
        "status": "none",
        "detail": "",
        "check": None,
        "anchor": None,
        "written_by": TEXT_OR_NONE,
    },
    "spec.sections[]": {"title": "?", "anchor": None, "clauses": 0},
    "spec.skipped[]": {"path": "?", "reason": ""},
    "spec.missing": {"reason": "", "wanted": [], "folders": [], "sections": []},
    "errors[]": {
        "phase": "?",
        "type": "error",
        "message": "",
        "namespace_frame": TEXT_OR_NONE,
        "innermost_frame": TEXT_OR_NONE,
    },
    "entry_points[]": {
        "function": "?",
        "anchor": None,
        "confidence": "",
        "score": 0,
        "matched": [],
        "doc": "",
        "exercised": False,
        "kind": "",
        "name": "?",
    },
    "mentions{}[]": {"anchor": "?", "function": "?", "text": ""},
    "torch_delta": {"package": "ptycho_torch", "present": False, "surfaces": []},
    "torch_delta.surfaces[]": {
        "kind": "?",
        "anchor": "?",
        "function": "?",
        "path": "?",
        "line": 0,
        "detail": "",
        "describe": "",
    },
    "request_pointers[]": {
        "cited": "?",
        "path": "?",
        "start": 0,
        "end": 0,
        "what": "",
        "file_lines": Maybe(int),
        "there": [],
        "found": [],
        "not_found": [],
        "verdict": UNKNOWN,
    },
    "request_pointers[].there[]": {"name": "?", "kind": "def", "anchor": "?", "in_range": False},
    "request_pointers[].found[]": {"name": "?", "kind": "def", "anchor": "?", "in_range": False},
    "archive_description": {
        "members": [],
        "clauses": [],
        "models": {},
        "status": UNKNOWN,
        "backend": None,
        "total_size": None,
        "display_path": "(unknown path)",
    },
    "archive_description.members[]": {"name": "?", "size": None},
    "archive_description.clauses[]": {"status": "?", "text": "", "detail": ""},
    "archive_description.models{}": {"params_values": {}, "h5_attrs": {}, "params_keys": []},
    "scenario.processes[]": {"label": "?", "title": "?", "phases": []},
    "scenario.chains[]": {"title": "?", "phases": []},
    "processes[].start": {"python": None, "implementation": None, "executable": None, "platform": None},
}
_MISSING = object()


def _empty(tp: Any, name: str = "") -> Any:
    """The empty value of a declared type (None where the type allows it)."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return None if type(None) in get_args(tp) else _empty(get_args(tp)[0], name)
    if origin in (list, list) or tp is list:
        return []
    if origin in (dict, dict) or tp is dict:
        return {}
    if is_typeddict(tp):
        return _record({}, tp, name)
    if tp is bool:
        return False
    if tp is int:
        return 0
    if tp is float:
        return 0.0
    if tp is str:
        return TEXT.get(name.rsplit(".", 1)[-1].rstrip("[]{}"), "")
    return None  # Any


def _conform(value: Any, tp: Any, path: str) -> Any:
    """`value` if it has the declared type, else the type's empty value; containers conformed inside."""
    origin = get_origin(tp)
    if value is _MISSING:
        return _empty(tp, path)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(get_args(tp)):
            return None
        return _conform(value, args[0], path)
    if origin in (list, list):
        (item,) = get_args(tp) or (Any,)
        if not isinstance(value, list):
            return []
        return [_conform(v, item, path + "[]") for v in value if not is_typeddict(item) or isinstance(v, dict)]
    if origin in (dict, dict):
        _, item = get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            return _loose({}, path)
        return _loose({k: _conform(v, item, path + "{}") for k, v in value.items()}, path)
    if is_typeddict(tp):
        return _record(value, tp, path)
    if tp is bool:
        return value if isinstance(value, bool) else False
    if tp in (int, float):
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else tp()
    if tp is str:
        return value if isinstance(value, str) else _empty(str, path)
    return _loose(value, path)  # Any: whatever it is, with the loose fields if it is a dict


@functools.cache
def _fields(tp: Any) -> dict[str, Any]:
    return get_type_hints(tp)


def _record(value: Any, tp: Any, path: str) -> dict[str, Any]:
    data = value if isinstance(value, dict) else {}
    done = dict(data)
    for key, declared in _fields(tp).items():
        done[key] = _conform(data.get(key, _MISSING), declared, f"{path}.{key}" if path else key)
    return _loose(done, path)


def _loose(value: Any, path: str) -> Any:
    """Fill a loosely typed part from LOOSE (its fields, and its lists' items)."""
    fields = LOOSE.get(path)
    if fields is None:
        if path + "{}" in LOOSE and isinstance(value, dict):
            return {k: _loose(v if isinstance(v, dict) else {}, path + "{}") for k, v in value.items()}
        if path + "[]" in LOOSE and isinstance(value, list):
            return [_loose(v, path + "[]") for v in value if isinstance(v, dict)]
        if path + "{}[]" in LOOSE and isinstance(value, dict):
            return {
                k: [_loose(i, path + "{}[]") for i in v if isinstance(i, dict)] if isinstance(v, list) else []
                for k, v in value.items()
            }
        return value
    if not isinstance(value, dict) or not value and not path.endswith(("[]", "{}")):
        return value  # an empty part (no spec, no description) stays empty: the views say so
    done = dict(value)
    for key, default in fields.items():
        if isinstance(default, Maybe):
            if not isinstance(done.get(key), default.kind):
                done[key] = None
            continue
        if done.get(key) is None and default is not None or not _same_kind(done.get(key, _MISSING), default):
            done[key] = copy.deepcopy(default)
        if f"{path}.{key}" in LOOSE and done[key] is not None and not isinstance(done[key], dict):
            done[key] = None  # a nested part that may be absent, but not of another kind
        done[key] = _loose(done[key], f"{path}.{key}")
    return done


def _same_kind(value: Any, default: Any) -> bool:
    if value is _MISSING:
        return False
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def complete(record: Any) -> dict[str, Any]:
    """A copy of `record` that every renderer can read without a KeyError or TypeError."""
    done = _record(copy.deepcopy(record) if isinstance(record, dict) else {}, runrecord.RunRecord, "")
    done["missing_fields"] = missing_fields(record)
    return done


def missing_fields(record: Any) -> list[str]:
    """Top-level fields a record lacks (named in the report's gaps, not silently filled)."""
    present = record if isinstance(record, dict) else {}
    optional = {"failure", "archive_description", "schema_version"}
    return sorted(key for key in _fields(runrecord.RunRecord) if key not in present and key not in optional)
