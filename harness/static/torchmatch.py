"""One parsed module of the PyTorch side against the surface rules: what it persists, and where.

`torchscan` walks the package and parses each file; this module does the part that needs the
syntax tree: it resolves names through the file's imports (relative ones made absolute), tracks
the enclosing `__qualname__` the way the runtime spells it, applies each rule of
`torchpatterns` (calls, literals, definitions) and summarises what matched in a line of source
text that stays readable in a table. It never imports the target. Standard library only.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .torchpatterns import ArgRule, Pattern

MAX_VALUE = 60  # one keyword value or literal in a summary
MAX_DETAIL = 200  # a whole `detail` string
MAX_SEGMENT = 4000  # source text looked at for one node (matching and summaries)


# --------------------------------------------------------------------------- imports


def import_aliases(tree: ast.AST, module: str) -> dict[str, str]:
    """Local name -> dotted origin for every import in the module (function-level too).

    Module-level imports are seen first (breadth-first walk) and win on a clash, which is
    the binding most code in the file sees. Relative imports are made absolute so that
    `from .model_manager import save_torch_bundle` reads like its absolute spelling.
    """
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases.setdefault(alias.asname, alias.name)
                else:  # `import a.b` binds `a`
                    head = alias.name.split(".")[0]
                    aliases.setdefault(head, head)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute_from(node, module)
            for alias in node.names:
                if alias.name != "*":
                    origin = f"{base}.{alias.name}" if base else alias.name
                    aliases.setdefault(alias.asname or alias.name, origin)
    return aliases


def _absolute_from(node: ast.ImportFrom, module: str) -> str:
    """The absolute module a `from ... import` reads from."""
    if not node.level:
        return node.module or ""
    # `a/b/x.py` and `a/b/__init__.py` both live in package `a.b`; each extra dot climbs one.
    package = module.split(".")[:-1]
    package = package[: max(len(package) - (node.level - 1), 0)]
    return ".".join(package + ([node.module] if node.module else []))


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a Name/Attribute chain, None for anything else (`f().g`, `x[0].g`)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def resolve(dotted: str, aliases: dict[str, str]) -> str:
    """Rewrite the head of a dotted name through the imports (`mf.start_run` -> `mlflow...`)."""
    head, _, rest = dotted.partition(".")
    origin = aliases.get(head)
    if origin is None:
        return dotted
    return f"{origin}.{rest}" if rest else origin


# --------------------------------------------------------------------------- matching


def _shorten(text: str, limit: int = MAX_VALUE) -> str:
    """One line, at most `limit` characters: summaries must stay readable in a table."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _call_name_matches(rule: Pattern, resolved: str | None, last: str | None) -> bool:
    """The three ways a callee can match: last component, exact dotted name, prefix."""
    if last is not None and last in rule.call:
        return True
    if resolved is None:
        return False
    return resolved in rule.call_dotted or any(resolved.startswith(p) for p in rule.call_prefix)


def _arg_value(call: ast.Call, rule: ArgRule) -> ast.AST | None:
    """The argument `rule` looks at, or None when the call does not pass it."""
    for kw in call.keywords:
        if rule.keyword is not None and kw.arg == rule.keyword:
            return kw.value
    if rule.position is not None and len(call.args) > rule.position:
        if not any(isinstance(a, ast.Starred) for a in call.args[: rule.position + 1]):
            return call.args[rule.position]
    return None


def _arg_rule_holds(call: ast.Call, rule: ArgRule) -> bool:
    """Literal argument: must be in values; absent: default decides; dynamic: matches."""
    value = _arg_value(call, rule)
    if value is None:
        return rule.default is not None and rule.default in rule.values
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value in rule.values
    return True


class _Lines:
    """A file's lines, split as `ast` splits them, for slicing node text by position.

    Column offsets are UTF-8 byte offsets; each line is encoded once, when first needed."""

    _SPLIT = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")

    def __init__(self, source: str) -> None:
        self.lines = self._SPLIT.findall(source)
        self._encoded: dict[int, bytes] = {}

    def _bytes(self, index: int) -> bytes:
        if index not in self._encoded:
            self._encoded[index] = self.lines[index].encode("utf-8")
        return self._encoded[index]

    def segment(self, node: ast.AST) -> str | None:
        first, last = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        start, end = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
        if first is None or last is None or start is None or end is None or last > len(self.lines):
            return None
        first, last = first - 1, last - 1
        if first == last:
            return self._bytes(first)[start : min(end, start + 4 * MAX_SEGMENT)].decode("utf-8", "replace")
        parts = [self._bytes(first)[start : start + 4 * MAX_SEGMENT].decode("utf-8", "replace")]
        size = len(parts[0])
        for index in range(first + 1, last):
            if size >= MAX_SEGMENT:
                break
            parts.append(self.lines[index])
            size += len(parts[-1])
        if size < MAX_SEGMENT:
            parts.append(self._bytes(last)[:end].decode("utf-8", "replace"))
        return "".join(parts)[:MAX_SEGMENT]


