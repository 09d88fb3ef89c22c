"""Checks of summary.md's first screen, shared by the demo tests and the real-target tests.

Each reads the rendered text as a reader would (the Markdown, nothing else), then compares
what it found with the run record and with the target's source at the cited lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from harness.report.queries.calls import role

ANCHOR = re.compile(r"`([\w./\-]+\.(?:py|md|rst|txt)):(\d+)`")
FIRST_SCREEN_LINES = 60


def first_screen(summary: str) -> str:
    """The text before the first horizontal rule: what a reader sees first."""
    return summary.split("\n---\n", 1)[0]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def recipe_table(summary: str) -> list[dict[str, str]]:
    """The recipe's rows as header → cell, read from summary.md alone."""
    screen = first_screen(summary)
    lines = screen[screen.index("## The archive recipe") :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Member |"))
    header = _cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, _cells(line))))
    return rows


def anchors(cell: str) -> list[str]:
    return [f"{path}:{line}" for path, line in ANCHOR.findall(cell)]


def member_name(cell: str) -> str:
    return re.match(r"`([^`]+)`", cell).group(1)


def facts_from_summary(summary: str) -> dict[str, dict[str, object]]:
    """member → written at, read back at, restores (anchors), clauses (anchor, verdict)."""
    found = {}
    for row in recipe_table(summary):
        clauses = re.findall(
            r"`([^`]+:\d+)` (?:MUST NOT|MUST|SHALL NOT|SHALL|SHOULD NOT|SHOULD|MAY|descriptive): ([^;]+)",
            row["Spec clause: verdict"],
        )
        found[member_name(row["Member"])] = {
            "writer": (anchors(row["Written at"]) or [None])[0],
            "readers": anchors(row["Read back at"]),
            "restores": anchors(row["Load restores"]),
            "clauses": sorted((a, v.strip()) for a, v in clauses),
        }
    return found


def facts_from_record(record: dict) -> dict[str, dict[str, object]]:
    """The same facts, from run.json alone (sinks, config changes, spec evidence)."""
    description = record["archive_description"]
    display = description["display_path"]
    archive = display.rpartition("/")[2]
    saves, loads = role(record, "save"), role(record, "load")
    names = [archive] + [m["name"] for m in description["members"]]

    def lines(ops, phases, name):
        out = []
        for s in record["sinks"]:
            if s["op"] in ops and s["phase"] in phases and s["path"].endswith("/" + name) and s["by"]:
                at = s["by"].split(" ")[0].rstrip(",")
                if at not in out:
                    out.append(at)
        return out

    found = {}
    for name in names:
        evidence = lambda c: [e.get("anchor") or "" for e in c["evidence"] if e["source"] == "archive"]  # noqa: E731
        clauses = [
            (c["anchor"], c["verdict"])
            for c in record["spec"]["clauses"]
            if any(a == display if name == archive else a.endswith("› " + name) for a in evidence(c))
        ]
        readers = lines(("read",), loads, name)
        if name == archive and not readers:
            readers = lines(("write",), loads, names[1])
        restored = sorted(
            {
                c["at"]
                for c in record["config"]["changes"]
                if name.endswith("params.dill") and c["phase"] in loads and c.get("at")
            }
        )
        found[name] = {
            "writer": (lines(("write",), saves, name) or [None])[0],
            "readers": readers,
            "restores": restored,
            "clauses": sorted(clauses),
        }
    return found


def enclosing_function(root: Path, path: str, line: int) -> str | None:
    """The source of the innermost function holding a line (None: module level)."""
    source = (root / path).read_text()
    best = None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= line <= node.end_lineno:
            if best is None or node.lineno > best.lineno:
                best = node
    return ast.get_source_segment(source, best) if best else None


def is_def_line(root: Path, path: str, line: int) -> bool:
    """Whether a line is where a function or class is defined (its `def`/`class` line)."""
    text = (root / path).read_text().splitlines()[line - 1].lstrip()
    return text.startswith(("def ", "async def ", "class "))


def check_recipe_anchors(summary: str, record: dict, root: Path) -> int:
    """Every writer/reader anchor of the recipe resolves to a line of a function that names
    the member's file, and is not a def line; every clause anchor holds the clause's text.
    Returns how many anchors were checked."""
    checked = 0
    texts = {c["anchor"]: c["text"] for c in record["spec"]["clauses"] if c.get("anchor")}
    for row in recipe_table(summary):
        base = member_name(row["Member"]).rpartition("/")[2]
        wanted = ".zip" if base.endswith(".zip") else base
        for anchor in anchors(row["Written at"]) + anchors(row["Read back at"]):
            path, _, line = anchor.rpartition(":")
            assert not is_def_line(root, path, int(line)), f"{anchor} is a def line, cited as the line that did it"
            body = enclosing_function(root, path, int(line))
            assert body and wanted in body, f"{anchor}: its function does not name {wanted}"
            checked += 1
        for anchor in anchors(row["Spec clause: verdict"]):
            path, _, line = anchor.rpartition(":")
            cited = (root / path).read_text().splitlines()[int(line) - 1]
            words = re.sub(r"[`*]", "", texts[anchor]).split()[:4]
            assert " ".join(words) in re.sub(r"[`*]", "", " ".join(cited.split())), (anchor, words)
            checked += 1
    return checked


# Sentences naming an anchor's kind: "def `a`", "(def `a`)" → a def line; "at `a`" in the
# params.cfg changes → the line that made the change, never a def line.
DEF_SENTENCE = re.compile(r"\bdef `([\w./\-]+\.py):(\d+)`")
AT_CHANGE = re.compile(r"\(by `[^`]+` at `([\w./\-]+\.py):(\d+)`\)")


def check_anchor_kinds(texts: dict[str, str], root: Path) -> int:
    """Each sentence that says what kind of line an anchor is, against the line itself."""
    checked = 0
    for name, text in texts.items():
        for path, line in DEF_SENTENCE.findall(text):
            if (root / path).is_file():
                assert is_def_line(root, path, int(line)), f"{name}: def `{path}:{line}` is not a def line"
                checked += 1
        for path, line in AT_CHANGE.findall(text):
            assert not is_def_line(root, path, int(line)), f"{name}: at `{path}:{line}` is a def line"
            checked += 1
    return checked


def shim_rows(summary: str) -> list[dict[str, str]]:
    part = summary[summary.index("## What a PyTorch shim must replace") :]
    part = part[: part.index("\n## ", 5)] if "\n## " in part[5:] else part
    lines = part.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("| Archive member |")), None)
    if start is None:
        return []
    header = _cells(lines[start])
    return [dict(zip(header, _cells(line))) for line in lines[start + 2 :] if line.startswith("|")]
