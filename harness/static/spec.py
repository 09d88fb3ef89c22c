"""The target's own persistence contract, read from its docs: normative clauses at their exact lines.

The request asks for a doc-first call chain: cite the spec before the code. This module finds
the sections of `specs/` and `docs/` that state the persistence contract (by heading and by
keywords such as "persistence", "wts.h5", "manifest" — never by remembered line numbers, which
differ between branches), and extracts each normative sentence (MUST, MUST NOT, SHALL, SHOULD,
MAY) with its `path:line` relative to the target root and an id derived from its section and
its text, so the same clause keeps its id when lines shift. How a document is cut into headings,
blocks and sentences is `doctext`'s part; which of them are clauses, and their ids, is this one's.

It reads text only (the target is never imported), walks the folders without following links,
and is linear in the size of what it reads, within fixed budgets; whatever it did not read is
listed in `skipped`. A target without such docs gets the built-in contract instead (`source`
says which, `missing` says why), and the report says so.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .doctext import Heading, blocks, plain, sentences, unmarked

DOC_FOLDERS = ("specs", "docs")  # specs first: they are normative, docs explain
DOC_SUFFIXES = (".md", ".markdown", ".rst")
MAX_FILES = 400
MAX_FILE_BYTES = 2 << 20
MAX_TOTAL_BYTES = 16 << 20
MAX_CLAUSES = 200
MAX_TEXT = 600  # characters of a clause kept for the report

# A section whose heading matches states (part of) the contract: all its normative sentences count.
SECTION_TERMS = re.compile(r"persist|archiv|wts\.h5|manifest|checkpoint|serializ|(?:model|inference) bundle", re.I)
# Elsewhere, a normative sentence counts only when it names the persistence surface itself.
CLAUSE_TERMS = re.compile(
    r"wts\.h5|manifest\.dill|\barchives?\b|params\.dill|custom_objects|load_inference_bundle|"
    r"ModelManager|\.ckpt\b|(?:model|inference) bundle|"
    r"(?:requir\w*|depend\w*)\s+(?:on\s+)?mlflow|experiment tracking",
    re.I,
)
# A sentence of a persistence section of the spec itself (`specs/`) with no RFC keyword is still
# part of the contract a port must meet: listed at this level when it is a sentence (it ends with a
# full stop) or a list item, full stop or not (`- Manifest: \`manifest.dill\` at the root`); a
# paragraph without one (a pseudo-heading, an example's lead-in) is not. docs/ explain: only
# keywords count there.
SPEC_FOLDER = "specs/"
DESCRIPTIVE = "descriptive"
# RFC 2119 keywords, upper case only (a lower-case "must" is prose); the longest forms first.
NORMATIVE = re.compile(r"\b(MUST NOT|SHALL NOT|SHOULD NOT|MUST|SHALL|SHOULD|MAY)\b")
STRENGTH = ("MUST NOT", "SHALL NOT", "MUST", "SHALL", "SHOULD NOT", "SHOULD", "MAY")

_NUMBERING = re.compile(r"^(?:§\s*)?(?:\d+[.)]?)+\s*|^[A-Z][.)]\s+")

# The contract in our own words, for a target whose docs do not state it (see reference notes).
BUILTIN_CLAUSES: tuple[tuple[str, str, str], ...] = (
    ("archive-name", "SHALL", "The model archive SHALL be named `wts.h5.zip` (callers pass the base name `wts.h5`)."),
    ("manifest", "SHALL", "The archive SHALL hold `manifest.dill` at its root, with at least 'models' and 'version'."),
    (
        "backend-tag",
        "MUST",
        "PyTorch archives MUST set `'backend': 'pytorch'` in the manifest; without a tag the archive is TensorFlow's.",
    ),
    ("two-models", "MUST", "The archive MUST hold the two models `autoencoder` and `diffraction_to_obj`."),
    ("params-restore", "SHALL", "Loading SHALL restore the global `params.cfg` from the archive's `params.dill`."),
    (
        "cross-backend",
        "MUST",
        "A loader that cannot read an archive's backend MUST raise an error naming that backend.",
    ),
    (
        "tracking-optional",
        "SHOULD NOT",
        "Persistence SHOULD NOT depend on experiment tracking: save and load work where MLflow is not installed.",
    ),
    (
        "torch-payload",
        "MUST",
        "PyTorch archives MUST carry Lightning `.ckpt` payloads and the hyperparameters to reload them "
        "without global state.",
    ),
)


@dataclass
class _Budget:
    files: int = 0
    bytes: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)


def read_contract(root: Path | str) -> dict[str, Any]:
    """The clauses of the target's persistence contract (plain data, for the run record's `spec`)."""
    root = Path(root)
    budget = _Budget()
    folders = [name for name in DOC_FOLDERS if (root / name).is_dir() and not (root / name).is_symlink()]
    clauses: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    for path in _doc_files(root, folders, budget):
        text = _read(path, root, budget)
        if text is None:
            continue
        rel = path.relative_to(root).as_posix()
        found, headings = extract(text, rel)
        sections += headings
        clauses += found
    if len(clauses) > MAX_CLAUSES:
        budget.skipped.append(
            {"path": "(all docs)", "reason": f"{len(clauses) - MAX_CLAUSES} clauses beyond the first {MAX_CLAUSES}"}
        )
        clauses = clauses[:MAX_CLAUSES]
    if all(c["level"] == DESCRIPTIVE for c in clauses):  # statements alone are no contract to check
        clauses = []
    _unique_ids(clauses)
    source = "docs" if clauses else "builtin"
    return {
        "source": source,
        "folders": folders,
        "files_read": budget.files,
        "bytes_read": budget.bytes,
        "sections": sections,
        "clauses": clauses if clauses else builtin_clauses(),
        "skipped": budget.skipped,
        "missing": _missing(folders, sections, clauses),
    }


def builtin_clauses() -> list[dict[str, Any]]:
    return [
        {
            "id": f"builtin/{key}",
            "level": level,
            "keywords": [level],
            "text": text,
            "path": None,
            "line": None,
            "end_line": None,
            "anchor": None,
            "section": "built-in persistence contract",
            "section_anchor": None,
            "in_contract_section": True,
        }
        for key, level, text in BUILTIN_CLAUSES
    ]


def _missing(
    folders: list[str], sections: list[dict[str, Any]], clauses: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Why the docs gave no clause (None when they did): no doc folder, no persistence section,
    or persistence sections without a normative sentence. The templates word it."""
    if clauses:
        return None
    if not folders:
        return {"reason": "no_folders", "wanted": [f"{d}/" for d in DOC_FOLDERS]}
    if not sections:
        return {"reason": "no_sections", "folders": [f"{d}/" for d in folders]}
    return {"reason": "no_clauses", "sections": [s["anchor"] for s in sections[:3]]}