class SurfaceVisitor(ast.NodeVisitor):
    """Walks one module, tracking the enclosing qualname, and records matching nodes."""

    def __init__(self, source: str, rel: str, module: str, tree: ast.AST, rules: Sequence[Pattern]) -> None:
        self.source = source
        self.lines = _Lines(source)
        self.rel = rel
        self.aliases = import_aliases(tree, module)
        self.call_rules = [r for r in rules if r.family == "call"]
        self.literal_rules = [r for r in rules if r.family == "literal"]
        self.def_rules = [r for r in rules if r.family == "def"]
        self.prefix = ""  # qualname prefix for definitions at this point
        self.function = "<module>"  # qualname of the code running at this point
        self.found: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    # -- scopes: decorators, defaults and bases run in the outer scope, bodies inside

    def _enter(self, qualname: str, prefix: str, body: Iterable[ast.AST]) -> None:
        saved = (self.prefix, self.function)
        self.prefix, self.function = prefix, qualname
        for node in body:
            self.visit(node)
        self.prefix, self.function = saved

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        qualname = f"{self.prefix}{node.name}"
        for rule in self.def_rules:
            if node.name in rule.defs:
                self._record(rule, node, defines=qualname, detail="")
        for outer in [*node.decorator_list, node.args, node.returns]:
            if outer is not None:
                self.visit(outer)
        self._enter(qualname, f"{qualname}.<locals>.", node.body)

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        qualname = f"{self.prefix}{node.name}"
        for outer in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(outer)
        self._enter(qualname, f"{qualname}.", node.body)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.args)
        qualname = f"{self.prefix}<lambda>"
        self._enter(qualname, f"{qualname}.<locals>.", [node.body])

    # -- what is recorded

    def visit_Expr(self, node: ast.Expr) -> None:
        """Bare string statements (docstrings, string comments) never reach a disk."""
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        written = dotted_name(node.func)
        resolved = resolve(written, self.aliases) if written else None
        if resolved is not None:
            last: str | None = resolved.rsplit(".", 1)[-1]
        elif isinstance(node.func, ast.Attribute):
            last = node.func.attr
        else:
            last = None
        for rule in self.call_rules:
            if self._call_matches(rule, node, resolved, last):
                callee = written or _shorten(self._segment(node.func))
                self._record(
                    rule, node, callee=callee, resolved=resolved or callee, detail=self._call_detail(rule, node)
                )
                break  # first matching rule wins (declared in the TOML header)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self._match_literal(node, node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        """An f-string is one literal: match its constant parts, then visit the holes."""
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        self._match_literal(node, text)
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                self.visit(part.value)

    # -- helpers

    def _call_matches(self, rule: Pattern, node: ast.Call, resolved: str | None, last: str | None) -> bool:
        if not _call_name_matches(rule, resolved, last):
            return False
        if rule.when_source_contains:
            text = self._segment(node).lower()
            if not any(s.lower() in text for s in rule.when_source_contains):
                return False
        return rule.when_arg is None or _arg_rule_holds(node, rule.when_arg)

    def _match_literal(self, node: ast.AST, text: str) -> None:
        lowered = text.lower()
        for rule in self.literal_rules:
            hits = [n for n in rule.literal_contains if n.lower() in lowered]
            if hits:
                self._record(
                    rule, node, literal=_shorten(self._segment(node), MAX_DETAIL), detail="contains " + ", ".join(hits)
                )

    def _call_detail(self, rule: Pattern, node: ast.Call) -> str:
        """Named keywords for rules that list them, else the shortened argument list."""
        if rule.keywords:
            given = {kw.arg: kw.value for kw in node.keywords if kw.arg is not None}
            parts = [f"{k}={_shorten(self._segment(given[k]))}" for k in rule.keywords if k in given]
            parts += [f"**{_shorten(self._segment(kw.value))}" for kw in node.keywords if kw.arg is None]
            text = ", ".join(parts) if parts else "none of " + ", ".join(rule.keywords)
        else:
            parts = [_shorten(self._segment(a)) for a in node.args]
            parts += [(f"{kw.arg}=" if kw.arg else "**") + _shorten(self._segment(kw.value)) for kw in node.keywords]
            text = ", ".join(parts)
        return _shorten(text, MAX_DETAIL)

    def _segment(self, node: ast.AST) -> str:
        """Source text of a node as written (falls back to `ast.unparse`), at most
        MAX_SEGMENT characters: `ast.get_source_segment` splits the whole file on every
        call, which made a file with thousands of matches quadratic."""
        return self.lines.segment(node) or _shorten(ast.unparse(node), MAX_SEGMENT)

    def _record(self, rule: Pattern, node: ast.AST, detail: str, **target: Any) -> None:
        line = node.lineno  # type: ignore[attr-defined]  # calls, constants and defs have one
        surface: dict[str, Any] = {
            "kind": rule.kind,
            "anchor": f"{self.rel}:{line}",
            "path": self.rel,
            "line": line,
            "function": self.function,
        }
        surface.update(target)
        surface["detail"] = detail
        surface["describe"] = rule.describe
        label = target.get("callee") or target.get("literal") or target.get("defines") or ""
        key = (self.rel, line, rule.kind, getattr(node, "col_offset", 0), label)
        self.found.append((key, surface))
