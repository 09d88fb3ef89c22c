"""The PyTorch surface patterns: `tap_points/torch_persistence.toml`, read and validated.

Each `[[surface]]` table becomes a `Pattern` that `torchscan` applies to the AST of the
PyTorch package. Validation is strict (unknown keys are errors) and every error names the
file, the line and the fix, because a misspelt key would otherwise switch a rule off and
the scan would under-report without any sign. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..resources import data_dir, read_toml

DEFAULT_PATTERNS = data_dir("tap_points") / "torch_persistence.toml"
_LIST_KEYS = (
    "call",
    "call_dotted",
    "call_prefix",
    "keywords",
    "when_source_contains",
    "literal_contains",
    "def",
)
_ALLOWED_KEYS = frozenset(("kind", "describe", "when_arg") + _LIST_KEYS)
_ARG_KEYS = frozenset(("position", "keyword", "values", "default"))
_SCHEMA_HINT = "the schema is documented at the top of the file"
_Fail = Callable[[str, str], ValueError]  # (problem, fix) -> the error naming file, line and table


# --------------------------------------------------------------------------- patterns


@dataclass(frozen=True)
class ArgRule:
    """`when_arg`: a call matches only if one argument is (or may be) one of `values`."""

    position: int | None
    keyword: str | None
    values: tuple[str, ...]
    default: str | None


@dataclass(frozen=True)
class Pattern:
    """One `[[surface]]` table. Exactly one family is set: call-*, literal_contains or def."""

    kind: str
    describe: str
    call: tuple[str, ...] = ()
    call_dotted: tuple[str, ...] = ()
    call_prefix: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    when_source_contains: tuple[str, ...] = ()
    when_arg: ArgRule | None = None
    literal_contains: tuple[str, ...] = ()
    defs: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """Which syntax the rule looks at: 'call', 'literal' or 'def'."""
        if self.call or self.call_dotted or self.call_prefix:
            return "call"
        return "literal" if self.literal_contains else "def"


def load_patterns(path: Path | str = DEFAULT_PATTERNS) -> list[Pattern]:
    """Read and validate the rule file; every error names the file, the line and the fix.

    Validation is strict (unknown keys are errors) because a misspelt key would otherwise
    silently switch a rule off and the scan would under-report without any sign.
    """
    path = Path(path)
    text, data = read_toml(
        path,
        "pattern file",
        "Fix: pass the path of an existing TOML file.",
        f"Fix: correct the syntax at that line; {_SCHEMA_HINT}.",
    )
    tables = data.get("surface")
    if not isinstance(tables, list) or not tables:
        raise ValueError(
            f"{path}:1: no [[surface]] tables found. Fix: add at least one [[surface]] table; {_SCHEMA_HINT}."
        )
    header_lines = _surface_header_lines(text)
    return [_parse_table(table, i, path, header_lines) for i, table in enumerate(tables)]


def _surface_header_lines(text: str) -> list[int]:
    """Line of each `[[surface]]` header, so schema errors can point at a line too."""
    header = re.compile(r"^\s*\[\[\s*surface\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), 1) if header.match(line)]


def _parse_table(table: Any, index: int, path: Path, header_lines: Sequence[int]) -> Pattern:
    """Turn one TOML table into a Pattern, or raise a ValueError saying what to change."""
    line = header_lines[index] if index < len(header_lines) else 1
    where = f"{path}:{line}: [[surface]] #{index + 1}"

    def fail(problem: str, fix: str) -> ValueError:
        return ValueError(f"{where}: {problem}. Fix: {fix}; {_SCHEMA_HINT}.")

    if not isinstance(table, dict):
        raise fail("is not a table", "write it as a [[surface]] table")
    unknown = sorted(set(table) - _ALLOWED_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}", f"use only {', '.join(sorted(_ALLOWED_KEYS))}")
    for key in ("kind", "describe"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise fail(f"'{key}' is missing or empty", f'add {key} = "..."')
    lists: dict[str, tuple[str, ...]] = {}
    for key in _LIST_KEYS:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"'{key}' must be a list of non-empty strings", f'write {key} = ["..."]')
        lists[key] = tuple(value)
    _check_family(table, lists, fail)
    return Pattern(
        kind=table["kind"],
        describe=table["describe"],
        call=lists["call"],
        call_dotted=lists["call_dotted"],
        call_prefix=lists["call_prefix"],
        keywords=lists["keywords"],
        when_source_contains=lists["when_source_contains"],
        when_arg=_parse_arg_rule(table.get("when_arg"), fail),
        literal_contains=lists["literal_contains"],
        defs=lists["def"],
    )


def _check_family(table: dict[str, Any], lists: dict[str, tuple[str, ...]], fail: _Fail) -> None:
    """Exactly one matcher family per rule, and the call-only keys on call rules only."""
    families = [
        name
        for name, keys in (
            ("call", ("call", "call_dotted", "call_prefix")),
            ("literal_contains", ("literal_contains",)),
            ("def", ("def",)),
        )
        if any(lists[k] for k in keys)
    ]
    if len(families) != 1:
        raise fail(
            f"needs exactly one matcher family, found {families or 'none'}",
            "give call/call_dotted/call_prefix, or literal_contains, or def",
        )
    call_only = [k for k in ("keywords", "when_source_contains") if lists[k]]
    if families[0] != "call" and (call_only or "when_arg" in table):
        raise fail(
            f"{', '.join(call_only or ['when_arg'])} only applies to call rules",
            "remove it or turn the rule into a call rule",
        )


def _parse_arg_rule(raw: Any, fail: _Fail) -> ArgRule | None:
    """Validate the inline `when_arg` table (see the TOML header)."""
    if raw is None:
        return None
    example = 'when_arg = { position = 1, keyword = "mode", values = ["w"], default = "r" }'
    if not isinstance(raw, dict) or set(raw) - _ARG_KEYS:
        raise fail("'when_arg' must be a table with position/keyword/values/default", example)
    position, keyword, default = raw.get("position"), raw.get("keyword"), raw.get("default")
    values = raw.get("values")
    ok = (
        (position is None or (isinstance(position, int) and not isinstance(position, bool) and position >= 0))
        and (keyword is None or isinstance(keyword, str))
        and (default is None or isinstance(default, str))
        and (position is not None or keyword is not None)
        and isinstance(values, list)
        and values
        and all(isinstance(v, str) for v in values)
    )
    if not ok:
        raise fail("'when_arg' needs position >= 0 and/or keyword, and a list of string values", example)
    return ArgRule(position, keyword, tuple(values or ()), default)
