"""PyTorch delta queries: what the PyTorch side offers today for each archive member.

The contract's members (`contract.MEMBERS`) set what must be saved; the static scan of the
PyTorch package (`torch_delta`) says what exists. A surface counts as writing a member only
when its line writes that file: the file name is read from the line or the lines above it
in the same function (`source.file_named`), and a Lightning checkpoint callback writes
`.ckpt` files by construction. Their contrast is what a port must add.
"""

from __future__ import annotations

import re
from typing import Any

from ... import contract
from .source import file_named

# What the contract asks of each archive member, and the hook a PyTorch shim needs for it.
MEMBER_ROLES: list[tuple[str, str, tuple[str, ...], str]] = [
    (m.name, m.role, m.torch_kinds, m.hook) for m in contract.MEMBERS
]
# Surface kinds that write a file (the others set up, track or read).
WRITING_KINDS = ("torch-save", "pickle-dump", "manifest-writer", "archive-member", "archive-writer")
CHECKPOINT_KINDS = ("lightning-checkpoint", "save-checkpoint")
# Surface kinds that track experiments or only name a path: never an archive member's writer.
TRACKING_KINDS = ("mlflow-artifact", "mlflow-other", "mlflow-setup", "path-literal")
_CKPT_NAME = re.compile(r"filename=['\"]([\w\-{}.]+)['\"]")


def torch_writers(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every PyTorch surface that writes a file, with the file's name and where that name is."""
    delta = record.get("torch_delta") or {}
    root = (record.get("target") or {}).get("root")
    rows = []
    for surface in delta.get("surfaces", []):
        if surface["kind"] in CHECKPOINT_KINDS:
            named = _CKPT_NAME.search(surface.get("detail") or "")
            stem = named.group(1) if named else "*"
            rows.append(dict(surface, file=stem if stem.endswith(".ckpt") else stem + ".ckpt", named_at=None))
        elif surface["kind"] in WRITING_KINDS:
            found = file_named(root, surface["path"], surface["line"])
            if found:
                rows.append(dict(surface, file=found[0], named_at=f"{surface['path']}:{found[1]}"))
    return rows


def _writes(writer: dict[str, Any], member: str, kinds: tuple[str, ...]) -> bool:
    """Whether a writing surface writes this member: the same file name, or for the Keras
    weights any PyTorch weights file (.pth, .pt, .ckpt) of the member's kinds."""
    if writer["file"] == member:
        return True
    return member == "model.keras" and writer["kind"] in kinds and writer["file"].endswith((".pth", ".pt", ".ckpt"))


def torch_contrast(record: dict[str, Any]) -> list[dict[str, Any]]:
    writers = sorted(torch_writers(record), key=lambda w: w["kind"] in CHECKPOINT_KINDS)  # files, then callbacks
    rows = []
    for member, requirement, kinds, hook in MEMBER_ROLES:
        today = [f"{w['kind']} `{w['anchor']}` (`{w['file']}`)" for w in writers if _writes(w, member, kinds)]
        shown = ", ".join(today[:4]) + (f" (+{len(today) - 4} more)" if len(today) > 4 else "")
        rows.append({"member": member, "requirement": requirement, "today": shown or "nothing found", "hook": hook})
    return rows


def torch_groups(record: dict[str, Any]) -> list[dict[str, Any]]:
    delta = record.get("torch_delta") or {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for surface in delta.get("surfaces", []):
        groups.setdefault(surface["kind"], []).append(surface)
    return [{"kind": kind, "surfaces": groups[kind]} for kind in sorted(groups)]
