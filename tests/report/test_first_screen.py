"""summary.md's first screen on the demo: the recipe a D3.B designer reads, checked against
run.json and against the source at every cited line; the shim table; anchor wording.

Rendered from the session's demo run record (one traced run shared with the other tests).
"""

from __future__ import annotations

import copy

import pytest
from firstscreen_checks import (
    FIRST_SCREEN_LINES,
    check_anchor_kinds,
    check_recipe_anchors,
    facts_from_record,
    facts_from_summary,
    first_screen,
    recipe_table,
    shim_rows,
)

from harness.report.queries.recipe import recipe_rows
from harness.report.render import render_texts

pytestmark = pytest.mark.slow  # the demo run record comes from a traced subprocess


@pytest.fixture(scope="module")
def texts(demo_run):
    return render_texts(demo_run.record)


def _root(record):
    from pathlib import Path

    return Path(record["target"]["root"])


def test_the_first_screen_is_short_and_holds_one_recipe_row_per_member(demo_run, texts):
    summary = texts["summary.md"]
    screen = first_screen(summary)
    assert len(screen.splitlines()) <= FIRST_SCREEN_LINES
    assert (
        screen.index("## The archive recipe") < screen.index("### What surprises") < screen.index("### Open questions")
    )
    members = [m["name"] for m in demo_run.record["archive_description"]["members"]]
    table = recipe_table(summary)
    assert [r["Member"].split("`")[1] for r in table] == ["wts.h5.zip"] + members


def test_a_reader_of_summary_md_alone_gets_the_facts_of_run_json(demo_run, texts):
    """Members, written where, read where, restored how, which clauses: the same from both."""
    mine, theirs = facts_from_summary(texts["summary.md"]), facts_from_record(demo_run.record)
    assert set(mine) == set(theirs)
    for member, fact in mine.items():
        assert fact["writer"] == theirs[member]["writer"], member
        assert fact["readers"] == theirs[member]["readers"], member
        assert fact["clauses"] == theirs[member]["clauses"], member
        assert set(fact["restores"]) <= set(theirs[member]["restores"]), member
    assert mine["manifest.dill"]["readers"]  # the demo's load opens every member it reads
    assert any(f["restores"] for f in mine.values())  # params.dill: the line that set the keys


def test_every_recipe_anchor_resolves_to_the_line_that_did_it(demo_run, texts):
    assert check_recipe_anchors(texts["summary.md"], demo_run.record, _root(demo_run.record)) > 20


def test_sentences_naming_an_anchor_kind_match_the_anchor(demo_run, texts):
    """ "def `a`" cites a def line, "(by f at `a`)" the line that made the change, in every file."""
    assert check_anchor_kinds(texts, _root(demo_run.record)) > 5
    assert "the first kept call that wrote the key, with its `def` line" not in texts["summary.md"]


def test_the_shim_table_lists_only_calls_that_write_or_read_a_member(demo_run, texts):
    rows = shim_rows(texts["summary.md"])
    assert rows and all(r["Archive member"] not in ("", "—") for r in rows)
    callees = {r["Callee"].strip("`") for r in rows}
    assert {"dill._dill:dump", "dill._dill:load", "zipfile:ZipFile.__init__"} <= callees
    assert not any(c.startswith(("posixpath", "os:")) for c in callees)  # path building writes nothing
    assert any("load" in r["Phases"] for r in rows) and any(r["Phases"] == "save" for r in rows)
    for row in rows:  # the cited source is the line at the anchor
        path, _, line = row["Line"].strip("`").rpartition(":")
        text = (_root(demo_run.record) / path).read_text().splitlines()[int(line) - 1].strip()
        assert row["Source"].strip("`") == text.replace("`", "'")[:120]
    assert "Left out: " in texts["summary.md"] and "| Family |" in texts["callchain/static.md"]


def test_the_path_follows_the_data_and_skips_side_calls(texts):
    path = texts["summary.md"].split("## The path", 1)[1].split("\n## ", 1)[0]
    save = next(line for line in path.splitlines() if line.startswith("- **Save:**"))
    assert "`ModelManager.save_model`" in save and "`params`" not in save  # a config read, off the path
    load = next(line for line in path.splitlines() if line.startswith("- **Load:**"))
    assert load.endswith("`ModelManager.load_model` (`ptycho/model_manager.py:46`).")


