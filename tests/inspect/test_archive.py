"""Tests for harness.inspect (callchain inspect): real zips, dill pickles and HDF5 images built in tmp_path, no mocks."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import dill
import numpy as np
import pytest
from archive_builders import (
    MODELS,
    SCALE,
    TORCH_FIXTURES,
    params_dill,
    sbu,
    tf_members,
    torch_members,
    write_zip,
)
from conftest import REPO

from harness.inspect.cli import main, render_text
from harness.inspect.reader import decode_pickle
from harness.inspect.sandbox import describe_archive


def tree(root: Path) -> list[str]:
    """Everything under root except the TMPDIR that run_cli creates (it checks that one itself)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name == "_tmpdir")


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``main`` in a fresh interpreter, with TMPDIR pointing at an empty folder we watch."""
    tmpdir = tmp_path / "_tmpdir"
    tmpdir.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmpdir))
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from harness.inspect.cli import main; sys.exit(main(sys.argv[1:]))", *args],
        cwd=str(REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert list(tmpdir.iterdir()) == []
    return proc


def by_id(desc: dict) -> dict[str, dict]:
    return {c["id"]: c for c in desc["clauses"]}


# --- the valid archive ----------------------------------------------------------------------


def test_valid_tf_archive_meets_contract(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "wts.h5.zip", tf_members())
    before = tree(tmp_path)
    desc = describe_archive(path)
    assert tree(tmp_path) == before
    assert desc["exit_code"] == 0 and desc["status"] == "ok", desc["clauses"]
    assert desc["backend"] == "tensorflow" and desc["backend_source"] == "default: no tag"
    assert all(c["status"] == "pass" for c in desc["clauses"]), [c for c in desc["clauses"] if c["status"] != "pass"]
    assert desc["problems"] == []
    assert desc["manifest"] == {"models": list(MODELS), "version": "1.0"}
    names = [m["name"] for m in desc["members"]]
    assert names == sorted(names) and len(names) == 9
    assert all(m["size"] > 0 and m["compressed_size"] > 0 for m in desc["members"])

    model = desc["models"]["diffraction_to_obj"]
    assert model["keras_members"] == ["config.json", "metadata.json", "model.weights.h5"]
    assert model["h5_attrs"] == {"intensity_scale": pytest.approx(SCALE, rel=1e-6)}
    assert model["params_keys"] == sorted(
        ["N", "gridsize", "intensity_scale", "nphotons", "probe", "output_prefix", "_version"]
    )
    assert model["params_values"] == {"N": 64, "gridsize": 1, "intensity_scale": SCALE}
    assert model["custom_objects_names"] == ["CombineComplexLayer", "ProbeIllumination", "negloglik"]
    assert model["custom_objects_refs"]["negloglik"] == "ptycho.model.negloglik"
    # float32 rounding in model.h5 is reported, not counted as a disagreement
    assert "float32" in by_id(desc)["tf.intensity_scale[autoencoder]"]["detail"]
    # the numpy probe is a reference, listed by name, never imported
    globals_ = desc["pickles"]["autoencoder/params.dill"]["globals"]
    assert "numpy.ndarray" in globals_ and "pathlib.PosixPath" in globals_
    assert desc["pickles"]["autoencoder/params.dill"]["hazards"] == []

    text = render_text(desc)
    assert "PASS" in text and "FAIL" not in text and "diffraction_to_obj/model.keras" in text
    # deterministic and JSON-serialisable
    assert json.dumps(desc) == json.dumps(describe_archive(path))


def test_path_forms(tmp_path: Path) -> None:
    """Callers pass ``wts.h5`` (no .zip) or the output folder; both find the archive."""
    write_zip(tmp_path / "wts.h5.zip", tf_members())
    for given in (tmp_path / "wts.h5", tmp_path):
        desc = describe_archive(given)
        assert desc["exit_code"] == 0
        assert desc["archive"] == str(tmp_path / "wts.h5.zip")
    missing = describe_archive(tmp_path / "nope.zip")
    assert missing["exit_code"] == 2 and missing["status"] == "unreadable"
    assert "does not exist" in missing["summary"]
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert "directory without wts.h5.zip" in describe_archive(empty_dir)["summary"]


def test_cli_json_and_text(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "wts.h5.zip", tf_members())
    before = tree(tmp_path)
    proc = run_cli(tmp_path, str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert list(doc)[:4] == ["path", "archive", "status", "exit_code"]
    assert doc["status"] == "ok"
    assert run_cli(tmp_path, str(path), "--json").stdout == proc.stdout  # byte-identical
    text = run_cli(tmp_path, str(tmp_path / "wts.h5"))
    assert text.returncode == 0 and "meets the persistence contract" in text.stdout
    assert tree(tmp_path) == before


# --- hostile archives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "member, needle",
    [
        ("../evil.txt", "escapes the archive root"),
        ("/tmp/evil", "absolute path"),
        ("autoencoder\\evil", "backslash"),
    ],
)
def test_unsafe_member_names(tmp_path: Path, member: str, needle: str) -> None:
    members = tf_members()
    members[member] = b"pwned"
    path = write_zip(tmp_path / "wts.h5.zip", members)
    before = tree(tmp_path)
    desc = describe_archive(path)
    assert desc["status"] == "hostile" and desc["exit_code"] == 2
    assert needle in desc["summary"] and desc["problems"][0]["member"] == member
    assert desc["pickles"] == {}  # nothing was read
    assert all(c["status"] == "skip" for c in desc["clauses"])
    proc = run_cli(tmp_path, str(path))
    assert proc.returncode == 2 and needle in proc.stderr and proc.stderr.startswith("error: ")
    assert tree(tmp_path) == before


def test_symlink_and_duplicate_members(tmp_path: Path) -> None:
    path = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in tf_members().items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("autoencoder/link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
        with pytest.warns(UserWarning):
            zf.writestr("manifest.dill", dill.dumps({"models": [], "version": "0"}))
    desc = describe_archive(path)
    kinds = {p["kind"] for p in desc["problems"]}
    assert desc["exit_code"] == 2 and {"symlink", "duplicate"} <= kinds


def test_pickle_that_would_run_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # what a hostile params.dill does
            return (os.system, (f"touch {marker}",))

    members = tf_members()
    members["diffraction_to_obj/params.dill"] = pickle.dumps(Evil())
    path = write_zip(tmp_path / "wts.h5.zip", members)
    desc = describe_archive(path)
    assert not marker.exists()
    assert desc["status"] == "hostile" and desc["exit_code"] == 2
    hazards = desc["pickles"]["diffraction_to_obj/params.dill"]["hazards"]
    assert any("would call" in h and f"{os.name == 'nt' and 'nt' or 'posix'}.system" in h for h in hazards)
    assert "unpickling would execute code" in desc["summary"] and "offset" in desc["summary"]
    proc = run_cli(tmp_path, str(path), "--json")
    assert proc.returncode == 2 and "execute code" in proc.stderr
    assert json.loads(proc.stdout)["status"] == "hostile"
    assert not marker.exists()


def test_zip_bomb_is_refused_before_reading(tmp_path: Path) -> None:
    members = tf_members()
    members["autoencoder/model.keras"] = b"\0" * (50 * 1024 * 1024)
    path = write_zip(tmp_path / "wts.h5.zip", members)
    desc = describe_archive(path)
    assert desc["status"] == "hostile" and desc["exit_code"] == 2
    assert desc["problems"][0]["kind"] == "bomb" and "zip bomb" in desc["summary"]
    assert desc["pickles"] == {} and desc["models"] == {}
    proc = run_cli(tmp_path, str(path))
    assert proc.returncode == 2 and "zip bomb" in proc.stderr


# --- unreadable files -----------------------------------------------------------------------


def test_not_a_zip_empty_and_truncated(tmp_path: Path) -> None:
    not_zip = tmp_path / "archive.zip"
    not_zip.write_bytes(b"this is not a zip file at all")
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    good = write_zip(tmp_path / "good.zip", tf_members()).read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good[: len(good) // 2])
    before = tree(tmp_path)
    cases = [
        (not_zip, "is not a zip file (no zip end record)"),
        (empty, "is empty"),
        (truncated, "truncated or corrupt"),
        (tmp_path / "missing", "does not exist"),
    ]
    for path, needle in cases:
        desc = describe_archive(path)
        assert desc["status"] == "unreadable" and desc["exit_code"] == 2, path
        assert needle in desc["summary"]
        proc = run_cli(tmp_path, str(path))
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith("error: ") and needle in proc.stderr and "wts.h5.zip" in proc.stderr
        assert proc.stderr.count("\n") == 1
    assert tree(tmp_path) == before


# --- contract violations --------------------------------------------------------------------


def test_missing_manifest(tmp_path: Path) -> None:
    members = tf_members()
    del members["manifest.dill"]
    desc = describe_archive(write_zip(tmp_path / "wts.h5.zip", members))
    assert desc["exit_code"] == 1 and desc["status"] == "violations"
    clauses = by_id(desc)
    assert clauses["manifest.present"]["status"] == "fail"
    assert "no manifest.dill" in clauses["manifest.present"]["detail"]
    assert clauses["manifest.keys"]["status"] == "skip"


def test_missing_model(tmp_path: Path) -> None:
    members = tf_members(models=("autoencoder",), manifest={"models": ["autoencoder"], "version": "1.0"})
    desc = describe_archive(write_zip(tmp_path / "wts.h5.zip", members))
    assert desc["exit_code"] == 1
    clauses = by_id(desc)
    assert clauses["models.required"]["status"] == "fail"
    assert "diffraction_to_obj not in manifest" in clauses["models.required"]["detail"]
    assert clauses["tf.model_keras[diffraction_to_obj]"]["status"] == "fail"
    proc = run_cli(tmp_path, str(tmp_path / "wts.h5.zip"))
    assert proc.returncode == 1 and "FAIL" in proc.stdout and proc.stderr == ""


def test_manifest_without_version(tmp_path: Path) -> None:
    members = tf_members(manifest={"models": list(MODELS)})
    desc = describe_archive(write_zip(tmp_path / "wts.h5.zip", members))
    assert desc["exit_code"] == 1 and by_id(desc)["manifest.keys"]["detail"] == "missing: version"


def test_pytorch_archive_must_carry_backend_tag(tmp_path: Path) -> None:
    ckpt = io.BytesIO((TORCH_FIXTURES / "lightning.ckpt").read_bytes())  # what Lightning writes
    desc = describe_archive(write_zip(tmp_path / "wts.h5.zip", torch_members(tag=False, ckpt=ckpt.getvalue())))
    assert desc["exit_code"] == 1 and desc["backend"] == "pytorch"
    clause = by_id(desc)["manifest.backend"]
    assert clause["status"] == "fail" and "add 'backend': 'pytorch'" in clause["detail"]
    assert by_id(desc)["torch.ckpt[autoencoder]"]["status"] == "pass"
    tagged = describe_archive(write_zip(tmp_path / "tagged.zip", torch_members(tag=True, ckpt=ckpt.getvalue())))
    assert tagged["exit_code"] == 0, tagged["clauses"]
    assert tagged["backend"] == "pytorch" and tagged["backend_source"] == "tag"


def test_intensity_scale_disagreement(tmp_path: Path) -> None:
    members = tf_members(h5_scale=2.0, params_scale=1.0)
    desc = describe_archive(write_zip(tmp_path / "wts.h5.zip", members))
    assert desc["exit_code"] == 1
    clause = by_id(desc)["tf.intensity_scale[autoencoder]"]
    assert clause["status"] == "fail" and "1.0" in clause["detail"] and "2.0" in clause["detail"]


# --- the pickle reader on its own -------------------------------------------------------------


def test_references_to_unimportable_classes_are_not_hostile() -> None:
    """A real custom_objects.dill names ptycho classes; they decode as references."""
    data = (
        b"\x80\x04}("
        + sbu("CombineComplexLayer")
        + sbu("ptycho.custom_layers")
        + sbu("CombineComplexLayer")
        + b"\x93u."
    )
    report = decode_pickle(data, "custom_objects")
    assert report.error is None and report.hazards == []
    assert report.plain() == {"CombineComplexLayer": {"__global__": "ptycho.custom_layers.CombineComplexLayer"}}


def test_dangerous_reference_gadget_and_build_are_hostile() -> None:
    assert decode_pickle(pickle.dumps({"f": os.system})).hazards  # referenced, not called
    # getattr(...)(...) style: calling a computed object
    computed = b"\x80\x04" + sbu("operator") + sbu("attrgetter") + b"\x93" + sbu("x") + b"\x85R)R."
    assert any("computed object" in h for h in decode_pickle(computed).hazards)
    # a harmless-looking name is still outside every allow-list
    assert decode_pickle(pickle.dumps({"f": collections.OrderedDict.fromkeys}), "params").hazards
    # pathlib.os.system, reached by walking attributes
    walked = b"\x80\x04" + sbu("pathlib") + sbu("os.system") + b"\x93."
    assert decode_pickle(walked).hazards
    # BUILD on a class itself overwrites its attributes
    build = b"\x80\x04" + sbu("collections") + sbu("OrderedDict") + b"\x93}b."
    assert any("overwrite" in h for h in decode_pickle(build).hazards)


def test_malformed_and_cyclic_pickles_do_not_raise() -> None:
    assert decode_pickle(b"").error
    assert decode_pickle(b"\x80\x04}(").error
    assert decode_pickle(b"\x80\x04t.").error  # TUPLE without MARK
    cyclic: list = []
    cyclic.append(cyclic)
    assert decode_pickle(pickle.dumps(cyclic)).plain() == ["<cycle>"]
    nested: list = []
    for _ in range(40):  # shared references that double at each level
        nested = [nested, nested]
    assert json.dumps(decode_pickle(pickle.dumps(nested)).plain())  # bounded, not 2**40 nodes


@pytest.mark.parametrize("protocol", range(0, 6))
def test_every_protocol_decodes_params_as_data(protocol: int) -> None:
    """Old protocols spell bytes and sets as calls; they still decode, with no hazards."""
    params = {
        "N": 64,
        "gridsize": 2,
        "intensity_scale": np.float64(SCALE),
        "tags": {"a", "b"},
        "probe": np.zeros((8, 8), dtype=np.complex64),
        "raw": b"\x00\xff",
    }
    for dumps in (pickle.dumps, dill.dumps):
        report = decode_pickle(dumps(params, protocol=protocol))
        assert report.error is None and report.hazards == [], (dumps, report.hazards)
        plain = report.plain()
        assert plain["N"] == 64 and plain["tags"] == ["a", "b"] and plain["raw"] == {"__bytes__": 2}
        assert plain["intensity_scale"]["value"] == SCALE
        assert plain["probe"]["ndarray"] == {"shape": [8, 8], "dtype": "complex64"}


def test_class_pickled_by_value_is_reported(tmp_path: Path) -> None:
    """dill pickles a __main__-style class by value: bytecode inside, patched with setattr."""
    namespace: dict = {"__name__": "__main__"}
    exec("class Layer:\n    def call(self, x):\n        return x\n", namespace)
    report = decode_pickle(dill.dumps({"Layer": namespace["Layer"]}))
    assert "dill._dill._create_code" in report.globals and report.hazards


def test_nested_keras_zip_is_checked(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("../../escape.txt", "x")
    members = tf_members()
    members["autoencoder/model.keras"] = inner.getvalue()
    desc = describe_archive(write_zip(tmp_path / "wts.h5.zip", members))
    assert desc["status"] == "hostile" and desc["exit_code"] == 2
    assert desc["problems"][0]["member"] == "autoencoder/model.keras::../../escape.txt"
    assert not (tmp_path.parent / "escape.txt").exists()


def test_realistic_params_with_many_keys(tmp_path: Path) -> None:
    """Like PtychoPINN's params.dill: ~72 keys, paths, numpy scalars, a complex probe."""
    extra = {f"key_{i:02d}": (i if i % 3 else Path(f"/abs/{i}")) for i in range(65)}
    members = tf_members()
    for m in MODELS:
        members[f"{m}/params.dill"] = params_dill(np.float64(SCALE), **extra)
    desc = describe_archive(write_zip(tmp_path / "wts.h5.zip", members))
    assert desc["exit_code"] == 0, [c for c in desc["clauses"] if c["status"] != "pass"]
    model = desc["models"]["autoencoder"]
    assert len(model["params_keys"]) == 72
    assert model["params_values"]["intensity_scale"] == SCALE


