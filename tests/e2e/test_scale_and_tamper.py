"""A report proportional to what it shows, and a recorder stream a target cannot silently garble.

A target making hundreds of thousands of tiny calls gets a report of a bounded size whose
dynamic.txt still counts them; a target that replaces what the recorder writes with, silences
the live stream, or appends lines to its own events file is named for what it did.
"""

from __future__ import annotations

import gzip
import textwrap
from pathlib import Path

import pytest
from helpers import hostile_target
from tracing import trace

pytestmark = pytest.mark.slow

LOOP = {
    "loop/__init__.py": """
        def tick(n):
            return None


        def spin(count):
            for n in range(count):
                tick(n)
    """,
}

SCENARIO = '''
"""Many tiny calls in a loop."""


def run(ctx):
    import loop

    loop.spin({count})


PHASES = [("loop", run)]
'''


def size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_300000_tiny_calls_give_a_bounded_report_that_still_counts_them(tmp_path):
    root = tmp_path / "target"
    for name, text in LOOP.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    scenario = tmp_path / "loop_scenario.py"
    scenario.write_text(SCENARIO.format(count=300_000))
    run = trace(root, tmp_path / "out", "--scenario", str(scenario), "--package", "loop", timeout=900).ok()
    dynamic = run.text("callgraph/dynamic.txt")
    assert "loop:tick  loop/__init__.py:1  <- loop/__init__.py:7  => None  ×300000" in dynamic
    assert "[phase loop · 300002 calls kept, 3 lines after folding]" in dynamic
    assert run.record["events"]["kept"] == 300_002 and len(run.record["calls"]) == 3
    assert (run.report / "trace" / "run.json").stat().st_size < 200_000
    assert (run.report / "trace" / "trace.json").stat().st_size < 100_000
    assert size(run.report) < 16 << 20, size(run.report)  # the raw stream alone is ~75 MB
    shipped = run.report / "trace" / "events-cycle.jsonl.gz"
    with gzip.open(shipped, "rt") as handle:
        assert sum(1 for line in handle if '"e":"call"' in line) > 100_000
    summary = run.text("summary.md")
    assert "Process 'cycle' kept 300002 calls, too many to store one by one" in summary
    assert "is shipped gzip-compressed as `trace/events-cycle.jsonl.gz`" in summary


def tampered(tmp_path: Path, build: str):
    root = hostile_target(tmp_path / "target", build, imports="import gc, json")
    return trace(root, tmp_path / "out", "--no-fresh-load")


def test_replacing_json_dumps_and_the_emit_of_the_class_garbles_nothing(tmp_path):
    run = tampered(
        tmp_path,
        """
        from harness.trace.eventstream import EventStream
        json.dumps = lambda *args, **kwargs: "garbage"
        EventStream.emit = lambda self, *args, **kwargs: None
        """,
    ).ok()
    functions = [call["function"] for call in run.record["calls"]]
    assert "ptycho.model_manager:ModelManager.load_multiple_models" in functions


def test_silencing_the_live_stream_is_named_as_interference_not_os_exit(tmp_path):
    run = tampered(
        tmp_path,
        """
        from harness.trace.eventstream import EventStream
        for found in gc.get_objects():
            if isinstance(found, EventStream):
                found.emit = lambda *args, **kwargs: None
        """,
    )
    run.fails(3, "the event stream of the traced process 'cycle' was interfered with")
    assert "os._exit" not in run.stderr.splitlines()[0]
    assert "its event stream has no end marker: the stream was interfered with" in run.text("summary.md")


def test_lines_the_target_appends_to_its_events_file_are_dropped_and_said(tmp_path):
    run = tampered(
        tmp_path,
        """
        from harness.trace.eventstream import EventStream
        for found in gc.get_objects():
            if isinstance(found, EventStream):
                with open(found.path, "a") as handle:
                    handle.write('{"e":"call","i":999,"p":null,"mod":"ptycho.fake","q":"forged","path":null,'
                                 '"line":null,"cl":null,"th":"main","tn":0,"ph":"build","t":0.1}\\n')
        """,
    ).ok()
    assert "ptycho.fake:forged" not in [call["function"] for call in run.record["calls"]]
    assert "forged" not in (run.report / "trace" / "events-cycle.jsonl").read_text()
    assert "1 lines the recorder did not write" in run.text("summary.md")
