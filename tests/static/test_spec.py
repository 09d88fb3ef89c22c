"""Spec clauses: found in the target's docs at their own lines, judged by this run's evidence."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
from archive_builders import tf_members, torch_members, write_zip
from conftest import DEMO
from helpers import write_target

from harness.inspect.sandbox import describe_archive
from harness.static import spec
from harness.static.analysis import rank_entry_points
from harness.static.spec import anchor_holds, extract, read_contract
from harness.static.verdicts import BROKEN, HOLDS, NOT_EXERCISED, TORCH_SIDE, judge, judge_clauses

CONTRACT = """\
    # Widget API

    Intro text. Implementations MUST be fast (not about persistence, so not a clause).

    ## 3. Model Persistence Contract

    - File name: archives SHALL be named `wts.h5.zip`, i.e. the base name is `wts.h5` and
      the extension is `.zip`.
    - Manifest: the archive SHALL hold `manifest.dill` at its root. PyTorch archives MUST add
      `backend: 'pytorch'`; TensorFlow MAY omit it.
    - When unsupported, loaders MUST NOT guess: they MUST raise an error naming the archived backend.

    ### 3.1 Loading

    1. Loading SHALL restore `params.cfg`
       from the archive.

    ```python
    # MUST NOT be read: code
    x = 1  # SHALL
    ```

    ## 4. Training

    Training SHOULD be deterministic. Trained models MUST be saved as a `wts.h5.zip` archive.
    """


def doc(text: str) -> str:
    return textwrap.dedent(text)


def clause_with(clauses, words: str):
    return next(c for c in clauses if words in c["text"])


# -- extraction -------------------------------------------------------------------------


def test_clauses_of_the_persistence_section_at_their_lines():
    clauses, sections = extract(doc(CONTRACT), "specs/api.md")
    lines = doc(CONTRACT).splitlines()
    texts = [c["text"] for c in clauses]
    assert len(clauses) == 6, texts
    name = clause_with(clauses, "SHALL be named")
    assert name["text"] == (
        "File name: archives SHALL be named `wts.h5.zip`, i.e. the base name is `wts.h5` and the extension is `.zip`."
    )  # `i.e.` and the dots in code spans do not end it
    assert lines[name["line"] - 1].startswith("- File name:") and name["end_line"] == name["line"] + 1
    assert name["anchor"] == f"specs/api.md:{name['line']}" and name["section"] == "3. Model Persistence Contract"
    torch = clause_with(clauses, "PyTorch archives")
    assert torch["keywords"] == ["MUST", "MAY"] and "PyTorch archives MUST add" in lines[torch["line"] - 1]
    refusal = clause_with(clauses, "loaders MUST NOT guess")
    assert refusal["level"] == "MUST NOT" and refusal["keywords"] == ["MUST NOT", "MUST"]
    assert refusal["id"].startswith("model-persistence-contract/must-not-")
    restore = clause_with(clauses, "restore")
    assert restore["text"] == "Loading SHALL restore `params.cfg` from the archive."
    assert restore["section"] == "3.1 Loading" and restore["in_contract_section"]  # nested under the contract heading
    assert not any("fast" in t or "deterministic" in t or "code" in t for t in texts)
    saved = clause_with(clauses, "Trained models MUST")  # outside the section, but it names the archive
    assert not saved["in_contract_section"] and saved["section"] == "4. Training"
    assert [s["title"] for s in sections if s["contract"]] == ["3. Model Persistence Contract"]


def test_every_anchor_holds_its_clause(tmp_path):
    root = write_target(tmp_path, {"specs/api.md": CONTRACT})
    found = read_contract(root)
    assert found["source"] == "docs" and len(found["clauses"]) == 6
    assert all(anchor_holds(root, c) for c in found["clauses"])
    moved = dict(
        found["clauses"][0], line=found["clauses"][0]["line"] + 1, end_line=found["clauses"][0]["end_line"] + 1
    )
    assert not anchor_holds(root, moved)


def test_ids_survive_line_shifts_and_follow_the_text():
    before, _ = extract(doc(CONTRACT), "specs/api.md")
    after, _ = extract("# Preface\n\nNew text.\n\n\n" + doc(CONTRACT), "specs/api.md")
    assert [c["id"] for c in before] == [c["id"] for c in after]
    assert [c["line"] + 5 for c in before] == [c["line"] for c in after]
    edited, _ = extract(doc(CONTRACT).replace("at its root", "at the top"), "specs/api.md")
    assert {c["id"] for c in edited} != {c["id"] for c in before}
    assert len({c["id"] for c in before}) == len(before)


def test_the_same_sentence_twice_gets_distinct_ids(tmp_path):
    text = "## Persistence\n\nArchives MUST hold a manifest.\n\nArchives MUST hold a manifest.\n"
    root = write_target(tmp_path, {"specs/a.md": text})
    ids = [c["id"] for c in read_contract(root)["clauses"]]
    assert len(ids) == 2 and ids[1] == ids[0] + "-2"


def test_setext_rst_tables_and_lowercase_words(tmp_path):
    markdown = doc("""\
        Archive format
        ==============

        The zip MUST hold one folder per model.
        Lower-case must and shall are prose here, not clauses.

        | Field | Rule |
        |---|---|
        | manifest | The manifest SHALL list every model. |
        """)
    clauses, sections = extract(markdown, "docs/a.md")
    assert [c["text"] for c in clauses] == [
        "The zip MUST hold one folder per model.",
        "manifest The manifest SHALL list every model.",
    ]
    assert sections[0]["title"] == "Archive format" and sections[0]["line"] == 1
    assert clauses[1]["line"] == 9
    rst = (
        "Persistence\n===========\n\nThe archive SHALL be a zip.\n\nFormat\n------\n\nIt MUST be deflated.\n\n"
        "Other\n=====\n\nIt MUST work.\n"
    )
    clauses, _ = extract(rst, "docs/a.rst")  # rst: levels in the order the underline characters first appear
    assert [(c["text"], c["line"], c["section"]) for c in clauses] == [
        ("The archive SHALL be a zip.", 4, "Persistence"),
        ("It MUST be deflated.", 9, "Format"),
    ]


def test_no_docs_at_all_falls_back_to_the_builtin_contract(tmp_path):
    (tmp_path / "ptycho").mkdir()
    found = read_contract(tmp_path)
    assert found["source"] == "builtin" and found["folders"] == []
    assert found["missing"] == {"reason": "no_folders", "wanted": ["specs/", "docs/"]}
    assert len(found["clauses"]) >= 5 and all(
        c["anchor"] is None and c["id"].startswith("builtin/") for c in found["clauses"]
    )
    assert any("wts.h5.zip" in c["text"] for c in found["clauses"])


def test_docs_without_a_persistence_contract_say_so(tmp_path):
    root = write_target(tmp_path, {"docs/guide.md": "# Usage\n\nYou MUST install numpy.\n"})
    found = read_contract(root)
    assert found["source"] == "builtin" and found["missing"] == {"reason": "no_sections", "folders": ["docs/"]}
    root = write_target(tmp_path, {"specs/p.md": "# Persistence\n\nArchives are zips.\n"})
    assert read_contract(root)["missing"] == {"reason": "no_clauses", "sections": ["specs/p.md:1"]}


def test_huge_docs_are_bounded_and_what_was_skipped_is_listed(tmp_path, monkeypatch):
    big = "## Persistence\n\n" + "Filler text that is long enough to matter. " * 60 + "\n"
    many = "## Archive rules\n\n" + "".join(f"Rule {i}: archive member {i} SHALL be listed.\n\n" for i in range(20000))
    one_line = "## Persistence\n\n" + "word " * 300_000 + "Archives MUST be zips."  # 1.5 MB, one line
    root = write_target(
        tmp_path,
        {
            "specs/a_many.md": many,
            "specs/b_one_line.md": one_line,
            "specs/c_big.md": big,
            "specs/d_binary.md": "",
            "docs/e_late.md": "## Persistence\n\nArchives MUST exist.\n",
        },
    )
    (root / "specs/d_binary.md").write_bytes(b"## Persistence\0\0")
    (root / "specs/z_link.md").symlink_to(root / "specs/c_big.md")
    monkeypatch.setattr(spec, "MAX_FILE_BYTES", 1_600_000)
    first_two = sum((root / name).stat().st_size for name in ("specs/a_many.md", "specs/b_one_line.md"))
    monkeypatch.setattr(spec, "MAX_TOTAL_BYTES", first_two + 100)
    found = read_contract(root)
    reasons = {s["path"]: s["reason"] for s in found["skipped"]}
    assert "binary" in reasons["specs/d_binary.md"] and "symbolic link" in reasons["specs/z_link.md"]
    assert "budget" in reasons["specs/c_big.md"] and "docs/e_late.md" not in reasons
    assert any("clauses beyond the first" in reason for reason in reasons.values())
    assert len(found["clauses"]) == spec.MAX_CLAUSES
    assert found["clauses"][0]["line"] == 3 and found["clauses"][-1]["line"] == 3 + 2 * (spec.MAX_CLAUSES - 1)
    monkeypatch.setattr(spec, "MAX_FILE_BYTES", 1_000_000)
    found = read_contract(root)
    assert "over the 1000000-byte limit" in {s["path"]: s["reason"] for s in found["skipped"]}["specs/b_one_line.md"]


def test_a_single_huge_line_is_split_into_its_sentences():
    text = "## Persistence\n\n" + "Some words here. " * 50_000 + "Archives MUST be zips. More words."
    clauses, _ = extract(text, "specs/a.md")
    normative = [(c["text"], c["line"]) for c in clauses if c["level"] != spec.DESCRIPTIVE]
    assert normative == [("Archives MUST be zips.", 3)]
    assert len(clauses) == 50_002 and clauses[0]["level"] == spec.DESCRIPTIVE  # the section's statements too
    clauses, _ = extract(text, "docs/a.md")  # docs explain: only keyword sentences count there
    assert [(c["text"], c["line"]) for c in clauses] == [("Archives MUST be zips.", 3)]


def test_every_sentence_of_a_spec_persistence_section_is_listed():
    """A port must meet what the spec's persistence section states, keyword or not; a
    pseudo-heading is no sentence; elsewhere, a demand that persistence not need tracking counts."""
    text = (
        "## Persistence\n\nArchive identification\n\n- Contents: archives hold payloads and hyperparameters.\n"
        "- Archives SHALL be zips.\n\n## Runtime\n\n- Logging is optional. Implementations MUST NOT require MLflow.\n"
    )
    clauses, _ = extract(text, "specs/a.md")
    assert [(c["level"], c["text"]) for c in clauses] == [
        (spec.DESCRIPTIVE, "Contents: archives hold payloads and hyperparameters."),
        ("SHALL", "Archives SHALL be zips."),
        ("MUST NOT", "Implementations MUST NOT require MLflow."),
    ]


def test_long_clauses_are_cut_for_the_report_yet_still_resolve(tmp_path):
    text = "## Persistence\n\nArchives MUST " + "really " * 200 + "be zips.\n"
    root = write_target(tmp_path, {"specs/a.md": text})
    clause = read_contract(root)["clauses"][0]
    assert len(clause["text"]) <= spec.MAX_TEXT + 2 and clause["text"].endswith(" …")
    assert anchor_holds(root, clause)


def test_demo_spec_is_found_and_every_anchor_holds():
    found = read_contract(DEMO)
    assert found["source"] == "docs" and not found["skipped"]
    assert {c["path"] for c in found["clauses"]} == {"specs/api_spec.md"}
    assert all(anchor_holds(DEMO, c) for c in found["clauses"])
    assert any(c["level"] == "MUST NOT" for c in found["clauses"])
    text = (DEMO / "specs/api_spec.md").read_text()
    assert "PtychoPINN" in text and "not PtychoPINN" in text  # written for the demo, says so


# -- entry points -----------------------------------------------------------------------


def test_spec_sections_rank_among_the_candidates():
    found = read_contract(DEMO)
    ranked = rank_entry_points(
        DEMO, "ptycho", "How are models saved into archives?", ["persistence"], set(), found["sections"]
    )
    docs = [c for c in ranked if c["kind"] == "doc"]
    assert len(docs) >= spec_slots() and any(c["anchor"].startswith("specs/api_spec.md:") for c in docs)
    stating = next(c for c in docs if c["clauses"])
    assert stating["confidence"] == "high" and any("spec clause" in m for m in stating["matched"])


def spec_slots() -> int:
    from harness.static.analysis import DOC_SLOTS

    return DOC_SLOTS


# -- verdicts ---------------------------------------------------------------------------


def record_with(tmp_path: Path, members=None, name: str = "wts.h5.zip", **extra) -> dict:
    archive = write_zip(tmp_path / name, tf_members() if members is None else members)
    description = describe_archive(str(archive))
    description["display_path"] = f"<scratch>/out/{name}"
    record = {
        "archive": str(archive),
        "archive_description": description,
        "calls": [],
        "errors": [],
        "phases": [],
        "config": {"changes": []},
        "sinks": [],
        "torch_delta": {"present": False},
    }
    record.update(extra)
    return record


def test_archive_clauses_are_judged_by_the_contract_checks(tmp_path):
    record = record_with(
        tmp_path,
        sinks=[{"op": "write", "phase": "save", "path": "<tmp>/x/manifest.dill", "by": "ptycho/model_manager.py:75"}],
    )
    named = judge("Archives SHALL use the canonical base name `wts.h5`, i.e. `wts.h5.zip`.", record)
    assert named["verdict"] == HOLDS and named["evidence"][0]["check"] == "archive.basename"
    assert named["evidence"][0]["anchor"] == "<scratch>/out/wts.h5.zip"
    manifest = judge(
        "Archives SHALL include a `manifest.dill` at the root with {'models': [...], 'version': 'X.Y'}.", record
    )
    assert manifest["verdict"] == HOLDS
    assert {e["check"] for e in manifest["evidence"]} == {"manifest.present", "manifest.keys"}
    assert manifest["evidence"][0]["anchor"] == "<scratch>/out/wts.h5.zip › manifest.dill"
    assert manifest["evidence"][0]["written_by"] == "ptycho/model_manager.py:75"


def test_a_failing_check_breaks_the_clause(tmp_path):
    members = tf_members()
    del members["manifest.dill"]
    record = record_with(tmp_path, members, name="model.zip")
    assert judge("Archives SHALL be named `wts.h5.zip` (base name `wts.h5`).", record)["verdict"] == BROKEN
    manifest = judge("Archives SHALL include a `manifest.dill` at the root.", record)
    assert manifest["verdict"] == BROKEN and "no manifest.dill" in manifest["evidence"][0]["detail"]


def test_checks_are_found_by_their_contract_ids_too(tmp_path):
    record = record_with(tmp_path)
    for check in record["archive_description"]["clauses"]:
        check["id"] = {"manifest.present": "archive.manifest-root", "manifest.backend": "archive.backend-tag"}.get(
            check["id"], check["id"]
        )
    result = judge("Archives SHALL include a `manifest.dill` at the root.", record)
    assert [e["check"] for e in result["evidence"]] == ["archive.manifest-root"] and result["verdict"] == HOLDS


def test_pytorch_clauses_point_at_the_delta_and_still_break_on_a_failed_check(tmp_path):
    delta = {
        "present": True,
        "package": "ptycho_torch",
        "surfaces": [
            {"kind": "lightning-checkpoint", "anchor": "ptycho_torch/train.py:12"},
            {"kind": "manifest-writer", "anchor": "ptycho_torch/model_manager.py:23"},
        ],
    }
    record = record_with(tmp_path, torch_delta=delta)
    tagged = judge(
        "PyTorch archives MUST additionally include `backend: 'pytorch'`; TensorFlow MAY omit this field.", record
    )
    assert tagged["verdict"] == TORCH_SIDE
    assert [e["check"] for e in tagged["evidence"] if e["source"] == "archive"] == ["manifest.backend"]
    assert tagged["evidence"][-1]["anchor"] == "ptycho_torch/model_manager.py:23"
    ckpt = judge("Checkpoint persistence MUST produce archives with Lightning `.ckpt` state.", record)
    assert ckpt["verdict"] == TORCH_SIDE and ckpt["evidence"][-1]["anchor"] == "ptycho_torch/train.py:12"
    (tmp_path / "t").mkdir()
    untagged = record_with(tmp_path / "t", torch_members(tag=False))
    assert judge("PyTorch archives MUST include `backend: 'pytorch'`.", untagged)["verdict"] == BROKEN


def test_loader_clauses_are_judged_by_what_the_run_did(tmp_path):
    load = {
        "i": 7,
        "phase": "load",
        "qualname": "load_inference_bundle",
        "function": "ptycho.workflows.components:load_inference_bundle",
        "anchor": "ptycho/workflows/components.py:9",
    }
    loader = {
        "i": 9,
        "phase": "fresh-load",
        "qualname": "ModelManager.load_model",
        "function": "ptycho.model_manager:ModelManager.load_model",
        "anchor": "ptycho/model_manager.py:46",
    }
    change = {"key": "N", "op": "changed", "old": 128, "new": 64, "by": 9, "phase": "fresh-load"}
    record = record_with(tmp_path, calls=[load, loader], phases=[{"name": "fresh-load"}], config={"changes": [change]})
    loaded = judge("`open_model()` SHALL delegate to `load_inference_bundle`.", record)
    assert loaded["verdict"] == HOLDS and loaded["evidence"][0]["anchor"] == "def ptycho/workflows/components.py:9"
    restored = judge("Loading SHALL restore the global config from the archive.", record)
    assert restored["verdict"] == HOLDS and restored["evidence"][0]["anchor"] == "def ptycho/model_manager.py:46"
    record["calls"], record["phases"] = [], []
    assert judge("`open_model()` SHALL delegate to `load_inference_bundle`.", record)["verdict"] == NOT_EXERCISED
    unproven = judge("Loading SHALL restore `params.cfg` from the archive's `params.dill`.", record)
    assert unproven["verdict"] == NOT_EXERCISED and [e["source"] for e in unproven["evidence"]] == [
        "archive",
        "archive",
        "run",
    ]
    assert judge("The archive SHALL hold a copy of `params.cfg` as `params.dill`.", record)["verdict"] == HOLDS


def test_cross_backend_and_unknown_clauses_are_not_exercised(tmp_path):
    record = record_with(tmp_path)
    cross = judge("When unsupported, loaders MUST raise a descriptive error stating the archived backend.", record)
    assert cross["verdict"] == NOT_EXERCISED and "cross-backend" in cross["evidence"][0]["detail"]
    assert judge("Archives SHOULD be small.", record)["verdict"] == NOT_EXERCISED
    record["archive_description"] = None
    gone = judge("Archives SHALL include a `manifest.dill` at the root.", record)
    assert gone["verdict"] == NOT_EXERCISED and "no archive was produced" in gone["evidence"][0]["detail"]


def test_every_builtin_clause_gets_a_verdict(tmp_path):
    judged = judge_clauses(read_contract(tmp_path)["clauses"], record_with(tmp_path))
    verdicts = {c["id"]: c["verdict"] for c in judged}
    assert verdicts["builtin/archive-name"] == HOLDS and verdicts["builtin/manifest"] == HOLDS
    assert verdicts["builtin/two-models"] == HOLDS and verdicts["builtin/cross-backend"] == NOT_EXERCISED
    assert verdicts["builtin/torch-payload"] == TORCH_SIDE


# -- the real spec (PTYCHO_ROOT) and the demo report ----------------------------------------


@pytest.mark.skipif(
    not os.environ.get("PTYCHO_ROOT"), reason="PTYCHO_ROOT is not set: point it at a PtychoPINN checkout"
)
def test_real_spec_clauses_resolve_at_their_own_lines():
    root = Path(os.environ["PTYCHO_ROOT"]).expanduser()
    found = read_contract(root)
    assert found["source"] == "docs"
    for clause in found["clauses"]:
        assert anchor_holds(root, clause), clause["anchor"]
    persistence = [c for c in found["clauses"] if c["path"] == "specs/ptychodus_api_spec.md"]
    lines = (root / "specs/ptychodus_api_spec.md").read_text().splitlines()
    for words in (
        "canonical base name `wts.h5`",
        "`manifest.dill` at the root",
        "backend: 'pytorch'",
        "archived backend",
    ):
        clause = next(c for c in persistence if words in c["text"])
        assert words in lines[clause["line"] - 1]


@pytest.mark.slow
def test_demo_report_opens_with_the_spec_and_judges_it(demo_run):
    static = (demo_run.report / "callchain/static.md").read_text()
    summary = (demo_run.report / "summary.md").read_text()
    part = static[static.index("## Spec Clauses") : static.index("## 1. Analysis Question")]
    assert static.index("## Spec Clauses") < static.index("## 2. Candidate Entry Points")
    lines = (DEMO / "specs/api_spec.md").read_text().splitlines()
    rows = {}
    for anchor, verdict in re.findall(r"`(specs/api_spec\.md:\d+)` \|.*\| \*\*(.+?)\*\* \|$", part, re.M):
        rows[int(anchor.rsplit(":", 1)[1])] = verdict
    name_line = next(n for n, line in enumerate(lines, 1) if "fixed base name `wts.h5`" in line)
    manifest_line = next(n for n, line in enumerate(lines, 1) if "`manifest.dill` at the root" in line)
    assert rows[name_line] == HOLDS and rows[manifest_line] == HOLDS
    assert set(rows.values()) >= {HOLDS, NOT_EXERCISED, TORCH_SIDE}
    assert "archive check `archive.basename` pass" in part and "archive check `manifest.present` pass" in part
    assert "## What the spec demands" in summary and f"`specs/api_spec.md:{manifest_line}`" in summary
    candidates = static[static.index("## 2. Candidate Entry Points") : static.index("## 3.")]
    assert "specs/api_spec.md § " in candidates
    assert demo_run.record["spec"]["source"] == "docs"


@pytest.mark.slow
def test_a_target_without_docs_says_so_in_gaps_and_checks_the_builtin_contract(tmp_path):
    from conftest import callchain, load_run, report_of
    from helpers import tiny_target

    root = tiny_target(tmp_path / "target")
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    report = report_of(done)
    static = (report / "callchain/static.md").read_text()
    gaps = static[static.index("## 11. Gaps/Unknowns") :]
    assert "The target has no specs/ or docs/ folder" in gaps and "built-in contract was checked" in gaps
    part = static[static.index("## Spec Clauses") : static.index("## 1. Analysis Question")]
    assert "built-in contract is checked instead" in part
    verdicts = {c["id"]: c["verdict"] for c in load_run(report)["spec"]["clauses"]}
    assert verdicts["builtin/archive-name"] == HOLDS  # the tiny target writes <base>.zip with base wts.h5
    assert verdicts["builtin/two-models"] == BROKEN  # its archive holds a manifest only


def test_static_md_opens_with_the_judged_clauses_and_summary_has_the_table(tmp_path):
    from inprocess import AVAILABLE as RECORDERS
    from inprocess import MINIPKG, record_package

    from harness.report import render
    from harness.static.verdicts import judge_spec

    record = record_package(tmp_path, MINIPKG, lambda imp: imp("minipkg.core").outer(1), RECORDERS[0])
    specs = write_target(tmp_path / "docs-root", {"specs/api.md": CONTRACT})
    (tmp_path / "out").mkdir()
    archive = write_zip(tmp_path / "out" / "wts.h5.zip", tf_members())
    record["archive_description"] = dict(describe_archive(str(archive)), display_path="<scratch>/out/wts.h5.zip")
    record["spec"] = read_contract(specs)
    judge_spec(record)
    render.render_markdown(tmp_path / "report", record)
    static = (tmp_path / "report/callchain/static.md").read_text()
    summary = (tmp_path / "report/summary.md").read_text()
    assert static.index("## Spec Clauses") < static.index("## 1. Analysis Question") < static.index("## 2. Candidate")
    name = clause_with(record["spec"]["clauses"], "SHALL be named")
    row = next(
        line for line in static.splitlines() if line.startswith(f"| `{name['id']}` | `specs/api.md:{name['line']}` |")
    )
    assert row.endswith("| **holds** |") and "archive check `archive.basename` pass" in row
    assert (
        "Found in: 3. Model Persistence Contract (`specs/api.md:5`), 3.1 Loading (`specs/api.md:13`), 4. Training"
        in static
    )
    restore = clause_with(
        record["spec"]["clauses"], "restore"
    )  # the params.dill checks support it, the run must prove it
    assert restore["verdict"] == NOT_EXERCISED and "no fresh-process load ran" in restore["evidence"][-1]["detail"]
    table = summary[summary.index("## What the spec demands") : summary.index("## Archive composition")]
    assert f"| `specs/api.md:{name['line']}` File name:" in table and table.count("| **") == 6
    del record["spec"]
    render.render_markdown(tmp_path / "old", record)
    assert "This run record holds no spec clauses" in (tmp_path / "old/callchain/static.md").read_text()


def test_a_bullet_of_a_spec_persistence_section_is_listed_without_a_full_stop():
    """The demo spec with two bullets that end without a full stop: both are listed (statements
    of the contract); the section's lead-in paragraph ending with ':' still is not."""
    text = (DEMO / "specs/api_spec.md").read_text()
    before, _ = extract(text, "specs/api_spec.md")
    extra = "- Members: one folder per model, each with `model.keras` and `params.dill`\n- No other files at the root\n"
    marker = "### 2.2 Loading"
    grown, _ = extract(text.replace(marker, extra + "\n" + marker), "specs/api_spec.md")
    added = [c for c in grown if c["text"] not in {b["text"] for b in before}]
    assert [(c["level"], c["text"]) for c in added] == [
        (spec.DESCRIPTIVE, "Members: one folder per model, each with `model.keras` and `params.dill`"),
        (spec.DESCRIPTIVE, "No other files at the root"),
    ]
    assert not any(c["text"].startswith("Example of a call") for c in grown)
    assert len(grown) == len(before) + 2
