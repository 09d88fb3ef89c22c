"""Target-provided text made safe to print: the one escaping rule of every deliverable and message.

A qualified name, a path, a module or thread name, a tap value or an exception message comes
from the traced code, which may put anything in it. Printed as it is, a newline forges a
`[phase …]` header or a call line in dynamic.txt, a `|` splits a Markdown table row, an ANSI
sequence drives the reader's terminal and a bidi override reorders what they read. Every
character that is not printable (`str.isprintable`: controls, newlines and other line or
paragraph separators, bidi and other format characters, lone surrogates) is written as its
Python escape (`\\n`, `\\x1b`, `\\u202e`, `\\udcff`); printable text is left as it is, so
escaping twice changes nothing.

Used by the report renderers (every view value, before a template lays it out), the terminal
messages of `callchain trace` and `callchain diff`, and `callchain inspect`'s text output.
Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PIPE = re.compile(r"(\\*)\|")


def printable(text: Any) -> str:
    """`text` as one line of printable characters: each non-printable one as its Python escape."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def table_safe(text: Any) -> str:
    """`printable`, and every `|` escaped (`\\|`, GFM's way, inside code spans too) so the text
    stays in one Markdown table cell; backslashes just before a `|` are doubled, so that a
    name's own `\\|` cannot turn the escape into an escaped backslash and a real delimiter."""
    return _PIPE.sub(lambda found: found.group(1) * 2 + "\\|", printable(text))


class Block(str):
    """Text whose line breaks are layout (a stack dump shown in a fenced block): each line is
    escaped on its own and the breaks are kept (see `escape_tree`)."""

    def fence(self) -> str:
        """A code fence no line of the text can close: longer than its longest backtick run."""
        longest, run = 0, 0
        for char in self:
            run = run + 1 if char == "`" else 0
            longest = max(longest, run)
        return "`" * max(3, longest + 1)


def escape_tree(data: Any, escape=printable) -> Any:
    """A copy of plain data (dicts, lists, tuples) with every string in it, keys included,
    passed through `escape`; a `Block` is escaped line by line with `printable` (it is shown
    fenced, never in a table). Numbers, booleans and None stay as they are."""
    if isinstance(data, Block):
        return Block("\n".join(printable(line) for line in data.split("\n")))
    if isinstance(data, str):
        return escape(data)
    if isinstance(data, Mapping):
        return {escape_tree(key, escape): escape_tree(value, escape) for key, value in data.items()}
    if isinstance(data, list):
        return [escape_tree(item, escape) for item in data]
    if isinstance(data, tuple):
        return tuple(escape_tree(item, escape) for item in data)
    return data
