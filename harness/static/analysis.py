"""Static reading of the target beside the run: entry-point candidates, docstrings, mentions.

The dynamic trace says what ran; a reader also needs to know what else could have been the
entry point, what each function says it does, and where a value such as `intensity_scale`
is touched. All of it comes from `ast` and plain text, never from importing the target,
and is stored in the run record so the report can be re-rendered without the target.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..trace.anchors import walk_defs
from .bounded import Budget, files_under

STOPWORDS = set(
    """a an and are as at be by does for from how in into is it its must of on or
the their them then this to which with what when where who why stay stays should can could
compliant produce consume contrast outputs replicate touchpoints workflow""".split()
)
DOC_FOLDERS = ("docs", "specs")
TOP_N = 8
DOC_SLOTS = 2  # doc sections always shown among the candidates (doc-first)
CLAUSE_BONUS = 4  # per normative clause a doc section states (up to 4)


def terms(text: str) -> set[str]:
    """Lower-case word stems of a text, splitting snake_case and CamelCase."""
    words = re.findall(r"[A-Za-z][a-z0-9]*|[A-Z]+(?![a-z])|\d+", text.replace("_", " "))
    return {w.lower() for w in words if len(w) > 1 and w.lower() not in STOPWORDS}


def _functions(root: Path, package: str, budget: Budget) -> Iterable[dict[str, Any]]:
    """Functions and methods of the package (not nested helpers), with their first doc line."""
    for path in files_under(root / package, ".py", budget, root, "entry-point ranking"):
        rel = path.relative_to(root).as_posix()
        tree = _parse(root, rel, budget, "entry-point ranking")
        if tree is None:
            continue
        module = rel[:-3].replace("/", ".").removesuffix(".__init__")
        for node, qualname in walk_defs(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "<" not in qualname:
                yield {
                    "function": f"{module}:{qualname}",
                    "name": node.name,
                    "anchor": f"{rel}:{node.lineno}",
                    "doc": (ast.get_docstring(node) or "").strip().split("\n")[0],
                    "kind": "function",
                }


def _headings(root: Path, budget: Budget) -> Iterable[dict[str, Any]]:
    paths = [root / "README.md"] + [
        p for folder in DOC_FOLDERS for p in files_under(root / folder, ".md", budget, root, "docs ranking")
    ]
    for path in paths:
        if not path.exists():
            continue
        rel = path.relative_to(root).as_posix()
        fence = ""
        for number, line in enumerate((budget.read_text(path, rel, "docs ranking") or "").splitlines(), 1):
            opened = re.match(r" {0,3}(`{3,}|~{3,})", line)
            if opened and (not fence or opened.group(1).startswith(fence)):
                fence = "" if fence else opened.group(1)  # a '# comment' inside a code block is no heading
            elif line.startswith("#") and not fence:
                title = line.lstrip("#").strip()
                yield {
                    "function": f"{rel} § {title}",
                    "name": title,
                    "anchor": f"{rel}:{number}",
                    "doc": "",
                    "kind": "doc",
                }


def rank_entry_points(
    root: Path,
    package: str,
    question: str,
    hints: list[str],
    exercised: set[str],
    sections: list[dict[str, Any]] | None = None,
    budget: Budget | None = None,
) -> list[dict[str, Any]]:
    """Top candidates by overlap of the question's and hints' terms with names and docs.

    Doc-first: a doc section that states contract clauses (`sections`, from harness.static.spec) gains
    CLAUSE_BONUS per clause, and the best doc sections always get DOC_SLOTS places in the list."""
    budget = budget or Budget()
    wanted = terms(question)
    hinted = {h.lower() for h in hints} | {t for h in hints for t in terms(h)}
    clauses = {s["anchor"]: s["clauses"] for s in sections or [] if s.get("clauses")}
    ranked = []
    for item in list(_functions(root, package, budget)) + list(_headings(root, budget)):
        if item["kind"] == "function" and item["name"].startswith("_"):
            continue
        name_terms = terms(item["name"])
        score = 3 * len(name_terms & wanted) + len(terms(item["doc"]) & wanted) + 4 * len(name_terms & hinted)
        score += 6 if item["name"].lower() in hinted else 0
        stated = clauses.get(item["anchor"], 0) if item["kind"] == "doc" else 0
        score += CLAUSE_BONUS * min(stated, 4)
        if score:
            matched = sorted((name_terms | terms(item["doc"])) & (wanted | hinted))
            matched += [f"{stated} spec clause{'s' if stated > 1 else ''}"] if stated else []
            ranked.append(
                dict(item, score=score, matched=matched, exercised=item["function"] in exercised, clauses=stated)
            )
    order = lambda c: (-c["score"], not c["exercised"], c["kind"] != "function", c["anchor"])  # noqa: E731
    ranked.sort(key=order)
    top = ranked[:TOP_N]
    docs_shown = sum(item["kind"] == "doc" for item in top)
    top += [item for item in ranked[TOP_N:] if item["kind"] == "doc"][: max(0, DOC_SLOTS - docs_shown)]
    top.sort(key=order)
    for position, item in enumerate(top):
        item["confidence"] = (
            "high" if item["exercised"] or item["clauses"] else ("medium" if position < TOP_N // 2 else "low")
        )
    return top


def function_docs(root: Path, calls: Sequence[Mapping[str, Any]], budget: Budget | None = None) -> dict[str, str]:
    """First docstring line of every kept function, keyed by `module:qualname`."""
    budget = budget or Budget()
    wanted: dict[str, tuple[str, int]] = {c["function"]: (c["path"], c["line"]) for c in calls if _local(c["path"])}
    docs: dict[str, str] = {}
    files = _Files(root, budget, "docstrings")
    for function, (path, line) in sorted(wanted.items()):
        node = files.defs(path).get(line)
        if node is not None:
            docs[function] = (ast.get_docstring(node) or "").strip().split("\n")[0]
    return docs


def _local(path: str | None) -> bool:
    """A path relative to the root (kept calls outside it carry absolute paths)."""
    return bool(path) and not str(path).startswith(("/", "<"))


def _parse(root: Path, rel: str, budget: Budget, what: str) -> ast.AST | None:
    text = budget.read_text(root / rel, rel, what)
    if text is None:
        return None
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


_Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


class _Files:
    """Each source file read and parsed once per pass, its definitions indexed by `def` line."""

    def __init__(self, root: Path, budget: Budget, what: str) -> None:
        self.root, self.budget, self.what = root, budget, what
        self._defs: dict[str, dict[int, _Def]] = {}
        self._lines: dict[str, list[str]] = {}

    def defs(self, rel: str) -> dict[int, _Def]:
        if rel not in self._defs:
            tree = _parse(self.root, rel, self.budget, self.what)
            found: dict[int, _Def] = {}
            for node in ast.walk(tree) if tree is not None else ():
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    found.setdefault(node.lineno, node)
            self._defs[rel] = found
        return self._defs[rel]

    def lines(self, rel: str) -> list[str]:
        if rel not in self._lines:
            self._lines[rel] = (self.budget.read_text(self.root / rel, rel, self.what) or "").splitlines()
        return self._lines[rel]


def mentions(
    root: Path, calls: Sequence[Mapping[str, Any]], word: str, budget: Budget | None = None
) -> list[dict[str, Any]]:
    """Lines inside kept functions that mention `word`: the static side of a value's chain."""
    budget = budget or Budget()
    found: list[dict[str, Any]] = []
    spans: dict[tuple[str, int], str] = {
        (c["path"], c["line"]): c["function"] for c in calls if _local(c["path"]) and c["qualname"] != "<module>"
    }
    files = _Files(root, budget, "mentions")
    for (path, line), function in sorted(spans.items()):
        node = files.defs(path).get(line)
        if node is None or isinstance(node, ast.ClassDef):
            continue
        source = files.lines(path)
        docstring = _docstring_lines(node)
        for number in range(node.lineno, min(node.end_lineno or node.lineno, len(source)) + 1):
            text = source[number - 1].strip()
            if word in text and not text.startswith("#") and number not in docstring:
                found.append({"anchor": f"{path}:{number}", "function": function, "text": text[:140]})
    unique = {item["anchor"]: item for item in found}
    return [unique[key] for key in sorted(unique, key=lambda a: (a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])))]


def _docstring_lines(node: ast.AST) -> set[int]:
    body = getattr(node, "body", [])
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return set()
