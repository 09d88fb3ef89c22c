"""The request's stale pointers checked against a revision: what the cited lines hold now, and
where the named code really is, by name (never by line number). Static: no run needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import DEMO
from helpers import write_target

from harness.static.bounded import Budget
from harness.static.pointers import load_pointers, reconcile


def _check_places(root: Path, pointer: dict) -> None:
    """Every place the report would cite holds, at its line, the thing it is named after."""
    for place in pointer["found"] + pointer["there"]:
        line = (root / place["path"]).read_text().splitlines()[place["line"] - 1]
        if place["kind"] == "heading":
            assert line.lstrip().startswith("#") and place["name"] in line, place
        elif place["kind"] == "def":
            leaf = place["name"].rsplit(".", 1)[-1]
            assert line.lstrip().startswith((f"def {leaf}", f"async def {leaf}", f"class {leaf}")), place
        else:
            assert place["name"].split("(")[0].rsplit(".", 1)[-1] + "(" in line, place


def test_the_shipped_pointers_are_the_requests_four():
    cited = [f"{p['path']}:{p['lines'][0]}-{p['lines'][1]}" for p in load_pointers()]
    assert cited == [
        "specs/ptychodus_api_spec.md:192-202",
        "ptycho/model_manager.py:346-420",
        "ptycho/workflows/components.py:676-720",
        "ptycho_torch/train.py:100-220",
    ]


def test_on_the_demo_every_pointer_is_stale_and_the_named_code_is_found():
    pointers = {p["path"]: p for p in reconcile(DEMO, Budget())}
    spec = pointers["specs/ptychodus_api_spec.md"]
    assert spec["file_lines"] is None and spec["there"] == []  # the demo's spec has another name
    assert [(f["anchor"], f["kind"]) for f in spec["found"]] == [("specs/api_spec.md:14", "heading")]
    manager = pointers["ptycho/model_manager.py"]
    assert manager["file_lines"] < manager["start"]  # "past the end of the file"
    assert [f["name"] for f in manager["found"]] == [
        "ModelManager.save_multiple_models",
        "ModelManager.load_multiple_models",
    ]
    torch = pointers["ptycho_torch/train.py"]
    assert {f["wanted"] for f in torch["found"]} == {
        "ModelCheckpoint(…)",
        "Trainer(…)",
        "mlflow.pytorch.autolog(…)",
        "mlflow.start_run(…)",
    }
    for pointer in pointers.values():
        assert pointer["verdict"] == "stale" and not pointer["not_found"]
        _check_places(DEMO, pointer)


def test_a_range_that_still_holds_its_code_is_current_and_one_that_moved_is_not(tmp_path):
    root = write_target(
        tmp_path / "t",
        {
            "m.py": "import x\n\n\ndef first():\n    x.Trainer()\n\n\ndef second():\n    pass\n",
            "doc.md": "# A\n\n## B\n\nText.\n",
        },
    )
    pointers = [
        {"path": "m.py", "lines": [3, 6], "what": "first", "symbols": ["first"], "calls": ["Trainer"]},
        {"path": "m.py", "lines": [1, 5], "what": "both", "symbols": ["first", "second", "gone"]},
        {"path": "doc.md", "lines": [2, 3], "what": "B", "heading": "^B$"},
        {"path": "none.py", "lines": [1, 2], "what": "none", "symbols": ["first"]},
    ]
    current, partly, heading, missing = reconcile(root, Budget(), pointers)
    assert current["verdict"] == "current"
    assert [(t["name"], t["anchor"]) for t in current["there"]] == [("first", "m.py:4")]
    assert [f["anchor"] for f in current["found"]] == ["m.py:4", "m.py:5"]
    assert partly["verdict"] == "partly stale" and partly["not_found"] == ["gone"]
    assert heading["verdict"] == "current" and [t["name"] for t in heading["there"]] == ["A", "B"]
    assert missing["verdict"] == "not found" and missing["file_lines"] is None


@pytest.mark.skipif(not os.environ.get("PTYCHO_ROOT"), reason="set PTYCHO_ROOT to a PtychoPINN checkout")
def test_on_a_real_checkout_the_named_code_is_found_where_the_report_says():
    root = Path(os.environ["PTYCHO_ROOT"]).resolve()
    pointers = {p["path"]: p for p in reconcile(root, Budget())}
    assert [f["name"] for f in pointers["ptycho/model_manager.py"]["found"]] == [
        "ModelManager.save_multiple_models",
        "ModelManager.load_multiple_models",
    ]
    assert any("Persistence" in f["name"] for f in pointers["specs/ptychodus_api_spec.md"]["found"])
    assert pointers["ptycho_torch/train.py"]["found"]
    for pointer in pointers.values():
        assert not pointer["not_found"], pointer
        _check_places(root, pointer)
