"""Source queries: the text of a line of the target, and the file name a writing line names.

Read from the target root the record names (reading only; a missing file gives None), for
the tables that quote the line they cite and for the PyTorch surfaces, whose writing line
names its file through a variable assigned a few lines above.
"""

from __future__ import annotations

import re

# A file name as a string literal: 'params.dill', "model.pth", f"{name}.ckpt".
_FILE_LITERAL = re.compile(
    r"""['"][^'"\s]*?([\w\-{}]+\.(?:dill|pkl|pickle|pth|pt|ckpt|keras|h5|json|yaml|yml|zip))['"]"""
)
_NAME = re.compile(r"[A-Za-z_]\w*")
# A name bound on a line: `name =` (not `==`), or `as name` (with, except, import).
_BINDS = re.compile(r"^\s*([A-Za-z_]\w*)\s*=(?!=)|\bas\s+([A-Za-z_]\w*)")
_LOOKBACK = 8  # lines above a writing call searched for the file name it writes


def _lines(root: str, path: str) -> tuple[str, ...] | None:
    try:
        with open(f"{root}/{path}", encoding="utf-8", errors="replace") as handle:
            return tuple(handle.read().splitlines())
    except (OSError, ValueError):
        return None


def line_text(root: str | None, at: str | None, limit: int = 120) -> str | None:
    """The source text of a `path:line` under the target root (None when unreadable)."""
    if not root or not at:
        return None
    path, _, line = at.rpartition(":")
    lines = _lines(root, path) if line.isdigit() else None
    if not lines or not 1 <= int(line) <= len(lines):
        return None
    return lines[int(line) - 1].strip().replace("`", "'")[:limit] or None


def file_named(root: str | None, path: str, line: int) -> tuple[str, int] | None:
    """The file name a writing line names, followed through the names it uses: a file-name
    literal on the line itself, or on a line above (same function) that binds one of those
    names (`p = join(d, 'params.dill')`, `with open(p, 'wb') as f:` then `dump(x, f)`)."""
    lines = _lines(root, path) if root else None
    if not lines or not 1 <= line <= len(lines):
        return None
    names = set(_NAME.findall(_code(lines[line - 1])))
    for number in range(line, max(0, line - _LOOKBACK), -1):
        text = _code(lines[number - 1])
        if number != line and text.lstrip().startswith(("def ", "async def ", "class ")):
            return None
        bound = {m for m in _BINDS.findall(text) for m in m if m}
        if number != line and not bound & names:
            continue
        found = _FILE_LITERAL.findall(lines[number - 1])
        if found:
            return found[-1], number
        names |= set(_NAME.findall(text))
    return None


def _code(text: str) -> str:
    """A line without its string literals and comment (the names it uses)."""
    return re.sub(r"""(['"]).*?\1""", "''", text).split("#", 1)[0]