# -- files ------------------------------------------------------------------------------


def _doc_files(root: Path, folders: list[str], budget: _Budget) -> Iterator[Path]:
    """Doc files in a fixed order (specs before docs, sorted paths), links never followed."""
    for folder in folders:
        for directory, subfolders, files in os.walk(root / folder, followlinks=False):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            for name in sorted(files):
                path = Path(directory) / name
                if not name.lower().endswith(DOC_SUFFIXES):
                    continue
                rel = path.relative_to(root).as_posix()
                if path.is_symlink():
                    budget.skipped.append({"path": rel, "reason": "symbolic link, not followed"})
                    continue
                if budget.files >= MAX_FILES:
                    budget.skipped.append({"path": rel, "reason": f"beyond the first {MAX_FILES} doc files"})
                    continue
                yield path


def _read(path: Path, root: Path, budget: _Budget) -> str | None:
    rel = path.relative_to(root).as_posix()
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO named x.md would block the read forever
            budget.skipped.append({"path": rel, "reason": "not a regular file (never opened)"})
            return None
        size = info.st_size
        if size > MAX_FILE_BYTES:
            budget.skipped.append(
                {"path": rel, "reason": f"{size} bytes, over the {MAX_FILE_BYTES}-byte limit per file"}
            )
            return None
        if budget.bytes + size > MAX_TOTAL_BYTES:
            budget.skipped.append({"path": rel, "reason": f"over the {MAX_TOTAL_BYTES}-byte budget for all docs"})
            return None
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        budget.skipped.append({"path": rel, "reason": f"unreadable ({error.strerror or error})"})
        return None
    if b"\0" in data:
        budget.skipped.append({"path": rel, "reason": "binary (NUL bytes)"})
        return None
    budget.files += 1
    budget.bytes += len(data)
    return data.decode("utf-8", errors="replace")


