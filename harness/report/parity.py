"""`callchain parity A B`: two archives (or two traced runs) side by side, against the contract.

A and B are each an archive (``wts.h5.zip``, its base name ``wts.h5``, or the folder holding it)
or a traced run (a report folder, or its ``trace/run.json``): a run stands for the archive it wrote,
read again through the same sandboxed reader as ``callchain inspect`` (the description the run
recorded when the file is gone), and adds what only a run knows — the line that wrote each member
(the record's sinks) and what a fresh-process load restored into ``params.cfg``. The comparison
itself is :func:`harness.inspect.parity.compare`; the spec sentences come from ``--root`` or else
from the runs' own records. Exit 0: B meets every clause A meets; 1: it does not (the list);
2: either side is hostile, unreadable or not found.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HarnessError
from ..inspect.parity import compare, verdict
from ..inspect.sandbox import Limits, describe_archive
from ..printable import table_safe
from ..record.runjson import load as load_record
from ..static.speclink import Link, checked_root, linker, root_linker
from ..static.verdicts import _role, _writer

SECTIONS = (
    ("clauses", "Contract clauses (B against every clause A meets)"),
    ("members", "Members"),
    ("manifest", "manifest.dill"),
    ("params", "params.dill"),
    ("intensity_scale", "Where each keeps intensity_scale"),
    ("restored", "What a fresh load restored into params.cfg"),
)


@dataclass
class Side:
    """One side of a comparison: what was given, the archive's description, the run facts if any."""

    given: str
    description: dict[str, Any]
    record: dict[str, Any] | None = None
    facts: dict[str, Any] | None = None
    note: str = ""


@dataclass
class ParityResult:
    """The comparison of A and B: ``bool(result)`` is True when B meets every clause A meets."""

    exit_code: int
    summary: str
    rows: list[dict[str, Any]] = field(repr=False)
    a: Side = field(repr=False)
    b: Side = field(repr=False)

    def __bool__(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        broken = "".join(
            f"\n  {r['item']}: A {r['a']} | B {r['b']}" + (f" [{', '.join(r['spec'])}]" if r["spec"] else "")
            for r in self.rows
            if r["gate"]
        )
        return f"ParityResult(exit {self.exit_code}: {self.summary}){broken}"

    def breaks(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["gate"]]

    def markdown(self) -> str:
        return render_markdown(self)

    def as_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "summary": self.summary,
            "a": {"given": self.a.given, "archive": self.a.description.get("path"), "note": self.a.note},
            "b": {"given": self.b.given, "archive": self.b.description.get("path"), "note": self.b.note},
            "rows": self.rows,
        }


def _is_run(path: Path) -> bool:
    return (path.is_file() and path.name == "run.json") or (path / "trace" / "run.json").is_file()


def run_facts(record: dict[str, Any], members: list[str]) -> dict[str, Any]:
    """The line that wrote each archive member (its save phases' sinks) and what a fresh load restored."""
    writers = {name: _writer(record, name) for name in members + ["wts.h5.zip"]}
    fresh = _role(record, "fresh-load")
    restored: dict[str, Any] = {}
    for change in (record.get("config") or {}).get("changes") or []:
        if change.get("phase") in fresh and change.get("op") in ("added", "changed"):
            restored[change["key"]] = change.get("new")
    return {"writers": {k: v for k, v in writers.items() if v}, "restored": restored}


def read_side(given: str, limits: Limits) -> Side:
    """An archive or a run, described by the sandboxed reader; HarnessError when a run cannot be read."""
    path = Path(given).expanduser()
    if not _is_run(path):
        return Side(given, describe_archive(path, limits))
    record: dict[str, Any] = dict(load_record(str(path)))
    archive, note = record.get("archive"), ""
    if archive and os.path.isfile(archive):
        description = describe_archive(archive, limits)
    elif record.get("archive_description"):
        description, note = record["archive_description"], f"{archive} is gone: the description the run recorded"
    else:
        raise HarnessError(
            f"the run {given} wrote no archive", "pass a run whose save wrote a wts.h5.zip, or the archive"
        )
    members = [m["name"] for m in description.get("members") or []]
    return Side(given, description, record, run_facts(record, members), note)


def _link(root: str | None, a: Side, b: Side) -> Link | None:
    if root:
        return root_linker(checked_root(root))[0]
    for side in (a, b):
        spec = (side.record or {}).get("spec")
        if spec and spec.get("clauses"):
            return linker(spec["clauses"])
    return None


