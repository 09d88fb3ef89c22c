"""callchain inspect on what torch and Lightning really write (tests/fixtures/torch, made by its make_fixtures.py).

Genuine files exit 0 or 1, never 2; every name their pickles import is one the contract admits;
a genuine-looking PyTorch archive that breaks a clause exits 1 naming the clause, and with
``--root`` the spec sentence at its path:line (found by text on the given tree, never remembered).
Real files from real runs: ``CALLCHAIN_TORCH_ARCHIVE`` and ``CALLCHAIN_TORCH_PAYLOAD``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import dill
import pytest
from archive_builders import TORCH_FIXTURES, write_zip
from conftest import REPO
from helpers import real_files

from harness import contract
from harness.inspect import allowlist
from harness.inspect.sandbox import describe_archive

GENUINE = {  # file → (exit code, the checks that fail)
    "state_dict.pt": (0, set()),
    "lightning.ckpt": (0, set()),
    "checkpoints/last.ckpt": (0, set()),
    "lightning_logs/version_0/hparams.yaml": (0, set()),
    "module.pt": (1, {"payload.torch"}),
    "torch-spec/wts.h5.zip": (0, set()),
    "torch-main/wts.h5.zip": (
        1,
        {"manifest.backend", "torch.ckpt[autoencoder]", "torch.ckpt[diffraction_to_obj]", "torch.weights[autoencoder]"},
    ),
    "torch-tad/wts.h5.zip": (
        1,
        {"manifest.backend", "torch.ckpt[autoencoder]", "torch.ckpt[diffraction_to_obj]", "torch.weights[autoencoder]"},
    ),
}
# Sentences of PtychoPINN's spec (specs/ptychodus_api_spec.md, main) the torch checks cite, and one like the demo's.
SPEC = """# API

#### 4.4.1. Inference Model I/O Shapes (Authoritative)

The inference bundle (`wts.h5.zip`) MUST contain two models: `autoencoder` and
`diffraction_to_obj`. External callers SHALL invoke `diffraction_to_obj`.

#### 4.6. Model Persistence Contract

Archive identification and backend tagging
- File name: Model archives SHALL use the canonical base name `wts.h5` with a zip extension, i.e. `wts.h5.zip`.
- Manifest: Archives SHALL include a `manifest.dill` at the root with, at minimum, `{'models': [...], 'version': 'X.Y'}`.
  PyTorch archives MUST additionally include `backend: 'pytorch'`; TensorFlow MAY omit this field and defaults to `'tensorflow'`.

#### 4.7. Backend-Specific Runtime Requirements

