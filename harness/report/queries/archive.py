"""Archive queries: the files the run wrote, and which function wrote each archive member.

The members come from the archive description, the writers from the recorded file
operations (sinks) of the phases in the `save` role.
"""

from __future__ import annotations

from typing import Any

from ... import contract
from .calls import role


def sinks(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for sink in record["sinks"]:
        if sink["op"] == "read":
            continue
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
