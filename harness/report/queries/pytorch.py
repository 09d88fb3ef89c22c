"""PyTorch delta queries: what the PyTorch side offers today for each archive member.

The contract's members (`contract.MEMBERS`) set what must be saved; the static scan of the
PyTorch package (`torch_delta`) says what exists. Their contrast is what a port must add.
"""

from __future__ import annotations

from typing import Any

from ... import contract

# What the contract asks of each archive member, and the hook a PyTorch shim needs for it.
MEMBER_ROLES: list[tuple[str, str, tuple[str, ...], str]] = [
    (m.name, m.role, m.torch_kinds, m.hook) for m in contract.MEMBERS
]


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