def parity(
    a: str, b: str, root: str | None = None, rel_tol: float = 1e-6, limits: Limits | None = None
) -> ParityResult:
    """Compare B with A (archives or runs); ``root``: the target whose spec the rows cite."""
    limits = limits or Limits()
    side_a, side_b = read_side(a, limits), read_side(b, limits)
    both_runs = side_a.facts is not None and side_b.facts is not None
    runs = (side_a.facts, side_b.facts) if side_a.facts or side_b.facts else None
    rows = compare(side_a.description, side_b.description, runs, _link(root, side_a, side_b), rel_tol)
    if not both_runs:
        rows = [r for r in rows if r["section"] != "restored"]
    code, summary = verdict(side_a.description, side_b.description, rows)
    return ParityResult(code, summary, rows, side_a, side_b)


# --- output -----------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = table_safe(text)  # the one escaping rule (printable.py): nothing an archive names breaks the row
    return text if len(text) <= 140 else text[:137] + "..."


def _table(rows: list[dict[str, Any]], runs: bool) -> list[str]:
    head = "| | item | A | B | clause | spec |" + (" written by (A) | written by (B) |" if runs else "")
    lines = [head, "|" + "---|" * (8 if runs else 6)]
    for r in rows:
        mark = "**✗**" if r["gate"] else "✓" if r["status"] in ("met", "same") else "·"
        cells = [mark, _cell(r["item"]), _cell(r["a"]), _cell(r["b"]), _cell(r["clause"] or ""), ", ".join(r["spec"])]
        cells += [_cell(r["writer_a"] or "—"), _cell(r["writer_b"] or "—")] if runs else []
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(result: ParityResult) -> str:
    runs = any(r["writer_a"] or r["writer_b"] for r in result.rows)
    out = [
        "# callchain parity",
        "",
        f"- **A**: `{_cell(result.a.given)}` — {_cell(result.a.description.get('backend'))}, {result.a.description.get('status')}"
        + (f" ({result.a.note})" if result.a.note else ""),
        f"- **B**: `{_cell(result.b.given)}` — {_cell(result.b.description.get('backend'))}, {result.b.description.get('status')}"
        + (f" ({result.b.note})" if result.b.note else ""),
        "",
        f"**Verdict (exit {result.exit_code}):** {_cell(result.summary)}",
    ]
    for key, title in SECTIONS:
        rows = [r for r in result.rows if r["section"] == key]
        if not rows:
            continue
        shown = [r for r in rows if key not in ("params", "manifest") or r["status"] != "same" or r["clause"]]
        out += ["", f"## {title}", ""] + _table(shown, runs)
        if len(shown) < len(rows):
            out.append(f"\n{len(rows) - len(shown)} more keys hold the same value on both sides.")
    out.append("")
    out.append(
        "✓ met or the same · **✗** a clause A meets and B breaks · `·` differs, or on one side only (not a clause)"
    )
    return "\n".join(out) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `callchain parity` (the command line in cli.py is its only entry point)."""
    parser.add_argument(
        "a", metavar="A", help="the reference: a wts.h5.zip (or wts.h5, or its folder), or a report folder / run.json"
    )
    parser.add_argument("b", metavar="B", help="the archive or run that must meet every clause A meets")
    parser.add_argument("--root", help="the target checkout whose spec the rows cite (default: the runs' own records)")
    parser.add_argument("--json", action="store_true", help="print the comparison as one JSON document")
    parser.add_argument(
        "--rel-tol", type=float, default=1e-6, help="relative tolerance for floats (default 1e-6: float32 precision)"
    )


def run(args: argparse.Namespace) -> int:
    """Compare, print, and return the exit code; raises HarnessError for input it cannot read."""
    tol = float(args.rel_tol)
    if not 0 <= tol < 1:
        raise HarnessError(f"--rel-tol {args.rel_tol} is not a tolerance", "pass a number in [0, 1), e.g. 1e-6")
    result = parity(args.a, args.b, root=args.root, rel_tol=tol)
    print(
        json.dumps(result.as_json(), indent=2, ensure_ascii=True) if args.json else result.markdown(),
        end="" if not args.json else "\n",
    )
    if result.exit_code == 2:
        import sys

        print(f"error: {result.summary}", file=sys.stderr)
    return result.exit_code
