"""callchain parity A B: a TensorFlow archive beside PyTorch ones, every row checked against the files.

The always-on tests compare an archive built like ModelManager's (tests/archive_builders.py) with the
torch fixtures (tests/fixtures/torch); ``CALLCHAIN_PARITY`` names real pairs from real runs.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import dill
import h5py
import pytest
from archive_builders import TORCH_FIXTURES, tf_members, write_zip
from conftest import REPO

from harness.inspect.parity import compare, normal, same, verdict
from harness.inspect.sandbox import describe_archive
from harness.report.parity import parity

MAIN = TORCH_FIXTURES / "torch-main" / "wts.h5.zip"
SPEC = TORCH_FIXTURES / "torch-spec" / "wts.h5.zip"


@pytest.fixture(scope="module")
def tf_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_zip(tmp_path_factory.mktemp("tf") / "wts.h5.zip", tf_members())


def rows_of(result, section: str) -> dict[str, dict]:
    return {r["item"]: r for r in result.rows if r["section"] == section}


def check_rows_against_files(result, a: Path, b: Path) -> None:
    """Each row of members, manifest, params and intensity_scale is what the zips hold (read here with zipfile/dill/h5py)."""
    for side, path in (("a", a), ("b", b)):
        with zipfile.ZipFile(path) as zf:
            sizes = {i.filename: i.file_size for i in zf.infolist()}
            for name, row in rows_of(result, "members").items():
                assert (row[side] == "—") == (name not in sizes) and (
                    name not in sizes or row[side].endswith(f", {sizes[name]} B")
                )
            manifest = dill.loads(zf.read("manifest.dill"))  # our own fixtures and builders: trusted
            for key, row in rows_of(result, "manifest").items():
                assert row[side] == manifest.get(key, "—")
            member = "diffraction_to_obj/params.dill"
            params = dill.loads(zf.read(member))
            for key, row in rows_of(result, "params").items():
                if key not in params:
                    assert row[side] == "—"
                elif isinstance(row[side], dict) and "array" in row[side]:
                    assert row[side]["array"]["shape"] == list(params[key].shape)
                elif isinstance(params[key], float):
                    assert math.isclose(row[side], params[key])
                elif isinstance(params[key], (int, str, bool)) or params[key] is None:
                    assert row[side] == params[key], key
            for where, row in rows_of(result, "intensity_scale").items():
                if row[side] == "—" or where.startswith("A's"):
                    continue
                member, _, inside = where.partition(" ")
                if member.endswith("params.dill"):
                    assert row[side] == dill.loads(zf.read(member))["intensity_scale"]
                elif member.endswith("model.h5"):
                    with h5py.File(zf.open(member), "r") as h5:
                        assert math.isclose(row[side], float(h5.attrs["intensity_scale"]), rel_tol=1e-6)
    clauses_a = {c["id"]: c["status"] for c in describe_archive(a)["clauses"]}
    for row in rows_of(result, "clauses").values():
        assert row["a"].startswith(clauses_a[row["item"].split(" ↔ ")[0]] + ":")


def test_tf_against_what_main_writes(tf_archive: Path) -> None:
    result = parity(str(tf_archive), str(MAIN))
    assert result.exit_code == 1 and not result
    broken = {r["item"].split(" ↔ ")[0] for r in result.breaks()}
    assert broken == {
        "manifest.backend",
        "models.required",
        "tf.model_keras[autoencoder]",
        "tf.model_keras[diffraction_to_obj]",
    }
    clauses = rows_of(result, "clauses")
    assert clauses["tf.model_keras[autoencoder] ↔ torch.ckpt[autoencoder]"]["clause"] == "model.keras ↔ torch.ckpt"
    assert "_sentinel" in clauses["models.required"]["b"]
    scale = rows_of(result, "intensity_scale")
    assert scale["torch_scaling_metadata.pt model_config.intensity_scale"]["b"] == 10000.0
    assert scale["A's first vs B's first"]["status"] == "same"  # 988.2117688026185 vs its float32 988.2117309570312
    check_rows_against_files(result, tf_archive, MAIN)
    assert "B breaks 4 clause(s) A meets" in repr(result) and "manifest.backend" in result.markdown()


def test_tf_against_what_the_spec_asks(tf_archive: Path) -> None:
    result = parity(str(tf_archive), str(SPEC))
    assert result.exit_code == 0 and result, result
    check_rows_against_files(result, tf_archive, SPEC)


def test_identical_archives_and_tolerance(tf_archive: Path) -> None:
    desc = describe_archive(tf_archive)
    rows = compare(desc, desc)
    assert verdict(desc, desc, rows)[0] == 0 and not [r for r in rows if r["status"] not in ("met", "same")]
    assert same(988.2117688026185, 988.2117309570312, 1e-6) and not same(988.2117688026185, 988.2117309570312, 1e-9)
    assert normal(
        {"__global__": "numpy.core.multiarray._reconstruct", "ndarray": {"shape": [2], "dtype": "float32"}}
    ) == {"array": {"shape": [2], "dtype": "float32"}}


def test_hostile_or_missing_side_exits_2(tmp_path: Path, tf_archive: Path) -> None:
    evil = tmp_path / "evil" / "wts.h5.zip"
    evil.parent.mkdir()
    members = tf_members()
    members["autoencoder/params.dill"] = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8c\x04true\x85R."
    write_zip(evil, members)
    assert parity(str(tf_archive), str(evil)).exit_code == 2
    assert parity(str(tmp_path / "nothing"), str(tf_archive)).exit_code == 2


def callchain(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_command_line(tf_archive: Path, tmp_path: Path) -> None:
    done = callchain("parity", str(tf_archive), str(MAIN), "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    data = json.loads(done.stdout)
    assert data["exit_code"] == 1 and {r["section"] for r in data["rows"]} >= {"clauses", "members", "params"}
    done = callchain("parity", str(tf_archive), str(SPEC))
    assert done.returncode == 0 and done.stdout.startswith("# callchain parity") and "| ✓ |" in done.stdout
    done = callchain("parity", str(tf_archive), str(MAIN), "--rel-tol", "nan")
    assert done.returncode == 2 and done.stderr.startswith("error: --rel-tol") and "Traceback" not in done.stderr
    done = callchain("parity", str(tf_archive), str(tmp_path / "absent.zip"))
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr


def test_the_pytest_fixture(callchain_parity, tf_archive: Path) -> None:
    assert callchain_parity(tf_archive, SPEC)
    assert not callchain_parity(tf_archive, MAIN)


@pytest.mark.slow
def test_runs_add_writers_and_what_load_restored(demo_runs) -> None:
    """Two traced runs: each row names the line that wrote its member; restored keys are compared."""
    result = parity(str(demo_runs.first.report), str(demo_runs.second.report / "trace" / "run.json"))
    assert result.exit_code == 0, result
    members = rows_of(result, "members")
    assert members["manifest.dill"]["writer_a"].startswith("ptycho/model_manager.py:")
    restored = rows_of(result, "restored")
    assert "intensity_scale" in restored and all(r["status"] == "same" for r in restored.values())
    assert any(r["spec"] for r in result.rows if r["section"] == "clauses")  # the runs' own spec


PAIRS = [p.split(os.pathsep) for p in os.environ.get("CALLCHAIN_PARITY", "").split(";") if p]


@pytest.mark.skipif(
    not PAIRS,
    reason="set CALLCHAIN_PARITY to 'TF_ARCHIVE" + os.pathsep + "TORCH_ARCHIVE' pairs of one revision (';'-separated), "
    "written by real runs (tf-persistence --variant train and torch-persistence)",
)
@pytest.mark.parametrize("index", range(max(len(PAIRS), 1)))
def test_real_tf_against_real_pytorch(index: int) -> None:
    tf, torch = PAIRS[index]
    result = parity(tf, torch)
    assert result.exit_code in (0, 1) and result.a.description["backend"] == "tensorflow"
    check_rows_against_files(result, Path(tf), Path(torch))
