"""`callchain diff A B`: what changed in the call chain between two runs.

Two runs are compared through their run records (`trace/run.json`) by the stable names the
record already uses: functions as `module:qualname`, edges as caller → callee, taps by key,
params.cfg changes by (phase, key, op, old, new), library calls by (caller function, callee)
(plus the caller's line with `--lines`; counts are not compared), archive members by name, and
the archive recipe's facts per member (summary.md's first screen; writer and reader lines with `--lines`). Line numbers are
never part of an identity unless `--lines` asks for it, so editing a comment above a
function does not turn it into a different function; it shows up once, as a move.
Timestamps are ignored altogether. Exit 0: the same; 1: differences; 2: unreadable input.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..printable import escape_tree
from ..record.runjson import load as load_record
from .queries.recipe import recipe_rows

NOT_HIT = "not hit"
CONFIG_FIELDS = ("phase", "key", "op", "old", "new")


# -- reading ----------------------------------------------------------------------------


# -- comparing --------------------------------------------------------------------------


def _anchors(record: Mapping[str, Any]) -> dict[str, list[str]]:
    """Function → its distinct def-line anchors, in first-call order (None: generated code)."""
    found: dict[str, list[str]] = {}
    for call in record["calls"]:
        anchors = found.setdefault(call["function"], [])
        if call["anchor"] is not None and call["anchor"] not in anchors:
            anchors.append(call["anchor"])
    return found


def _edge_keys(record: Mapping[str, Any], lines: bool) -> list[tuple[str, ...]]:
    fields = ("caller", "callee", "call_site", "callee_anchor") if lines else ("caller", "callee")
    return sorted({tuple(edge.get(f) or "" for f in fields) for edge in record["edges"]})


def _edge_rows(keys: Sequence[tuple[str, ...]], lines: bool) -> list[dict[str, str | None]]:
    fields = ("caller", "callee", "call_site", "callee_anchor") if lines else ("caller", "callee")
    return [{f: (value or None) for f, value in zip(fields, key)} for key in keys]


def _observations(record: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """Tap key → {status: first value (or error) observed with that status}."""
    seen: dict[str, dict[str, str | None]] = {}
    for tap in record.get("taps_declared") or []:
        seen.setdefault(tap["key"], {})
    for hit in record.get("tap_hits") or []:
        by_status = seen.setdefault(hit["key"], {})
        by_status.setdefault(hit["status"], hit.get("value") if hit["status"] == "hit" else hit.get("error"))
    return {key: (value or {NOT_HIT: None}) for key, value in seen.items()}


def _tap_owner(record: Mapping[str, Any], key: str) -> tuple[str | None, str | None]:
    """The function a tap lives in, and that function's anchor in this run."""
    function = next((t["function"] for t in record.get("taps_declared") or [] if t["key"] == key), None)
    if function is None:
        by_index = {call["i"]: call for call in record["calls"]}
        call = next((by_index.get(h["call"]) for h in record.get("tap_hits") or [] if h["key"] == key), None)
        function = call["function"] if call else None
    anchors = _anchors(record).get(function or "", [])
    return function, (anchors[0] if anchors else None)


def _config_rows(record: Mapping[str, Any]) -> list[tuple[str, ...]]:
    changes = (record.get("config") or {}).get("changes") or []
    return sorted({tuple("" if c.get(f) is None else str(c.get(f)) for f in CONFIG_FIELDS) for c in changes})


def _library_keys(record: Mapping[str, Any], lines: bool) -> list[tuple[str, ...]]:
    """(caller function, callee[, caller line]) of every library call; a record made before
    library calls were recorded has none."""
    return sorted(
        {
            (row["function"], row["callee"]) + ((row["at"] or "",) if lines else ())
            for row in record.get("library_calls") or []
        }
    )


def _library_rows(keys: Sequence[tuple[str, ...]]) -> list[dict[str, str | None]]:
    return [dict(zip(("function", "callee", "at"), key)) for key in keys]


def _members(record: Mapping[str, Any]) -> dict[str, int] | None:
    description = record.get("archive_description")
    if not description:
        return None
    return {m["name"]: m.get("size") for m in description.get("members") or []}


