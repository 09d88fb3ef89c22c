"""Source anchors: turn a code object into the `path:line` a reader expects.

Python reports a decorated function at its first decorator's line (`co_firstlineno`),
but the evidence must point at the `def` line. The only reliable source of truth is the
file itself, so each file is parsed once with `ast` and every function, lambda and class
body is indexed by the line Python reports for it and its name.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Anchor:
    """Where a code object lives: path relative to the target root and its `def` line."""

    path: str | None  # None when the code has no source file (e.g. `<string>`)
    line: int | None
    qualname: str

    def text(self) -> str:
        if self.path is None:
            return "<no source>"
        return f"{self.path}:{self.line}"


def _reported_line(node: ast.AST) -> int:
    """The line Python stores in co_firstlineno: the first decorator's, else the node's."""
    decorators = getattr(node, "decorator_list", None) or []
    return min([d.lineno for d in decorators] + [node.lineno])  # type: ignore[attr-defined]  # a def, class or lambda


def walk_defs(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every def, class and lambda of a module with its qualname, named as Python names it.

    Depth-first in source order, with an explicit stack: a machine-written expression
    thousands of nodes deep (`1 + 1 + ... + 1`) must not hit the recursion limit."""
    stack: list[tuple[Iterator[ast.AST], str]] = [(ast.iter_child_nodes(tree), "")]
    while stack:
        children, prefix = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        if isinstance(child, _DEFS):
            qual = f"{prefix}{child.name}"
            yield child, qual
            stack.append(
                (ast.iter_child_nodes(child), f"{qual}." if isinstance(child, ast.ClassDef) else f"{qual}.<locals>.")
            )
        elif isinstance(child, ast.Lambda):
            yield child, f"{prefix}<lambda>"
            stack.append((ast.iter_child_nodes(child), f"{prefix}<lambda>.<locals>."))
        else:
            stack.append((ast.iter_child_nodes(child), prefix))


def index_source(source: str) -> dict[tuple[int, str], tuple[int, str]]:
    """Map (reported line, name) -> (def line, qualname) for every def, class and lambda."""
    table: dict[tuple[int, str], tuple[int, str]] = {}
    for node, qual in walk_defs(ast.parse(source)):
        name = "<lambda>" if isinstance(node, ast.Lambda) else node.name  # type: ignore[attr-defined]
        table.setdefault((_reported_line(node), name), (node.lineno, qual))  # type: ignore[attr-defined]
    return table


class AnchorIndex:
    """Resolves code objects of one target root to anchors, parsing each file once."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self._files: dict[str, dict[tuple[int, str], tuple[int, str]] | None] = {}

    def relpath(self, filename: str) -> str | None:
        """Path relative to the root, with '/' separators; None for code without a file."""
        if not filename or filename.startswith("<"):
            return None
        real = os.path.realpath(filename)
        if real == self.root or real.startswith(self.root + os.sep):
            return os.path.relpath(real, self.root).replace(os.sep, "/")
        return real

    def _table(self, filename: str) -> dict[tuple[int, str], tuple[int, str]] | None:
        if filename not in self._files:
            try:
                with open(filename, "rb") as handle:
                    self._files[filename] = index_source(handle.read().decode("utf-8", "replace"))
            except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
                self._files[filename] = None
        return self._files[filename]

    def resolve(self, code) -> Anchor:
        """Anchor of a code object: its `def` line, or its first line for module bodies."""
        qualname = getattr(code, "co_qualname", code.co_name)
        path = self.relpath(code.co_filename)
        if path is None:
            return Anchor(None, None, qualname)
        table = self._table(code.co_filename) or {}
        found = table.get((code.co_firstlineno, code.co_name))
        if found is None:
            return Anchor(path, code.co_firstlineno, qualname)
        line, ast_qualname = found
        return Anchor(path, line, qualname if hasattr(code, "co_qualname") else ast_qualname)
