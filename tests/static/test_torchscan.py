"""harness.static.torchscan: static persistence surfaces of a ptycho_torch-like package."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

from harness.static import torchscan
from harness.static.torchpatterns import DEFAULT_PATTERNS, load_patterns
from harness.static.torchscan import group_by_kind, scan

TRAIN = '''\
"""Training entry point: saves to model.ckpt (docstrings are not surfaces)."""
import torch
import lightning.pytorch as L
from lightning.pytorch.callbacks import ModelCheckpoint
import mlflow


def train(model, out):
    ckpt = ModelCheckpoint(
        dirpath=str(out),
        filename="best-checkpoint",
        monitor="val_loss",
        mode="min",
        save_top_k=1,
        save_last=True,
    )
    trainer = L.Trainer(max_epochs=1, callbacks=[ckpt], enable_checkpointing=True)
    mlflow.pytorch.autolog(checkpoint_monitor="val_loss")
    mlflow.set_experiment("exp")
    with mlflow.start_run() as run:
        trainer.fit(model)
        mlflow.set_tag("stage", "training")
    trainer.save_checkpoint(out / "last.ckpt")
    torch.save(model.state_dict(), out / "model.pt")


class Module(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.save_hyperparameters()

    def on_save_checkpoint(self, checkpoint):
        def helper():
            return torch.load("x.pt", map_location="cpu")
        return helper
'''

ALIASES = """\
import mlflow as mf
import torch as T
from lightning.pytorch.callbacks import ModelCheckpoint as MC
from lightning.pytorch import Trainer as Tr
from zipfile import ZipFile
from torch import save as tsave


def persist(model, path):
    cb = MC(dirpath=path)
    Tr(default_root_dir=path)
    mf.log_artifact(path)
    mf.pytorch.log_model(model, "model")
    T.load(path)
    tsave(model, path)
    with ZipFile(path, "w") as zf:
        pass
"""

ARCHIVE = """\
import json
import dill
import pickle
import zipfile


def save_bundle(base_path, params, manifest_json):
    zip_path = f"{base_path}.zip"
    manifest = {"models": ["autoencoder"], "version": "2.0"}
    with open("manifest.dill", "wb") as f:
        dill.dump(manifest, f)
    with open("params.dill", "wb") as f:
        dill.dump(params, f)
    with open(manifest_json, "w") as f:
        json.dump(manifest, f)
    with open("config.json", "w") as f:
        json.dump(params, f)
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("manifest.dill", dill.dumps(manifest))
    with zipfile.ZipFile(zip_path) as zf:
        pass
    with zipfile.ZipFile(zip_path, mode="r") as zf:
        pass
    with zipfile.ZipFile(zip_path, "a") as zf:
        pass
    with open("p.pkl", "rb") as f:
        return pickle.load(f)