- Checkpoint persistence MUST produce `wts.h5.zip` archives compatible with the TensorFlow persistence contract (§4.6), containing both Lightning `.ckpt` state and bundled hyperparameters for state-free reload.
- Loading SHALL restore `params.cfg` from the archive's `params.dill`, including `intensity_scale`.
"""


def failed(desc: dict) -> set[str]:
    return {c["id"] for c in desc["clauses"] if c["status"] == "fail"}


@pytest.mark.parametrize("name", sorted(GENUINE))
def test_genuine_torch_files_are_never_hostile(name: str) -> None:
    desc = describe_archive(TORCH_FIXTURES / name)
    code, failing = GENUINE[name]
    assert desc["problems"] == [] and desc["exit_code"] == code, (desc["summary"], desc["problems"][:2])
    assert failed(desc) == failing
    if not name.endswith("wts.h5.zip"):
        assert desc["payload"] in ("torch", "yaml") and desc["backend"] == "pytorch"
        assert not any(c["id"].startswith(("manifest.", "models.", "tf.")) for c in desc["clauses"])


def test_payloads_are_read_as_what_they_are() -> None:
    sd = describe_archive(TORCH_FIXTURES / "state_dict.pt")["payloads"]["state_dict.pt"]
    assert sd["form"] == "state_dict" and sd["tensors"] == 2  # Linear(2, 2): weight and bias
    ckpt = describe_archive(TORCH_FIXTURES / "lightning.ckpt")["payloads"]["lightning.ckpt"]
    assert ckpt["form"] == "lightning_checkpoint" and ckpt["hyper_parameters"] == ["model_config", "data_config", "lr"]
    assert ckpt["scales"] == {"hyper_parameters.model_config.intensity_scale": 10000.0}
    module = describe_archive(TORCH_FIXTURES / "module.pt")["payloads"]["module.pt"]
    assert module["form"] == "module" and "torch.nn.modules.linear.Linear" in module["classes"]
    main = describe_archive(TORCH_FIXTURES / "torch-main" / "wts.h5.zip")
    assert main["payloads"]["autoencoder/model.pth"]["sentinel"] == {"_sentinel": "autoencoder"}
    assert main["payloads"]["torch_scaling_metadata.pt"]["scales"] == {"model_config.intensity_scale": 10000.0}
    yaml = describe_archive(TORCH_FIXTURES / "lightning_logs" / "version_0" / "hparams.yaml")
    assert "model_config" in yaml["clauses"][0]["detail"]


def test_the_allow_list_admits_every_name_the_genuine_files_import() -> None:
    """Checked against the fixtures: each global is a checkpoint callable/reference or a torch.nn class."""
    seen: set[str] = set()
    for name in GENUINE:
        for label, pickle in describe_archive(TORCH_FIXTURES / name)["pickles"].items():
            assert pickle["hazards"] == [] and pickle["error"] is None, (name, label)
            seen.update(pickle["globals"])
            for glob in pickle["globals"]:
                allowed = allowlist.REFERENCE[pickle["kind"]] | allowlist.CALLABLE[pickle["kind"]]
                spaces = allowlist.REFERENCE_NAMESPACES.get(pickle["kind"], ())
                assert glob in allowed or glob.startswith(tuple(s + "." for s in spaces)), (name, label, glob)
    assert {"torch._utils._rebuild_tensor_v2", "collections.OrderedDict", "torch.FloatStorage"} <= seen


# --- genuine-looking archives that break one clause each ---------------------------------------------


def spec_members() -> dict[str, bytes]:
    with zipfile.ZipFile(TORCH_FIXTURES / "torch-spec" / "wts.h5.zip") as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _params(**change: object) -> bytes:
    params = dill.loads(spec_members()["autoencoder/params.dill"])  # our own fixture: trusted
    params.update(change)
    return dill.dumps({k: v for k, v in params.items() if v is not DROP})


DROP = object()
SENTINEL = (TORCH_FIXTURES / "torch-main" / "wts.h5.zip", "autoencoder/model.pth")


def _sentinel() -> bytes:
    with zipfile.ZipFile(SENTINEL[0]) as zf:
        return zf.read(SENTINEL[1])


BREAKS = {  # what is changed → (the check that fails, the spec sentence it cites, by its words)
    "no-backend-tag": (
        lambda m: m.update({"manifest.dill": dill.dumps({"models": list(contract.REQUIRED_MODELS), "version": "2.0"})}),
        "manifest.backend",
        "PyTorch archives MUST additionally include",
    ),
    "no-ckpt": (
        lambda m: m.pop("diffraction_to_obj/model.ckpt"),
        "torch.ckpt[diffraction_to_obj]",
        "Checkpoint persistence",
    ),
    "no-model": (
        lambda m: [m.pop(k) for k in list(m) if k.startswith("autoencoder/")],
        "models.required",
        "MUST contain two models",
    ),
    "params-key-missing": (
        lambda m: m.update({"autoencoder/params.dill": _params(gridsize=DROP)}),
        "torch.params[autoencoder]",
        "Loading SHALL restore",
    ),
    "intensity-scale-not-a-number": (
        lambda m: m.update({"autoencoder/params.dill": _params(intensity_scale="auto")}),
        "torch.intensity_scale[autoencoder]",
        "including `intensity_scale`",
    ),
    "intensity-scale-disagrees": (
        lambda m: m.update({"autoencoder/params.dill": _params(intensity_scale=1.0)}),
        "torch.intensity_scale[diffraction_to_obj]",  # the second model disagrees with the first
        "including `intensity_scale`",
    ),
    "sentinel-model": (
        lambda m: m.update({"autoencoder/model.ckpt": _sentinel()}),
        "torch.weights[autoencoder]",
        "MUST contain two models",
    ),
}


def inspect_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "harness", "inspect", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_a_broken_clause_exits_1_naming_it_and_its_spec_line(tmp_path: Path, case: str) -> None:
    change, check, words = BREAKS[case]
    members = spec_members()
    change(members)
    archive = write_zip(tmp_path / "wts.h5.zip", members)
    desc = describe_archive(archive)
    assert desc["exit_code"] == 1 and check in failed(desc), (desc["summary"], failed(desc))
    root = tmp_path / "root"
    (root / "specs").mkdir(parents=True)
    (root / "specs" / "api.md").write_text(SPEC)
    line = next(i for i, text in enumerate(SPEC.splitlines(), 1) if words in text)
    done = inspect_cli(str(archive), "--root", str(root))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{check} (specs/api.md:" in done.stdout.splitlines()[1]
    cited = [s for s in done.stdout.splitlines() if s.strip().startswith("spec specs/api.md:")]
    assert any(f"specs/api.md:{line}:" in s or f"specs/api.md:{line - 1}:" in s for s in cited), (line, cited)


def test_inspect_root_must_be_a_folder(tmp_path: Path) -> None:
    done = inspect_cli(str(TORCH_FIXTURES / "torch-main" / "wts.h5.zip"), "--root", str(tmp_path / "nope"))
    assert done.returncode == 2 and done.stderr.startswith("error: --root") and "Traceback" not in done.stderr


def test_a_torch_zip_under_another_name_is_judged_as_a_payload(tmp_path: Path) -> None:
    renamed = tmp_path / "weights.zip"
    renamed.write_bytes((TORCH_FIXTURES / "state_dict.pt").read_bytes())
    desc = describe_archive(renamed)
    assert desc["exit_code"] == 0 and desc["payload"] == "torch", desc["summary"]


def test_a_hostile_standalone_checkpoint_stays_hostile(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = (
        b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8c"
        + bytes([len(f"touch {marker}")])
        + os.fsencode(f"touch {marker}")
        + b"\x85R."
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", evil)
        zf.writestr("archive/version", "3")
    for name, data in (("evil.ckpt", buf.getvalue()), ("evil.pt", evil), ("evil.zip", buf.getvalue())):
        (tmp_path / name).write_bytes(data)
        desc = describe_archive(tmp_path / name)
        assert desc["exit_code"] == 2 and "os.system" in desc["summary"], (name, desc["summary"])
    assert not marker.exists()


@real_files(
    "CALLCHAIN_TORCH_ARCHIVE",
    "PyTorch wts.h5.zip files written by real runs (os.pathsep-separated), "
    "e.g. the torch-persistence scenario's archives of main and torchapi-devel",
)
def test_real_pytorch_archive(path: str) -> None:
    """A real PyTorch archive: never hostile; its rows match the zip itself (members, params keys, scale)."""
    desc = describe_archive(path)
    assert desc["exit_code"] in (0, 1) and desc["problems"] == [], desc["summary"]
    with zipfile.ZipFile(path) as zf:
        assert {m["name"]: m["size"] for m in desc["members"]} == {i.filename: i.file_size for i in zf.infolist()}
        manifest = dill.loads(zf.read("manifest.dill"))  # plain data, judged safe just above
        assert desc["manifest"] == manifest
        for name, params in desc["params"].items():
            real = dill.loads(zf.read(name))
            assert sorted(params) == sorted(real) and params["intensity_scale"] == real["intensity_scale"]
    expected = set() if manifest.get("backend") == "pytorch" else {"manifest.backend"}
    assert expected <= failed(desc)


@real_files(
    "CALLCHAIN_TORCH_PAYLOAD", "Lightning .ckpt / hparams.yaml files written by real runs (os.pathsep-separated)"
)
def test_real_torch_payload(path: str) -> None:
    desc = describe_archive(path)
    assert desc["exit_code"] == 0 and desc["problems"] == [], (desc["summary"], desc["problems"][:2])
