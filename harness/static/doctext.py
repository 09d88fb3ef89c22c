"""The structure of one Markdown or reStructuredText document: headings, blocks, sentences.

`spec` decides which sentences of the target's docs are contract clauses; this module only
reads the text the way a reader sees it, so that decision works on sentences with their exact
source lines: ATX and setext (or rst underline) headings nest into a stack, paragraphs, list
items and table rows become blocks (fenced code is left out), and a block's wrapped lines are
cut into sentences, never inside a `code span` or after an abbreviation. Text only, linear in
its length, regular expressions without backtracking.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_ATX = re.compile(r"^ {0,3}(#{1,6})(?=[ \t]|$)")  # the title is cut with str methods: no backtracking
_UNDERLINE = re.compile(r"^ {0,3}([=\-~^\"'`*+#:.])\1*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_SENTENCE_END = re.compile(r"[.!?][\"')\]*_]*\s+")
_ABBREVIATIONS = frozenset("e.g i.e etc vs cf al approx resp fig eq sec no ca incl viz".split())


@dataclass
class Heading:
    level: int
    title: str
    line: int
    contract: bool  # the caller's terms name this section (see `blocks`)


@dataclass
class Block:
    """Consecutive source lines read as one paragraph, list item or table row."""

    headings: tuple[Heading, ...]
    kind: str  # paragraph, item or row
    lines: list[tuple[int, str]] = field(default_factory=list)


def blocks(lines: list[str], rst: bool, contract_terms: re.Pattern[str]) -> list[Block]:
    """Paragraphs, list items and table rows with their source lines; code blocks are left out.

    A heading whose plain title `contract_terms` finds is marked `contract`."""
    found: list[Block] = []
    stack: list[Heading] = []
    levels: dict[str, int] = {}
    current: Block | None = None
    fence: str | None = None

    def close() -> None:
        nonlocal current
        if current is not None and current.lines:
            found.append(current)
        current = None

    for number, raw in enumerate(lines, 1):
        if fence is not None:
            if raw.strip().startswith(fence) and set(raw.strip()) == {fence[0]}:
                fence = None
            continue
        opened = _FENCE.match(raw)
        if opened:
            close()
            fence = opened.group(1)
            continue
        heading = _as_heading(raw, number, current, rst, levels, contract_terms)
        if heading is not None:
            if heading.line == number:
                close()
            current = None  # an underline: the one-line paragraph above was the title
            while stack and stack[-1].level >= heading.level:
                stack.pop()
            stack.append(heading)
            continue
        text = _QUOTE.sub("", raw)
        if _is_break(text, rst):
            close()
            continue
        item = _ITEM.match(text)
        row = text.lstrip().startswith("|")
        if item or row or current is None:
            close()
            current = Block(tuple(stack), "item" if item else "row" if row else "paragraph")
            text = text[item.end() :] if item else text.replace("|", " ") if row else text
        current.lines.append((number, " ".join(text.split())))
        if row:
            close()
    close()
    return found


def _is_break(text: str, rst: bool) -> bool:
    """A line that ends the block before it and starts none: blank, a rule, an rst directive."""
    return bool(
        not text.strip()
        or _UNDERLINE.match(text)
        or (rst and text.strip().startswith(".."))
        or (_TABLE_RULE.match(text) and "|" in text)
    )


def _as_heading(
    raw: str, number: int, block: Block | None, rst: bool, levels: dict[str, int], terms: re.Pattern[str]
) -> Heading | None:
    """An ATX heading on this line, or this line underlining a one-line paragraph (setext / rst)."""
    if not rst:
        atx = _ATX.match(raw)
        if atx:
            title = raw[atx.end() :].strip()
            closing = title.rstrip("#")
            title = closing.rstrip() if not closing or closing[-1] in " \t" else title  # `## Title ##`
            return _heading(len(atx.group(1)), title, number, terms)
    underline = _UNDERLINE.match(raw)
    if (
        underline
        and block is not None
        and block.kind == "paragraph"
        and len(block.lines) == 1
        and len(raw.strip()) >= 2
    ):
        char = underline.group(1)
        if not rst and char not in "=-":
            return None
        level = (1 if char == "=" else 2) if not rst else levels.setdefault(char, len(levels) + 1)
        title_line, title = block.lines[0]
        return _heading(level, title, title_line, terms)
    return None


def _heading(level: int, title: str, line: int, terms: re.Pattern[str]) -> Heading:
    title = plain(title)
    return Heading(level, title, line, bool(terms.search(title)))


def sentences(block: Block) -> Iterator[tuple[int, int, str]]:
    """(first line, last line, text) of each sentence of a block, wrapped lines joined."""
    starts: list[int] = []
    parts: list[str] = []
    offset = 0
    for _, text in block.lines:
        starts.append(offset)
        parts.append(text)
        offset += len(text) + 1
    joined = " ".join(parts)
    spans = [(m.start(), m.end()) for m in _CODE_SPAN.finditer(joined)]
    span_starts = [s for s, _ in spans]
    begin = 0
    for match in _SENTENCE_END.finditer(joined):
        cut = match.end()
        if not _is_boundary(joined, match.start(), cut, spans, span_starts):
            continue
        yield from _one(block, starts, joined, begin, match.start() + 1)
        begin = cut
    yield from _one(block, starts, joined, begin, len(joined))


def _is_boundary(text: str, stop: int, cut: int, spans: list[tuple[int, int]], span_starts: list[int]) -> bool:
    at = bisect.bisect_right(span_starts, stop) - 1
    if at >= 0 and spans[at][0] <= stop < spans[at][1]:
        return False  # a dot inside `wts.h5.zip`
    if cut < len(text) and text[cut].islower():
        return False
    word = re.search(r"([\w.]+)$", text[max(0, stop - 12) : stop])
    if text[stop] == "." and word and (word.group(1).lower().rstrip(".") in _ABBREVIATIONS or len(word.group(1)) == 1):
        return False
    return True


def _one(block: Block, starts: list[int], joined: str, begin: int, end: int) -> Iterator[tuple[int, int, str]]:
    while begin < end and joined[begin] == " ":
        begin += 1
    sentence = joined[begin:end].strip()
    if not sentence:
        return
    first = block.lines[bisect.bisect_right(starts, begin) - 1][0]
    last = block.lines[bisect.bisect_right(starts, max(begin, end - 1)) - 1][0]
    yield first, last, sentence


def plain(text: str) -> str:
    """Heading text without markup: `code`, **bold**, links."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return " ".join(text.replace("`", "").replace("*", "").split())


def unmarked(line: str) -> str:
    """One source line without its list marker, quote marks and table bars: what a cited
    clause's lines say, for comparing them with its text."""
    return _QUOTE.sub("", _ITEM.sub("", line, count=1)).replace("|", " ").strip()
