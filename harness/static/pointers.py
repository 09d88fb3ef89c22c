"""The evidence request's pointers, checked against the traced revision.

The request cites `path:start-end` ranges (`tap_points/request_pointers.toml`, the one home of
those pointers) that were true on the revision it was written against. For each one this
module says what is at those lines on the traced root (the definition or Markdown heading
there, or that the file is missing or shorter) and where the thing the pointer names really
is, found by symbol (ast), heading or call, never by a remembered line number. Text only: the
target is never imported; every file is read through the static passes' `Budget`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from ..resources import data_dir, read_toml
from ..trace.anchors import walk_defs
from .bounded import Budget, files_under
from .doctext import blocks
from .torchmatch import dotted_name

POINTERS = data_dir("tap_points") / "request_pointers.toml"
WHAT = "request pointers"
_LOCATORS = ("symbols", "heading", "calls")


def load_pointers(path: Path = POINTERS) -> list[dict[str, Any]]:
    """The pointers of the TOML file, checked: a malformed entry raises ValueError naming it."""
    _, data = read_toml(path, "the request's pointers", "reinstall callchain", "fix that line")
    pointers = data.get("pointer", [])
    for number, pointer in enumerate(pointers, 1):
        lines = pointer.get("lines")
        ok = (
            isinstance(pointer.get("path"), str)
            and isinstance(pointer.get("what"), str)
            and isinstance(lines, list)
            and len(lines) == 2
            and all(isinstance(n, int) and n > 0 for n in lines)
            and lines[0] <= lines[1]
            and any(key in pointer for key in _LOCATORS)
        )
        if not ok:
            raise ValueError(f"{path}: pointer {number} needs path, what, lines = [start, end] and a locator")
    return pointers


def reconcile(root: Path, budget: Budget, pointers: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Each pointer with what is at its lines on this revision and where the named thing is
    (the run record's `request_pointers`): `cited` (`path:start-end`), `path`, `start`, `end`,
    `what` (the request's words), `file_lines` (None: the file is missing), `there` (the
    definition or heading the first cited line is in, then those starting inside the range),
    `found` (where the named things are), `not_found` (names looked for in vain) and `verdict`:
    `current` (all found inside the range), `partly stale`, `stale` or `not found`. A place has
    `name`, `kind` (`def`, `heading` or `call`), `path`, `line`, `end_line`, `anchor`, `wanted`
    (the locator that found it) and `in_range`."""
    return [_one(root, budget, p) for p in (load_pointers() if pointers is None else pointers)]


def _one(root: Path, budget: Budget, pointer: dict[str, Any]) -> dict[str, Any]:
    rel, (start, end) = pointer["path"], pointer["lines"]
    text = budget.read_text(root / rel, rel, WHAT) if (root / rel).is_file() else None
    lines = text.splitlines() if text is not None else None
    found, wanted = _locate(root, budget, pointer, text)
    names = {f["wanted"] for f in found}
    for item in found:
        item["in_range"] = item["path"] == rel and start <= item["line"] <= end
    return {
        "cited": f"{rel}:{start}-{end}",
        "path": rel,
        "start": start,
        "end": end,
        "what": pointer["what"],
        "file_lines": None if lines is None else len(lines),
        "there": _there(rel, text, start, end) if text is not None else [],
        "found": found,
        "not_found": [w for w in wanted if w not in names],
        "verdict": _verdict(found, [w for w in wanted if w not in names]),
    }


def _verdict(found: list[dict[str, Any]], missing: list[str]) -> str:
    if not found:
        return "not found"
    inside = [f for f in found if f["in_range"]]
    if len(inside) == len(found) and not missing:
        return "current"
    return "partly stale" if inside else "stale"


