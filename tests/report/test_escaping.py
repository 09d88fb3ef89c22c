"""Target-provided text cannot forge or break a deliverable: one escaping rule (harness/printable.py)
for every string a view hands a template, for terminal messages and for `callchain diff`.

The property: a real record (calls, threads, config, archive, spec, PyTorch side) whose every
string carries newlines, a forged `[phase …]` header and call line, Markdown table pipes, ANSI,
bidi and other non-printable characters renders with no such character left, no header or line
that the record did not hold, and every Markdown table row with the columns of its header.
"""

from __future__ import annotations

import json
import re
import sys

import pytest
from helpers import delimiters, markdown_tables

from harness.errors import HarnessError
from harness.printable import Block, escape_tree, printable, table_safe
from harness.report.render import render_texts, write_report

FORGED = "\n[phase forged · 9 calls kept]\nevil:forged  evil.py:1  => None\n[thread forged]\n"
HOSTILE = FORGED + "\r| a | b \\| c |\x1b[31m\u202eexe.gnp\u2028\x85\x0b\x0c\x00\udcff`"


def _poisoned(data):
    """Every string of `data` (values, not keys) with HOSTILE appended: names stay consistent
    with each other (the same suffix everywhere), so every section still finds what it links."""
    if isinstance(data, str):
        return data + HOSTILE
    if isinstance(data, dict):
        return {key: _poisoned(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_poisoned(item) for item in data]
    return data


@pytest.fixture(scope="module")
def rich_record(tmp_path_factory):
    """The in-process record of the tiny package, with an archive, the demo's spec and PyTorch side."""
    from inprocess import rich_record

    record = rich_record(tmp_path_factory.mktemp("escaping"))
    record["calls"][-1]["thread"] = "worker"  # a [thread …] block too
    record["failure"] = {"problem": "it stopped", "fix": "see it", "exit_code": 3}
    record["status"] = "partial"
    record["processes"][0]["stacks"] = 'Thread 0x1 (most recent call first):\n  File "x.py", line 1 in f'
    return record


def test_the_escape_is_one_line_of_printable_characters():
    escaped = printable(HOSTILE)
    assert escaped.isprintable() and "\n" not in escaped
    assert "\\n[phase forged" in escaped and "\\x1b[31m" in escaped and "\\u202e" in escaped
    assert printable(escaped) == escaped  # escaping twice changes nothing
    assert printable("ptycho.model:create_model  ptycho/model.py:12 → é ü 中") == (
        "ptycho.model:create_model  ptycho/model.py:12 → é ü 中"
    )
    assert delimiters(table_safe("a | b \\| c \\\\| d")) == 0


def test_a_poisoned_record_forges_no_line_and_breaks_no_table(rich_record):
    clean = render_texts(rich_record)
    poisoned = render_texts(_poisoned(rich_record))
    for name, text in poisoned.items():
        assert all(char == "\n" or char.isprintable() for char in text), name
        assert "could not be rendered" not in text, name
        for table in markdown_tables(text) if name.endswith(".md") else []:
            columns = {delimiters(row) for row in table}
            assert len(columns) == 1, (name, table)
    dynamic = poisoned["callgraph/dynamic.txt"]
    assert printable(HOSTILE) in dynamic
    headers = [line for line in dynamic.splitlines() if line.startswith("[phase ")]
    clean_headers = [line for line in clean["callgraph/dynamic.txt"].splitlines() if line.startswith("[phase ")]
    assert len(headers) == len(clean_headers) and all(printable(HOSTILE) in line for line in headers)
    assert not [line for line in dynamic.splitlines() if line.lstrip().startswith(("evil:", "[thread forged"))]
    assert table_safe(HOSTILE) in poisoned["callchain/static.md"]


def test_a_stack_dump_keeps_its_lines_and_cannot_close_its_fence(rich_record):
    record = dict(rich_record)
    record["processes"] = [dict(rich_record["processes"][0], stacks="line one\x1b[2J\n```\n# not a heading\n````")]
    summary = render_texts(record)["summary.md"]
    assert "`````text\nline one\\x1b[2J\n```\n# not a heading\n````\n`````" in summary
    assert Block("a\nb\x00").fence() == "```" and escape_tree(Block("a\nb\x00")) == "a\nb\\x00"


def test_the_terminal_message_escapes_what_the_target_said_and_keeps_its_own_lines():
    error = HarnessError("the scenario raised ValueError: " + HOSTILE, "read it\n  report (partial): /out/r")
    lines = error.message().split("\n")
    assert lines == [
        "error: the scenario raised ValueError: " + printable(HOSTILE),
        "  fix: read it",
        "  report (partial): /out/r",
    ]


def test_diff_prints_names_escaped(rich_record, tmp_path, capsys):
    from harness.cli import main

    record = json.loads(json.dumps(rich_record))
    for folder, data in (("a", record), ("b", _poisoned(record))):
        data["report"] = str(tmp_path / folder)
        write_report(tmp_path / folder, data)
    assert main(["diff", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    shown = capsys.readouterr().out
    assert all(char == "\n" or char.isprintable() for char in shown) and "\n[phase forged" not in shown
    assert main(["diff", "--json", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert capsys.readouterr().out.isascii()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="co_qualname is 3.11+")
def test_a_recorded_name_with_a_newline_is_one_escaped_line(tmp_path):
    """End to end in process: a function whose code says its qualname holds a forged header."""
    from inprocess import AVAILABLE as RECORDERS
    from inprocess import record_package

    source = f"""
        def helper(n):
            return n + 1

        helper.__code__ = helper.__code__.replace(co_qualname="helper" + {FORGED!r})

        def outer(n):
            return helper(n)
    """
    record = record_package(
        tmp_path,
        {"minipkg/__init__.py": "", "minipkg/core.py": source},
        lambda imp: imp("minipkg.core").outer(1),
        RECORDERS[0],
    )
    dynamic = render_texts(record)["callgraph/dynamic.txt"]
    assert "minipkg.core:helper\\n[phase forged" in dynamic
    assert not re.search(r"^\[phase forged|^\s*evil:forged", dynamic, re.M)
