"""The index at the top of static.md: each `## ` section, its GitHub anchor and its length.

Line counts exist only once the file is rendered, so the index is rendered second (layout in
`templates/_index.md.j2`) and put before the first section.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2


def slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def sections(text: str) -> list[dict[str, Any]]:
    """Every `## ` section of a Markdown text (outside code fences) with its line count."""
    lines = text.splitlines()
    starts, fenced = [], False
    for number, line in enumerate(lines):
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            starts.append(number)
    found = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        title = lines[start][3:].strip()
        found.append({"title": title, "slug": slug(title), "lines": end - start, "start": start})
    return found


def with_index(text: str, env: jinja2.Environment) -> str:
    """The text with its index inserted before its first section (unchanged without sections)."""
    found = sections(text)
    if not found:
        return text
    lines = text.splitlines(keepends=True)
    index = env.get_template("_index.md.j2").render(sections=found)
    start = found[0]["start"]
    return "".join(lines[:start]) + index + "".join(lines[start:])