def test_main_usage_errors_return_int(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: callchain inspect" in capsys.readouterr().err


REAL_ARCHIVES = [p for p in os.environ.get("CALLCHAIN_ARCHIVE", "").split(os.pathsep) if p]


@pytest.mark.skipif(
    not REAL_ARCHIVES,
    reason="set CALLCHAIN_ARCHIVE to real wts.h5.zip files (os.pathsep-separated), "
    "e.g. the archives `callchain trace` writes for main, torchapi-devel, refactor and the demo",
)
@pytest.mark.parametrize("index", range(max(len(REAL_ARCHIVES), 1)))
def test_real_archive(index: int) -> None:
    """A genuine archive: exit 0, every pickle within its allow-list, no warnings."""
    desc = describe_archive(REAL_ARCHIVES[index])
    assert desc["status"] != "hostile", desc["problems"]
    assert desc["exit_code"] == 0, [c for c in desc["clauses"] if c["status"] != "pass"]
    assert desc["warnings"] == [] and desc["problems"] == []
    assert all(p["hazards"] == [] and p["costs"] == [] and p["error"] is None for p in desc["pickles"].values())
    assert len(desc["models"]["diffraction_to_obj"]["params_keys"]) > 10
    assert {p["kind"] for p in desc["pickles"].values()} >= {"manifest", "params", "custom_objects"}


def test_basename_and_clause_ids(tmp_path: Path) -> None:
    """Each check names the contract clause it proves; a renamed archive is described, not failed."""
    desc = describe_archive(write_zip(tmp_path / "wts.h5.zip", tf_members()))
    checks = by_id(desc)
    assert checks["archive.basename"]["status"] == "pass"
    assert checks["manifest.backend"]["clause"] == "archive.backend-tag"
    assert checks["tf.intensity_scale[autoencoder]"]["clause"] == "model.intensity-scale"
    from harness import contract

    assert {c["clause"] for c in desc["clauses"]} <= set(contract.CLAUSE_BY_ID)
    renamed = describe_archive(write_zip(tmp_path / "copy.zip", tf_members()))
    assert renamed["exit_code"] == 0 and by_id(renamed)["archive.basename"]["status"] == "skip"
    assert "looks for wts.h5.zip" in by_id(renamed)["archive.basename"]["detail"]