# -- one document -----------------------------------------------------------------------


def extract(text: str, rel: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(normative clauses, contract sections) of one document; `rel` is its path for anchors."""
    clauses: list[dict[str, Any]] = []
    sections: dict[int, dict[str, Any]] = {}
    for block in blocks(text.splitlines(), rel.lower().endswith(".rst"), SECTION_TERMS):
        for heading in block.headings:
            if heading.contract and heading.line not in sections:
                sections[heading.line] = _section(heading, rel)
        in_section = any(h.contract for h in block.headings)
        for start, end, sentence in sentences(block):
            keywords = _keywords(sentence)
            stated = sentence.rstrip().endswith(".") or block.kind == "item"  # a bullet states, full stop or not
            if not keywords and in_section and rel.startswith(SPEC_FOLDER) and stated:
                keywords = [DESCRIPTIVE]  # the spec's persistence section states it: listed, no RFC keyword
            if not keywords or not (in_section or CLAUSE_TERMS.search(sentence)):
                continue
            clause = _clause(sentence, keywords, rel, start, end, block.headings, in_section)
            clauses.append(clause)
            owner = block.headings[-1] if block.headings else None
            if owner is not None:
                sections.setdefault(owner.line, _section(owner, rel))["clauses"] += 1
    return clauses, [sections[line] for line in sorted(sections)]


def _section(heading: Heading, rel: str) -> dict[str, Any]:
    return {
        "path": rel,
        "line": heading.line,
        "anchor": f"{rel}:{heading.line}",
        "title": heading.title,
        "level": heading.level,
        "contract": heading.contract,
        "clauses": 0,
    }


# -- clauses ----------------------------------------------------------------------------


def _keywords(sentence: str) -> list[str]:
    found = {m.group(1) for m in NORMATIVE.finditer(sentence)}
    return [word for word in STRENGTH if word in found]


def _clause(
    sentence: str, keywords: list[str], rel: str, start: int, end: int, headings: tuple[Heading, ...], in_section: bool
) -> dict[str, Any]:
    owner = headings[-1] if headings else None
    section = owner.title if owner else Path(rel).stem
    text = sentence if len(sentence) <= MAX_TEXT else sentence[:MAX_TEXT].rstrip() + " …"
    digest = hashlib.sha1(_normal(sentence).encode("utf-8")).hexdigest()[:8]
    return {
        "id": f"{_slug(section)}/{keywords[0].lower().replace(' ', '-')}-{digest}",
        "level": keywords[0],
        "keywords": keywords,
        "text": text,
        "path": rel,
        "line": start,
        "end_line": end,
        "anchor": f"{rel}:{start}",
        "section": section,
        "section_anchor": f"{rel}:{owner.line}" if owner else None,
        "in_contract_section": in_section,
    }


def _unique_ids(clauses: list[dict[str, Any]]) -> None:
    """The same sentence twice in one section: the later ones get -2, -3 (document order)."""
    seen: dict[str, int] = {}
    for clause in clauses:
        count = seen.get(clause["id"], 0) + 1
        seen[clause["id"]] = count
        if count > 1:
            clause["id"] += f"-{count}"


def _slug(title: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", _NUMBERING.sub("", plain(title)).lower()).strip("-")
    return words[:48].rstrip("-") or "untitled"


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def anchor_holds(root: Path | str, clause: dict[str, Any]) -> bool:
    """Whether the lines a clause cites hold its text (markup and wrapping aside): for checks."""
    if not clause.get("path"):
        return False
    lines = (Path(root) / clause["path"]).read_text(encoding="utf-8", errors="replace").splitlines()
    if not 1 <= clause["line"] <= clause["end_line"] <= len(lines):
        return False
    cited = " ".join(unmarked(line) for line in lines[clause["line"] - 1 : clause["end_line"]])
    wanted = clause["text"].removesuffix(" …")
    return " ".join(wanted.split()) in " ".join(cited.split())