"""


def write_package(root: Path, files: dict[str, str], package: str = "ptycho_torch") -> Path:
    """Lay out `root/package/<name>` files from strings; returns the package dir."""
    pkg = root / package
    for name, text in files.items():
        target = pkg / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (pkg / "__init__.py").touch()
    return pkg


def surfaces_of(result: dict, kind: str, path: str | None = None) -> list[dict]:
    return [s for s in result["surfaces"] if s["kind"] == kind and (path is None or s["path"] == path)]


def only(result: dict, kind: str, path: str | None = None) -> dict:
    found = surfaces_of(result, kind, path)
    assert len(found) == 1, (kind, found)
    return found[0]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing needle: tests never hard-code lines."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


@pytest.fixture()
def train_scan(tmp_path: Path) -> dict:
    write_package(tmp_path, {"train.py": TRAIN})
    return scan(tmp_path)


def test_default_patterns_load_and_cover_the_declared_kinds() -> None:
    kinds = {p.kind for p in load_patterns(DEFAULT_PATTERNS)}
    assert {
        "lightning-checkpoint",
        "lightning-trainer",
        "save-checkpoint",
        "load-from-checkpoint",
        "save-hyperparameters",
        "torch-save",
        "torch-load",
        "mlflow-setup",
        "mlflow-artifact",
        "path-literal",
        "archive-writer",
        "manifest-writer",
        "pickle-dump",
    } <= kinds


def test_lightning_surfaces_with_lines_functions_and_keyword_summary(train_scan: dict) -> None:
    assert train_scan["present"] is True
    assert train_scan["files_scanned"] == 2  # __init__.py + train.py
    assert train_scan["parse_errors"] == []

    ckpt = only(train_scan, "lightning-checkpoint")
    assert ckpt["anchor"] == f"ptycho_torch/train.py:{line_of(TRAIN, 'ModelCheckpoint(')}"
    assert ckpt["path"] == "ptycho_torch/train.py"
    assert ckpt["function"] == "train"
    assert ckpt["callee"] == "ModelCheckpoint"
    assert ckpt["resolved"] == "lightning.pytorch.callbacks.ModelCheckpoint"
    assert ckpt["detail"] == (
        'dirpath=str(out), filename="best-checkpoint", monitor="val_loss", save_top_k=1, save_last=True'
    )
    assert ckpt["describe"]

    trainer = only(train_scan, "lightning-trainer")
    assert trainer["line"] == line_of(TRAIN, "L.Trainer(")
    assert trainer["resolved"] == "lightning.pytorch.Trainer"
    assert trainer["detail"] == "enable_checkpointing=True, callbacks=[ckpt]"

    save = only(train_scan, "save-checkpoint")
    assert (save["line"], save["callee"]) == (line_of(TRAIN, "save_checkpoint"), "trainer.save_checkpoint")
    hparams = only(train_scan, "save-hyperparameters")
    assert (hparams["line"], hparams["function"]) == (line_of(TRAIN, "save_hyperparameters"), "Module.__init__")
    hook = only(train_scan, "checkpoint-hook")
    assert hook["line"] == line_of(TRAIN, "def on_save_checkpoint")
    assert hook["defines"] == "Module.on_save_checkpoint"
    assert hook["function"] == "Module"


def test_torch_and_mlflow_surfaces(train_scan: dict) -> None:
    saved = only(train_scan, "torch-save")
    assert saved["line"] == line_of(TRAIN, "torch.save(")
    assert saved["detail"] == 'model.state_dict(), out / "model.pt"'
    loaded = only(train_scan, "torch-load")
    assert loaded["line"] == line_of(TRAIN, "torch.load(")
    assert loaded["function"] == "Module.on_save_checkpoint.<locals>.helper"

    setup = surfaces_of(train_scan, "mlflow-setup")
    assert [(s["callee"], s["line"]) for s in setup] == [
        ("mlflow.pytorch.autolog", line_of(TRAIN, "autolog")),
        ("mlflow.set_experiment", line_of(TRAIN, "set_experiment")),
        ("mlflow.start_run", line_of(TRAIN, "start_run")),
    ]
    assert setup[0]["detail"] == 'checkpoint_monitor="val_loss"'
    # the catch-all sees the rest, and a call is reported once (first rule wins)
    other = only(train_scan, "mlflow-other")
    assert other["callee"] == "mlflow.set_tag"
    assert not any(s["callee"] == "mlflow.pytorch.autolog" for s in surfaces_of(train_scan, "mlflow-other"))


def test_literals_skip_docstrings(train_scan: dict) -> None:
    literals = surfaces_of(train_scan, "path-literal")
    assert [(s["line"], s["literal"]) for s in literals] == [
        (line_of(TRAIN, '"last.ckpt"'), '"last.ckpt"'),
    ]
    assert literals[0]["detail"] == "contains .ckpt"


def test_surfaces_are_sorted_by_path_line_kind(tmp_path: Path) -> None:
    write_package(tmp_path, {"train.py": TRAIN, "a/aliases.py": ALIASES, "z.py": ARCHIVE})
    result = scan(tmp_path)
    keys = [(s["path"], s["line"], s["kind"]) for s in result["surfaces"]]
    assert keys == sorted(keys)
    assert result["files_scanned"] == 4
    assert scan(tmp_path) == result  # deterministic
    json.dumps(result)  # plain data


def test_import_aliases_are_resolved(tmp_path: Path) -> None:
    write_package(tmp_path, {"aliases.py": ALIASES})
    result = scan(tmp_path)
    ckpt = only(result, "lightning-checkpoint")
    assert (ckpt["callee"], ckpt["resolved"], ckpt["line"]) == (
        "MC",
        "lightning.pytorch.callbacks.ModelCheckpoint",
        line_of(ALIASES, "MC(dirpath"),
    )
    assert ckpt["detail"] == "dirpath=path"
    assert only(result, "lightning-trainer")["resolved"] == "lightning.pytorch.Trainer"
    artifacts = surfaces_of(result, "mlflow-artifact")
    assert [(s["callee"], s["resolved"]) for s in artifacts] == [
        ("mf.log_artifact", "mlflow.log_artifact"),
        ("mf.pytorch.log_model", "mlflow.pytorch.log_model"),
    ]
    assert only(result, "torch-load")["resolved"] == "torch.load"
    assert only(result, "torch-save")["callee"] == "tsave"
    writer = only(result, "archive-writer")
    assert (writer["resolved"], writer["line"]) == ("zipfile.ZipFile", line_of(ALIASES, "ZipFile(path"))


def test_relative_imports_resolve_against_the_package(tmp_path: Path) -> None:
    write_package(
        tmp_path,
        {
            "api/use.py": "from ..ckpt import ModelCheckpoint\nfrom . import mlflow\n"
            "ModelCheckpoint()\nmlflow.start_run()\n",
        },
    )
    result = scan(tmp_path)
    assert only(result, "lightning-checkpoint")["resolved"] == "ptycho_torch.ckpt.ModelCheckpoint"
    assert only(result, "lightning-checkpoint")["function"] == "<module>"
    # a local module called mlflow is not MLflow
    assert surfaces_of(result, "mlflow-setup") == []


def test_archive_and_manifest_writers(tmp_path: Path) -> None:
    write_package(tmp_path, {"model_manager.py": ARCHIVE})
    result = scan(tmp_path)
    manifests = surfaces_of(result, "manifest-writer")
    assert [(s["callee"], s["line"]) for s in manifests] == [
        ("dill.dump", line_of(ARCHIVE, "dill.dump(manifest")),
        ("json.dump", line_of(ARCHIVE, "json.dump(manifest")),
        ("dill.dumps", line_of(ARCHIVE, "dill.dumps(manifest")),
    ]
    member = only(result, "archive-member")
    assert (member["callee"], member["line"]) == ("zf.writestr", line_of(ARCHIVE, "writestr"))
    dumps = surfaces_of(result, "pickle-dump")
    assert [(s["detail"], s["line"]) for s in dumps] == [("params, f", line_of(ARCHIVE, "dill.dump(params"))]
    assert all(
        s.get("callee") != "json.dump" or "manifest" in s["detail"] for s in result["surfaces"]
    )  # json.dump(params) is not a surface
    writers = surfaces_of(result, "archive-writer")
    assert [s["line"] for s in writers] == [
        line_of(ARCHIVE, 'ZipFile(zip_path, "w")'),
        line_of(ARCHIVE, 'ZipFile(zip_path, "a")'),
    ]
    assert only(result, "pickle-load")["function"] == "save_bundle"
    literals = {s["line"]: s for s in surfaces_of(result, "path-literal")}
    fstring = literals[line_of(ARCHIVE, 'f"{base_path}.zip"')]
    assert (fstring["literal"], fstring["detail"]) == ('f"{base_path}.zip"', "contains .zip")
    assert line_of(ARCHIVE, '"manifest.dill"') in literals
    assert line_of(ARCHIVE, '"manifest.dill"', nth=2) in literals


def test_syntax_error_is_reported_and_scan_continues(tmp_path: Path) -> None:
    write_package(tmp_path, {"broken.py": "import torch\n\ndef f(:\n    pass\n", "train.py": TRAIN})
    result = scan(tmp_path)
    assert result["files_scanned"] == 3
    [error] = result["parse_errors"]
    assert error["path"] == "ptycho_torch/broken.py"
    assert error["line"] == 3
    assert error["message"].startswith("ptycho_torch/broken.py:3: ")
    assert only(result, "lightning-checkpoint")["path"] == "ptycho_torch/train.py"


def test_missing_package_is_not_an_error(tmp_path: Path) -> None:
    result = scan(tmp_path)
    assert result == {
        "package": "ptycho_torch",
        "present": False,
        "files_scanned": 0,
        "surfaces": [],
        "parse_errors": [],
    }


def test_other_package_name(tmp_path: Path) -> None:
    write_package(tmp_path, {"train.py": TRAIN}, package="other_torch")
    assert scan(tmp_path)["present"] is False
    result = scan(tmp_path, package="other_torch")
    assert only(result, "lightning-checkpoint")["anchor"].startswith("other_torch/train.py:")


def test_malformed_toml_names_file_line_and_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[surface]]\nkind = "x"\ndescribe "missing equals"\n', encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_patterns(bad)
    message = str(info.value)
    assert str(bad) in message
    assert "line 3" in message
    assert "Fix:" in message


def test_schema_errors_name_the_table_line(tmp_path: Path) -> None:
    bad = tmp_path / "schema.toml"
    bad.write_text(
        '# header\n[[surface]]\nkind = "a"\ndescribe = "ok"\ncall = ["f"]\n\n'
        '[[surface]]\nkind = "b"\ndescribe = "typo"\ncal = ["g"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"schema\.toml:7: .*unknown key\(s\) cal.*Fix:"):
        load_patterns(bad)
    bad.write_text(
        '[[surface]]\nkind = "a"\ndescribe = "two"\ncall = ["f"]\nliteral_contains = [".ckpt"]\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match="exactly one matcher family"):
        load_patterns(bad)
    bad.write_text('[[surface]]\nkind = "a"\ndescribe = "x"\ndef = ["f"]\nkeywords = ["k"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="only applies to call rules"):
        load_patterns(bad)


def test_custom_patterns(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        textwrap.dedent("""\
        [[surface]]
        kind = "np-save"
        call_dotted = ["numpy.savez"]
        describe = "numpy archive"
        [[surface]]
        kind = "yaml"
        call_prefix = ["yaml."]
        describe = "yaml"
        """),
        encoding="utf-8",
    )
    write_package(tmp_path, {"m.py": "import numpy as np\nimport yaml\nnp.savez('a.npz', x=1)\nyaml.safe_dump({})\n"})
    result = scan(tmp_path, patterns=load_patterns(rules))
    assert [(s["kind"], s["line"]) for s in result["surfaces"]] == [("np-save", 3), ("yaml", 4)]
    assert group_by_kind(result) == {"np-save": [result["surfaces"][0]], "yaml": [result["surfaces"][1]]}


def test_group_by_kind(train_scan: dict) -> None:
    groups = group_by_kind(train_scan)
    assert list(groups) == sorted(groups)
    assert sum(len(v) for v in groups.values()) == len(train_scan["surfaces"])
    assert [s["callee"] for s in groups["mlflow-setup"]] == [
        "mlflow.pytorch.autolog",
        "mlflow.set_experiment",
        "mlflow.start_run",
    ]


def test_scan_never_imports_the_target_or_torch(tmp_path: Path) -> None:
    write_package(
        tmp_path,
        {"train.py": TRAIN, "aliases.py": ALIASES, "__init__.py": "import torch\nraise SystemExit('imported!')\n"},
    )
    # a decoy `torch` package next to the target: importing it would show up too
    (tmp_path / "torch").mkdir()
    code = textwrap.dedent(f"""\
        import json, sys
        from harness.static.torchscan import scan
        result = scan({str(tmp_path)!r})
        print(json.dumps({{"n": len(result["surfaces"]),
                          "leaked": sorted(m for m in sys.modules
                                           if m.split(".")[0] in
                                           ("torch", "lightning", "mlflow", "ptycho_torch"))}}))
        """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout)
    assert report["n"] > 5
    assert report["leaked"] == []


def test_cli_prints_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_package(tmp_path, {"train.py": TRAIN})
    assert torchscan.main([str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "[lightning-checkpoint] 1" in text
    assert torchscan.main([str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["present"] is True
    bad = tmp_path / "bad.toml"
    bad.write_text("[[surface]\n", encoding="utf-8")
    assert torchscan.main([str(tmp_path), "--patterns", str(bad)]) == 2
    assert "bad.toml" in capsys.readouterr().err


REAL_MAIN = Path("/work/ptycho-src/main")


@pytest.mark.skipif(not (REAL_MAIN / "ptycho_torch").is_dir(), reason="no PtychoPINN checkout")
def test_real_checkout_is_sensible() -> None:
    """Loose checks only: the anchors themselves are computed, never remembered."""
    result = scan(REAL_MAIN)
    assert result["parse_errors"] == []
    train = [s for s in result["surfaces"] if s["path"] == "ptycho_torch/train.py"]
    kinds = {s["kind"] for s in train}
    assert {"lightning-checkpoint", "lightning-trainer", "mlflow-setup"} <= kinds
    callees = [s.get("callee") for s in train]
    assert {"mlflow.pytorch.autolog", "mlflow.set_experiment", "mlflow.start_run"} <= set(callees)
    assert any(s["kind"] == "torch-save" and s["path"] == "ptycho_torch/model_manager.py" for s in result["surfaces"])