def _locate(
    root: Path, budget: Budget, pointer: dict[str, Any], text: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(what was found, every name looked for) for one pointer's locators."""
    rel = pointer["path"]
    wanted: list[str] = list(pointer.get("symbols", [])) + [f"{c}(…)" for c in pointer.get("calls", [])]
    found: list[dict[str, Any]] = []
    tree = _parse(text) if text is not None and rel.endswith(".py") else None
    if tree is not None:
        found += _symbols(tree, rel, pointer.get("symbols", []))
        found += _calls(tree, rel, pointer.get("calls", []))
    if "heading" in pointer:
        wanted.append(f"heading /{pointer['heading']}/")
        pattern = re.compile(pointer["heading"], re.I)
        places = [(rel, text)] if text is not None else _elsewhere(root, budget, pointer.get("elsewhere"))
        for where, body in places:
            found += [dict(h, wanted=wanted[-1]) for h in _headings(where, body) if pattern.search(h["name"])]
    return found, wanted


def _parse(text: str) -> ast.AST | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _defs(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    return [(node, qual) for node, qual in walk_defs(tree) if not isinstance(node, ast.Lambda)]


def _symbols(tree: ast.AST, rel: str, symbols: list[str]) -> list[dict[str, Any]]:
    by_name = {qual: node for node, qual in reversed(_defs(tree))}  # the first definition wins
    return [
        _place(rel, by_name[s].lineno, s, s, getattr(by_name[s], "end_lineno", None), "def")  # type: ignore[attr-defined]
        for s in symbols
        if s in by_name
    ]


def _calls(tree: ast.AST, rel: str, names: list[str]) -> list[dict[str, Any]]:
    """Every call whose callee is one of `names` (or ends in `.name`), in source order, with
    the function it is in."""
    spans = [(n.lineno, n.end_lineno or n.lineno, q) for n, q in _defs(tree)]  # type: ignore[attr-defined]
    found = []
    for node in ast.walk(tree):
        dotted = dotted_name(node.func) if isinstance(node, ast.Call) else None
        match = next((n for n in names if dotted and (dotted == n or dotted.endswith("." + n))), None)
        if match:
            inside = [s for s in spans if s[0] <= node.lineno <= s[1]]  # type: ignore[attr-defined]
            owner = max(inside)[2] if inside else "<module>"
            found.append(_place(rel, node.lineno, f"{dotted}(…) in {owner}", f"{match}(…)", None, "call"))  # type: ignore[attr-defined]
    return sorted(found, key=lambda f: (f["line"], f["name"]))


def _place(rel: str, line: int, name: str, wanted: str, end: int | None = None, kind: str = "def") -> dict[str, Any]:
    """One place; `kind` is `def` (a def or class line), `heading` or `call` (the line of the call)."""
    return {
        "name": name,
        "kind": kind,
        "path": rel,
        "line": line,
        "end_line": end,
        "anchor": f"{rel}:{line}",
        "wanted": wanted,
        "in_range": False,
    }


def _headings(rel: str, text: str) -> list[dict[str, Any]]:
    """The Markdown headings of a document (fenced code left out), in order."""
    seen: dict[int, dict[str, Any]] = {}
    for block in blocks(text.splitlines(), rel.lower().endswith(".rst"), re.compile(r"(?!)")):
        for heading in block.headings:
            seen.setdefault(heading.line, _place(rel, heading.line, heading.title, "", None, "heading"))
    return [seen[line] for line in sorted(seen)]


def _elsewhere(root: Path, budget: Budget, folder: str | None) -> list[tuple[str, str]]:
    if not folder or not (root / folder).is_dir():
        return []
    places = []
    for path in files_under(root / folder, ".md", budget, root, WHAT):
        rel = path.relative_to(root).as_posix()
        body = budget.read_text(path, rel, WHAT)
        if body is not None:
            places.append((rel, body))
    return places


def _there(rel: str, text: str, start: int, end: int) -> list[dict[str, Any]]:
    """What the cited lines hold now: the definition (or heading) the first line is in, then
    those that start inside the range (nested helpers left out)."""
    if rel.endswith(".py"):
        tree = _parse(text)
        if tree is None:
            return []
        items = [_place(rel, n.lineno, q, "", n.end_lineno, "def") for n, q in _defs(tree)]  # type: ignore[attr-defined]
        inside = [i for i in items if i["line"] <= start <= (i["end_line"] or i["line"])]
    else:
        items = _headings(rel, text)
        inside = [i for i in items if i["line"] <= start][-1:]
    first = max(inside, key=lambda i: i["line"]) if inside else None
    later = [i for i in items if start < i["line"] <= end and "<locals>" not in i["name"]]
    return ([first] if first else []) + later