def _side(record: Mapping[str, Any]) -> dict[str, Any]:
    target = record.get("target") or {}
    return {
        "report": record.get("report"),
        "target": target.get("root"),
        "commit": target.get("commit"),
        "status": record.get("status"),
        "calls": (record.get("events") or {}).get("kept", len(record["calls"])),  # a folded call counts its repeats
    }


def _functions(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    anchors_a, anchors_b = _anchors(a), _anchors(b)
    only_a = [
        {"function": f, "anchor": (anchors_a[f] or [""])[0] or None} for f in sorted(set(anchors_a) - set(anchors_b))
    ]
    only_b = [
        {"function": f, "anchor": (anchors_b[f] or [""])[0] or None} for f in sorted(set(anchors_b) - set(anchors_a))
    ]
    moved = [
        {"function": f, "a": anchors_a[f], "b": anchors_b[f]}
        for f in sorted(set(anchors_a) & set(anchors_b))
        if sorted(anchors_a[f]) != sorted(anchors_b[f])
    ]
    return {"only_a": only_a, "only_b": only_b}, moved


def _taps(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    seen_a, seen_b = _observations(a), _observations(b)
    rows = []
    for key in sorted(set(seen_a) | set(seen_b)):
        first, second = seen_a.get(key, {"absent": None}), seen_b.get(key, {"absent": None})
        if first != second:
            function, anchor_a = _tap_owner(a, key)
            function_b, anchor_b = _tap_owner(b, key)
            rows.append(
                {
                    "key": key,
                    "function": function or function_b,
                    "anchor_a": anchor_a,
                    "anchor_b": anchor_b,
                    "a": first,
                    "b": second,
                }
            )
    return rows


def _archive(a: Mapping[str, Any], b: Mapping[str, Any], sizes: bool) -> dict[str, Any]:
    members_a, members_b = _members(a), _members(b)
    names_a, names_b = set(members_a or {}), set(members_b or {})
    size_rows = []
    if sizes and members_a is not None and members_b is not None:
        size_rows = [
            {"name": n, "a": members_a[n], "b": members_b[n]}
            for n in sorted(names_a & names_b)
            if members_a[n] != members_b[n]
        ]
    return {
        "present": {"a": members_a is not None, "b": members_b is not None},
        "only_a": sorted(names_a - names_b),
        "only_b": sorted(names_b - names_a),
        "sizes": size_rows,
    }


def _fact(row: Mapping[str, Any], field: str, lines: bool) -> str:
    """One recipe fact as text; without `lines`, the anchors in it are left out."""
    if field == "clauses":
        value = "; ".join(f"{c['anchor'] if lines else ''} {c['level']}: {c['verdict']}".strip() for c in row[field])
    else:
        value = ", ".join(row[field]) if isinstance(row[field], list) else str(row[field] or "—")
    return value if lines else re.sub(r" at `[^`]+`", "", value)


def _recipe(a: Mapping[str, Any], b: Mapping[str, Any], lines: bool) -> list[dict[str, str]]:
    """The archive recipe's facts that differ per member present in both (summary.md's first
    screen): format, contents, what load restores, clause verdicts; writer and readers with `lines`."""
    fields = ("format", "holds", "restores", "clauses") + (("writer", "readers") if lines else ())
    rows_a = {r["member"]: r for r in recipe_rows(dict(a)) if not r["archive"]}
    rows_b = {r["member"]: r for r in recipe_rows(dict(b)) if not r["archive"]}
    return [
        {"member": name, "fact": field, "a": _fact(rows_a[name], field, lines), "b": _fact(rows_b[name], field, lines)}
        for name in sorted(set(rows_a) & set(rows_b))
        for field in fields
        if _fact(rows_a[name], field, lines) != _fact(rows_b[name], field, lines)
    ]


def diff_records(
    a: Mapping[str, Any], b: Mapping[str, Any], lines: bool = False, sizes: bool = False
) -> dict[str, Any]:
    """Every difference between two run records, as plain data (see the module docstring)."""
    functions, moved = _functions(a, b)
    edges_a, edges_b = set(_edge_keys(a, lines)), set(_edge_keys(b, lines))
    config_a, config_b = set(_config_rows(a)), set(_config_rows(b))
    result: dict[str, Any] = {
        "a": _side(a),
        "b": _side(b),
        "options": {"lines": lines, "sizes": sizes},
        "functions": functions,
        "moved": moved,
        "edges": {
            "removed": _edge_rows(sorted(edges_a - edges_b), lines),
            "added": _edge_rows(sorted(edges_b - edges_a), lines),
        },
        "taps": _taps(a, b),
        "config": {
            "only_a": [dict(zip(CONFIG_FIELDS, row)) for row in sorted(config_a - config_b)],
            "only_b": [dict(zip(CONFIG_FIELDS, row)) for row in sorted(config_b - config_a)],
        },
        "library": {
            "removed": _library_rows(sorted(set(_library_keys(a, lines)) - set(_library_keys(b, lines)))),
            "added": _library_rows(sorted(set(_library_keys(b, lines)) - set(_library_keys(a, lines)))),
        },
        "archive": _archive(a, b, sizes),
        "recipe": _recipe(a, b, lines),
    }
    result["counts"] = _counts(result)
    result["same"] = not any(result["counts"].values())
    return result


def _counts(result: dict[str, Any]) -> dict[str, int]:
    archive = result["archive"]
    return {
        "functions_only_a": len(result["functions"]["only_a"]),
        "functions_only_b": len(result["functions"]["only_b"]),
        "moved": len(result["moved"]),
        "edges_removed": len(result["edges"]["removed"]),
        "edges_added": len(result["edges"]["added"]),
        "taps": len(result["taps"]),
        "config_only_a": len(result["config"]["only_a"]),
        "config_only_b": len(result["config"]["only_b"]),
        "library_removed": len(result["library"]["removed"]),
        "library_added": len(result["library"]["added"]),
        "archive": len(archive["only_a"])
        + len(archive["only_b"])
        + len(archive["sizes"])
        + int(archive["present"]["a"] != archive["present"]["b"]),
        "recipe": len(result["recipe"]),
    }


# -- rendering --------------------------------------------------------------------------


def _observed(observation: dict[str, str | None]) -> str:
    if list(observation) == ["hit"]:
        return str(observation["hit"])
    return "; ".join(k if v is None else f"{k}: {v}" for k, v in observation.items())


def _edge_text(edge: dict[str, str | None]) -> str:
    text = f"{edge['caller']} → {edge['callee']}"
    if "call_site" in edge:
        text += f"  (call site {edge['call_site'] or '—'}, def {edge['callee_anchor'] or 'no source'})"
    return text


def _config_text(row: dict[str, str]) -> str:
    return f"[{row['phase']}] {row['key']} {row['op']}: {row['old'] or '—'} → {row['new'] or '—'}"


def _library_text(row: dict[str, str | None]) -> str:
    return f"{row['function']} → {row['callee']}" + (f"  (at {row['at'] or '—'})" if "at" in row else "")


def _section(title: str, items: list[str]) -> list[str]:
    return [f"{title} ({len(items)}):"] + [f"  {item}" for item in items] + [""] if items else []


def _headline(counts: dict[str, int]) -> str:
    labels = [
        ("functions_only_a", "function only in A", "functions only in A"),
        ("functions_only_b", "function only in B", "functions only in B"),
        ("moved", "function moved", "functions moved"),
        ("edges_removed", "edge removed", "edges removed"),
        ("edges_added", "edge added", "edges added"),
        ("taps", "tap value differs", "tap values differ"),
        ("config_only_a", "params.cfg change only in A", "params.cfg changes only in A"),
        ("config_only_b", "params.cfg change only in B", "params.cfg changes only in B"),
        ("library_removed", "library call removed", "library calls removed"),
        ("library_added", "library call added", "library calls added"),
        ("archive", "archive difference", "archive differences"),
        ("recipe", "archive recipe fact differs", "archive recipe facts differ"),
    ]
    return "the call chains differ: " + ", ".join(
        f"{counts[k]} {one if counts[k] == 1 else many}" for k, one, many in labels if counts[k]
    )


def _no_differences(options: dict[str, bool]) -> str:
    """The line of two runs that match, naming what was left out of the comparison."""
    ignored = [
        name
        for name, on in (
            ("line numbers", not options["lines"]),
            ("archive sizes", not options["sizes"]),
        )
        if on
    ]
    return "no differences in the call chain" + (f" ({' and '.join(ignored)} not compared)" if ignored else "")


def _tap_items(rows: list[dict[str, Any]]) -> list[str]:
    """Each differing tap with where it lives, then what A and B observed."""
    taps = []
    for row in rows:
        where = f"{row['function']} {row['anchor_b'] or row['anchor_a'] or ''}".strip()
        taps.append(f"{row['key']}  ({where})\n    A: {_observed(row['a'])}\n    B: {_observed(row['b'])}")
    return taps


def _archive_items(archive: dict[str, Any]) -> list[str]:
    """Which run produced an archive at all, then the members and sizes that differ."""
    presence = [
        f"archive produced only by {side.upper()}"
        for side in ("a", "b")
        if archive["present"][side] and not archive["present"]["b" if side == "a" else "a"]
    ]
    return (
        presence
        + [f"member only in A: {n}" for n in archive["only_a"]]
        + [f"member only in B: {n}" for n in archive["only_b"]]
        + [f"size of {s['name']}: {s['a']} → {s['b']} bytes" for s in archive["sizes"]]
    )


def render_text(result: dict[str, Any]) -> str:
    """The readable report: headline first, then one section per kind of difference."""
    out = [
        f"A: {result['a']['report']} ({result['a']['status']}, {result['a']['calls']} calls)",
        f"B: {result['b']['report']} ({result['b']['status']}, {result['b']['calls']} calls)",
        "",
    ]
    if result["same"]:
        out.append(_no_differences(result["options"]))
        return "\n".join(out) + "\n"
    out += [_headline(result["counts"]), ""]
    out += _section(
        "functions only in A", [f"{f['function']}  {f['anchor'] or 'no source'}" for f in result["functions"]["only_a"]]
    )
    out += _section(
        "functions only in B", [f"{f['function']}  {f['anchor'] or 'no source'}" for f in result["functions"]["only_b"]]
    )
    out += _section(
        "moved",
        [
            f"{m['function']}  {', '.join(m['a']) or 'no source'} → {', '.join(m['b']) or 'no source'}"
            for m in result["moved"]
        ],
    )
    out += _section("edges removed (in A, not in B)", [_edge_text(e) for e in result["edges"]["removed"]])
    out += _section("edges added (in B, not in A)", [_edge_text(e) for e in result["edges"]["added"]])
    out += _section("tap values that differ", _tap_items(result["taps"]))
    out += _section("params.cfg changes only in A", [_config_text(r) for r in result["config"]["only_a"]])
    out += _section("params.cfg changes only in B", [_config_text(r) for r in result["config"]["only_b"]])
    out += _section("library calls removed (in A, not in B)", [_library_text(r) for r in result["library"]["removed"]])
    out += _section("library calls added (in B, not in A)", [_library_text(r) for r in result["library"]["added"]])
    out += _section("archive", _archive_items(result["archive"]))
    out += _section(
        "archive recipe facts that differ",
        [f"{r['member']} {r['fact']}\n    A: {r['a']}\n    B: {r['b']}" for r in result["recipe"]],
    )
    return "\n".join(out).rstrip("\n") + "\n"


# -- command line -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `callchain diff` (the command line in cli.py is its only entry point)."""
    parser.add_argument("a", metavar="A", help="a report folder (…/<plan phase>/) or its trace/run.json")
    parser.add_argument("b", metavar="B", help="the report folder (or run.json) to compare it with")
    parser.add_argument(
        "--json", action="store_true", help="print the differences as one JSON document (stable key order)"
    )
    parser.add_argument("--lines", action="store_true", help="also compare edges by call-site and def line numbers")
    parser.add_argument("--sizes", action="store_true", help="also compare archive member sizes")


def run(args: argparse.Namespace) -> int:
    """Compare, print, and return the exit code; raises HarnessError for unreadable input."""
    result = diff_records(load_record(args.a), load_record(args.b), lines=args.lines, sizes=args.sizes)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=True))  # names escaped, as inspect --json
    else:
        print(render_text(escape_tree(result)), end="")  # the records' names may hold any character
    return 0 if result["same"] else 1
