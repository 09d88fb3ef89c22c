"""Source anchors: turn a code object into the `path:line` a reader expects.

Python reports a decorated function at its first decorator's line (`co_firstlineno`),
but the evidence must point at the `def` line. The only reliable source of truth is the
file itself. On Python 3.11+ the code object carries its qualname, so only a decorated
definition needs the file: its decorator lines are tokenized (strings and brackets read as
Python reads them) up to the `def`/`class` of that name. Python 3.10 has no `co_qualname`,
so there each file is parsed once with `ast` and every function, lambda and class body is
indexed by the line Python reports for it and its name (which also gives the qualname).
Parsing every kept file cost about 1.4 % of a real-main cycle process; the tokenizer reads
a few lines per decorated definition.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import ast
import io
import os
import tokenize
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


def _decorated_def_line(lines: list[str], first: int, name: str) -> int | None:
    """The line of the `def`/`class` named `name` whose first decorator is on line `first`
    (1-based), or None when the statement after the decorators is not that definition."""
    text = "".join(lines[first - 1 : first - 1 + 400])  # decorators longer than that: not found
    depth, after_keyword = 0, False
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
            elif depth == 0 and token.type == tokenize.NAME:
                if after_keyword:
                    return first + token.start[0] - 1 if token.string == name else None
                after_keyword = token.string in ("def", "class")
                if not after_keyword and token.string != "async" and token.start[1] == 0:
                    return None  # a statement that is neither a decorator nor the definition
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    return None


class AnchorIndex:
    """Resolves code objects of one target root to anchors, reading each file once."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self._files: dict[str, dict[tuple[int, str], tuple[int, str]] | None] = {}
        self._lines: dict[str, list[str]] = {}

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

    def _source_lines(self, filename: str) -> list[str]:
        if filename not in self._lines:
            try:
                with open(filename, "rb") as handle:
                    text = handle.read().decode("utf-8", "replace")
                self._lines[filename] = text.splitlines(keepends=True)
            except OSError:
                self._lines[filename] = []
        return self._lines[filename]

    def _def_line(self, code) -> int:
        """The `def` line of 3.11+ code: its first line unless that line is a decorator."""
        first = code.co_firstlineno
        lines = self._source_lines(code.co_filename)
        if not 0 < first <= len(lines) or not lines[first - 1].lstrip().startswith("@"):
            return first
        return _decorated_def_line(lines, first, code.co_name) or first

    def resolve(self, code) -> Anchor:
        """Anchor of a code object: its `def` line, or its first line for module bodies."""
        qualname = getattr(code, "co_qualname", code.co_name)
        path = self.relpath(code.co_filename)
        if path is None:
            return Anchor(None, None, qualname)
        if hasattr(code, "co_qualname"):
            return Anchor(path, self._def_line(code), qualname)
        table = self._table(code.co_filename) or {}
        found = table.get((code.co_firstlineno, code.co_name))
        if found is None:
            return Anchor(path, code.co_firstlineno, qualname)
        line, ast_qualname = found
        return Anchor(path, line, qualname if hasattr(code, "co_qualname") else ast_qualname)
