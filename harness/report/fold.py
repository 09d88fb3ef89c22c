"""Folding a call tree for reading: identical consecutive sibling subtrees become one line `×N`.

Training repeats calls (a callback per batch, a layer's `call` per trace): the tree stays
readable at that scale only if N identical repeats are shown once with their count. Two
siblings are identical when every field their line shows is the same (function, anchor,
call site, return summary, thread) and their subtrees are identical, recursively; anything
that differs keeps them apart, so folding never hides a difference. The run record keeps
every call, unless a process made more than `record.foldcalls.CALL_CAP`: then it was folded
by the same rule while read, and a stored call's `repeat` says how many siblings it stands
for; those counts add up here, so both records give the same lines.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

Key = Callable[[dict[str, Any]], Hashable]


@dataclass
class Node:
    """One call and its children, in call order."""

    call: dict[str, Any]
    children: list[Node] = field(default_factory=list)
    signature: int = -1


@dataclass(frozen=True)
class Folded:
    """One line to show: a call, how deep it sits, and how many identical siblings it stands for."""

    call: dict[str, Any]
    depth: int
    count: int


def build_forest(calls: Sequence[dict[str, Any]]) -> list[Node]:
    """The calls as trees: a call whose parent is not among `calls` starts a new root."""
    nodes: dict[int, Node] = {}
    roots: list[Node] = []
    for call in calls:
        node = Node(call)
        nodes[call["i"]] = node
        parent = nodes.get(call["parent"]) if call.get("parent") is not None else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def _sign(nodes: list[Node], key: Key) -> None:
    """Give every node an int that is equal exactly when two subtrees are identical (children
    compared as runs of identical siblings, so a folded and an unfolded record sign alike)."""
    table: dict[tuple, int] = {}
    stack = [(node, False) for node in reversed(nodes)]
    while stack:  # iterative post-order: deep trees must not hit the recursion limit
        node, done = stack.pop()
        if not done:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.children))
            continue
        shape = (key(node.call), tuple((first.signature, count) for first, count in _runs(node.children)))
        node.signature = table.setdefault(shape, len(table))


def _runs(nodes: list[Node]) -> list[tuple]:
    """Consecutive nodes with the same signature, as (first node, count); a stored call that
    stands for `repeat` identical siblings counts as many."""
    runs: list[tuple] = []
    for node in nodes:
        repeat = node.call.get("repeat", 1)
        if runs and runs[-1][0].signature == node.signature:
            runs[-1] = (runs[-1][0], runs[-1][1] + repeat)
        else:
            runs.append((node, repeat))
    return runs


def weights(calls: Sequence[dict[str, Any]]) -> dict[int, int]:
    """How many calls each stored call stands for: its `repeat` times its parent's (1 unfolded)."""
    found: dict[int, int] = {}
    for call in calls:  # a parent comes before its children
        parent = call.get("parent")
        found[call["i"]] = call.get("repeat", 1) * (found.get(parent, 1) if parent is not None else 1)
    return found


def fold(calls: Sequence[dict[str, Any]], key: Key) -> list[Folded]:
    """The lines of `calls` (one phase of one process, in call order) with repeats folded;
    a folded line's children are those of the first call of its run."""
    roots = build_forest(calls)
    _sign(roots, key)
    lines: list[Folded] = []
    stack = list(reversed(_runs(roots)))
    while stack:
        node, count = stack.pop()
        lines.append(Folded(node.call, node.call.get("depth", 0), count))
        stack.extend(reversed(_runs(node.children)))
    return lines