def test_a_fresh_process_that_ran_setup_is_not_called_fresh(demo_run):
    record = copy.deepcopy(demo_run.record)
    fresh = [s for s in record["phases"] if s["process"] == "fresh"]
    record["phases"].insert(record["phases"].index(fresh[0]) + 1, dict(fresh[0], name="fresh-setup"))
    summary = render_texts(record)["summary.md"]
    screen = first_screen(summary)
    assert "ran `fresh-setup` before loading" in screen
    assert "A load in a fresh process rewrites global state" not in screen
    assert "is not what a fresh process's load changes" in summary


def test_pytorch_rows_cite_lines_that_write_the_member_they_name(demo_run, texts):
    rows = {r["member"]: r for r in recipe_rows(demo_run.record)}
    root = _root(demo_run.record)
    for row in rows.values():
        for writer in row["torch"]:
            if writer["kind"] in ("lightning-checkpoint", "save-checkpoint"):
                continue  # a checkpoint callback writes .ckpt files by construction
            name_path, _, name_line = writer["named_at"].rpartition(":")
            assert writer["file"] in (root / name_path).read_text().splitlines()[int(name_line) - 1]
    assert [w["file"] for w in rows["manifest.dill"]["torch"]] == ["manifest.dill"]
    assert not rows["autoencoder/params.dill"]["torch"]  # the demo's torch side writes hparams.dill


def test_static_md_opens_with_an_index_and_keeps_the_eleven_sections(texts):
    static = texts["callchain/static.md"]
    contents = static[static.index("## Contents") : static.index("## Spec Clauses")]
    sections = [line for line in static.splitlines() if line.startswith("## ") and line[3].isdigit()]
    assert [s.split(". ", 1)[0] for s in sections] == [f"## {n}" for n in range(1, 12)]
    for section in sections:
        assert f"[{section[3:]}](#" in contents
    assert "<details><summary>Every library call, per line" in static
    assert "(load ×" not in static or "fresh-load ×" in static  # per-phase counts, never summed


def test_import_edges_are_not_called_keras_callbacks(texts):
    static = texts["callchain/static.md"]
    for line in static.splitlines():
        if ":<module>` |" in line.split("→", 1)[-1][:200] and "called back by framework" in line:
            raise AssertionError(line)


def test_a_companion_run_record_fills_the_pytorch_run_column(demo_run):
    """The hook for a run-backed PyTorch record: the line that wrote the same member there."""
    from harness.record.complete import complete
    from harness.report.render import _render
    from harness.report.views.summary import summary_view

    record = complete(demo_run.record)
    rows = recipe_rows(record, companion=record)
    assert rows and all(r["companion"] == r["writer"] for r in rows)
    assert all(r["companion"] is None for r in recipe_rows(record))
    screen = first_screen(_render("summary.md", "summary.md.j2", summary_view(record, companion=record)))
    assert "| PyTorch run: written at | What must change (parity) |" in screen
    assert "a run-backed column needs" not in screen


def test_the_taps_to_collect_next_name_what_this_run_missed(demo_run):
    from harness.report.queries.taps import tap_rows
    from harness.report.views.summary import collect_next

    record = copy.deepcopy(demo_run.record)
    taps = tap_rows(record)
    assert [i["kind"] for i in collect_next(record, taps)] == ["trained_scale", "torch_params"]
    assert [i["kind"] for i in collect_next(record, taps, companion=record)] == ["trained_scale"]
    fresh = record["scenario"]["processes"][-1]["label"]
    record["phases"] = [span for span in record["phases"] if span["process"] != fresh]  # as --no-fresh-load
    assert "fresh_load" in [i["kind"] for i in collect_next(record, taps)]
    summary = render_texts(record)["summary.md"]
    assert "no fresh-process load ran (run without `--no-fresh-load`)" in summary
    assert "this run trained nothing" in summary
    done = dict(demo_run.record, scenario=dict(demo_run.record["scenario"], contract=False))
    assert all(t["status"] == "hit" for t in taps) and collect_next(done, taps) == []
    assert "## First taps to collect next" not in render_texts(done)["summary.md"]
