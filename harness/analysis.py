"""Static reading of the target beside the run: entry-point candidates, docstrings, mentions.

The dynamic trace says what ran; a reader also needs to know what else could have been the
entry point, what each function says it does, and where a value such as `intensity_scale`
is touched. All of it comes from `ast` and plain text, never from importing the target,
and is stored in the run record so the report can be re-rendered without the target.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from .anchors import walk_defs

STOPWORDS = set("""a an and are as at be by does for from how in into is it its must of on or
the their them then this to which with what when where who why stay stays should can could
compliant produce consume contrast outputs replicate touchpoints workflow""".split())
DOC_FOLDERS = ("docs", "specs")
TOP_N = 8
DOC_SLOTS = 2  # doc sections always shown among the candidates (doc-first)
CLAUSE_BONUS = 4  # per normative clause a doc section states (up to 4)


def terms(text: str) -> Set[str]:
    """Lower-case word stems of a text, splitting snake_case and CamelCase."""
    words = re.findall(r"[A-Za-z][a-z0-9]*|[A-Z]+(?![a-z])|\d+", text.replace("_", " "))
    return {w.lower() for w in words if len(w) > 1 and w.lower() not in STOPWORDS}


def _functions(root: Path, package: str) -> Iterable[Dict[str, Any]]:
    """Functions and methods of the package (not nested helpers), with their first doc line."""
    for path in sorted((root / package).rglob("*.py")):
        tree = _parse(path)
        if tree is None:
            continue
        rel = path.relative_to(root).as_posix()
        module = rel[:-3].replace("/", ".").removesuffix(".__init__")
        for node, qualname in walk_defs(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "<" not in qualname:
                yield {"function": f"{module}:{qualname}", "name": node.name, "anchor": f"{rel}:{node.lineno}",
                       "doc": (ast.get_docstring(node) or "").strip().split("\n")[0], "kind": "function"}


def _headings(root: Path) -> Iterable[Dict[str, Any]]:
    paths = [root / "README.md"] + [p for folder in DOC_FOLDERS for p in sorted((root / folder).rglob("*.md"))]
    for path in paths:
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        fence = ""
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            opened = re.match(r" {0,3}(`{3,}|~{3,})", line)
            if opened and (not fence or opened.group(1).startswith(fence)):
                fence = "" if fence else opened.group(1)  # a '# comment' inside a code block is no heading
            elif line.startswith("#") and not fence:
                title = line.lstrip("#").strip()
                yield {"function": f"{rel} § {title}", "name": title, "anchor": f"{rel}:{number}", "doc": "", "kind": "doc"}


def rank_entry_points(root: Path, package: str, question: str, hints: List[str], exercised: Set[str],
                      sections: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """Top candidates by overlap of the question's and hints' terms with names and docs.

    Doc-first: a doc section that states contract clauses (`sections`, from harness.spec) gains
    CLAUSE_BONUS per clause, and the best doc sections always get DOC_SLOTS places in the list."""
    wanted = terms(question)
    hinted = {h.lower() for h in hints} | {t for h in hints for t in terms(h)}
    clauses = {s["anchor"]: s["clauses"] for s in sections or [] if s.get("clauses")}
    ranked = []
    for item in list(_functions(root, package)) + list(_headings(root)):
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
            ranked.append(dict(item, score=score, matched=matched, exercised=item["function"] in exercised, clauses=stated))
    order = lambda c: (-c["score"], not c["exercised"], c["kind"] != "function", c["anchor"])  # noqa: E731
    ranked.sort(key=order)
    top = ranked[:TOP_N]
    docs_shown = sum(item["kind"] == "doc" for item in top)
    top += [item for item in ranked[TOP_N:] if item["kind"] == "doc"][:max(0, DOC_SLOTS - docs_shown)]
    top.sort(key=order)
    for position, item in enumerate(top):
        item["confidence"] = "high" if item["exercised"] or item["clauses"] else ("medium" if position < TOP_N // 2 else "low")
    return top


def function_docs(root: Path, calls: List[Dict[str, Any]]) -> Dict[str, str]:
    """First docstring line of every kept function, keyed by `module:qualname`."""
    wanted: Dict[str, Tuple[str, int]] = {c["function"]: (c["path"], c["line"]) for c in calls if c["path"] and not c["path"].startswith("/")}
    docs: Dict[str, str] = {}
    trees: Dict[str, Optional[ast.AST]] = {}
    for function, (path, line) in sorted(wanted.items()):
        tree = trees.setdefault(path, _parse(root / path))
        node = _def_at(tree, line) if tree else None
        if node is not None:
            docs[function] = (ast.get_docstring(node) or "").strip().split("\n")[0]
    return docs


def _parse(path: Path) -> Optional[ast.AST]:
    try:
        return ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError):
        return None


def _def_at(tree: ast.AST, line: int) -> Optional[ast.AST]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.lineno == line:
            return node
    return None


def mentions(root: Path, calls: List[Dict[str, Any]], word: str) -> List[Dict[str, Any]]:
    """Lines inside kept functions that mention `word`: the static side of a value's chain."""
    found: List[Dict[str, Any]] = []
    spans: Dict[Tuple[str, int], str] = {(c["path"], c["line"]): c["function"] for c in calls
                                         if c["path"] and not c["path"].startswith("/") and c["qualname"] != "<module>"}
    trees: Dict[str, Optional[ast.AST]] = {}
    for (path, line), function in sorted(spans.items()):
        tree = trees.setdefault(path, _parse(root / path))
        node = _def_at(tree, line) if tree else None
        if node is None or isinstance(node, ast.ClassDef):
            continue
        source = (root / path).read_text(encoding="utf-8", errors="replace").splitlines()
        docstring = _docstring_lines(node)
        for number in range(node.lineno, (node.end_lineno or node.lineno) + 1):
            text = source[number - 1].strip()
            if word in text and not text.startswith("#") and number not in docstring:
                found.append({"anchor": f"{path}:{number}", "function": function, "text": text[:140]})
    unique = {item["anchor"]: item for item in found}
    return [unique[key] for key in sorted(unique, key=lambda a: (a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])))]


def _docstring_lines(node: ast.AST) -> Set[int]:
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        return set(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return set()
