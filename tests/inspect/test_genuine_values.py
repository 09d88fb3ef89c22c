"""Class 6 of issue 24: genuine archives, written by real dill and real zip tools, exit 0.

A config may hold inert standard-library values (range and Ellipsis as dill writes them, dates,
Decimal, paths, sets, OrderedDict, numpy values of every plain dtype), the target's own config
dataclasses and Enums (rebuilt by default means: a warning, not a refusal), and an archive may be
re-zipped by Info-ZIP, shutil or macOS Archive Utility (its __MACOSX/._* files are never read by
the loader). The slow test loads each with the real loader (bounded child): all load.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import os
import pathlib
import pickle
import shutil
import struct
import subprocess
import sys
import types
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill
import numpy as np
import pytest
from archive_builders import MODELS, params_dill, tf_members, write_zip
from hostile_pickles import expect, inspected
from real_loader import real_load


@contextmanager
def target_module(name: str, **attrs: Any) -> Iterator[types.ModuleType]:
    """A module of the target's namespace, importable by name while dill pickles its classes by reference."""
    parts = name.split(".")
    made = [n for n in (".".join(parts[: i + 1]) for i in range(len(parts))) if n not in sys.modules]
    for n in made:
        sys.modules[n] = types.ModuleType(n)
    module = sys.modules[name]
    for key, value in attrs.items():
        value.__module__, value.__qualname__ = name, key
        setattr(module, key, value)
    for i in range(1, len(parts)):
        setattr(sys.modules[".".join(parts[:i])], parts[i], sys.modules[".".join(parts[: i + 1])])
    try:
        yield module
    finally:
        for n in made:
            del sys.modules[n]


@dataclass(frozen=True)
class ModelConfig:
    N: int = 64
    gridsize: int = 1
    model_type: str = "pinn"


@dataclass(frozen=True)
class TrainingConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    output_dir: Path = Path("/data/runs/out")
    nepochs: int = 50


class Orchestration(enum.Enum):
    LIGHTNING = "lightning"
    MLFLOW = "mlflow"


class TrainStrategy(enum.IntEnum):
    TENSORFLOW = 1
    PYTORCH = 2


def ptycho_configs() -> bytes:
    with target_module("ptycho.config.config", ModelConfig=ModelConfig, TrainingConfig=TrainingConfig):
        model = ModelConfig()
        return params_bytes(config=TrainingConfig(model=model), model_config=model)


def ptycho_enums() -> bytes:
    with target_module("ptycho_torch.api.base_api", Orchestration=Orchestration, TrainStrategy=TrainStrategy):
        return params_bytes(orchestration=Orchestration.LIGHTNING, strategy=TrainStrategy.PYTORCH)


def params_bytes(protocol: int | None = None, dumps: Callable[..., bytes] = dill.dumps, **extra: Any) -> bytes:
    """A genuine params.dict (as ModelManager writes it: _version last) with extra values."""
    params = dill.loads(params_dill())  # our own genuine member: trusted
    version = params.pop("_version")
    params.update(extra)
    params["_version"] = version
    return dumps(params) if protocol is None else dumps(params, protocol=protocol)


RNG = np.random.default_rng(0)
VALUES: dict[str, Callable[[], bytes]] = {
    "range-and-ellipsis": lambda: params_bytes(
        scan_range=range(0, 64), epochs=range(1, 51, 5), every=..., ni=NotImplemented
    ),
    "dates": lambda: params_bytes(
        started=datetime.datetime(2025, 6, 1, 12, 30, 5),
        day=datetime.date(2025, 6, 1),
        at=datetime.time(12, 3),
        elapsed=datetime.timedelta(minutes=3, seconds=2),
        utc=datetime.datetime(2025, 6, 1, tzinfo=datetime.timezone.utc),
        zone=datetime.timezone(datetime.timedelta(hours=2), "CEST"),
    ),
    "decimal": lambda: params_bytes(step=decimal.Decimal("0.001"), dose=decimal.Decimal("1.25E+9")),
    "paths": lambda: params_bytes(output_dir=pathlib.Path("/data/runs/out"), pure=pathlib.PurePosixPath("a/b")),
    "sets-and-ordereddict": lambda: params_bytes(
        channels={"amp", "phase"}, frozen=frozenset({"probe"}), schedule=collections.OrderedDict(warmup=5, decay=0.5)
    ),
    "complex-slice-bytes": lambda: params_bytes(z=1 + 2j, crop=slice(8, 56), raw=b"\x00\xff", buf=bytearray(b"ab")),
    "numpy-values": lambda: params_bytes(
        nphotons32=np.float32(1e9),
        seed=np.int64(42),
        flag=np.bool_(True),
        name=np.str_("probe"),
        positions=RNG.uniform(0, 256, (512, 2)).astype("float32"),
        ids=np.arange(512),
        mask=np.ones((64, 64), bool),
        when=np.array(["2025-01-01"], "M8[ns]"),
        fortran=np.asfortranarray(np.ones((3, 2))),
        big_endian=np.ones(3, ">f8"),
        half=np.ones(4, np.float16),
    ),
    "big-arrays-N256": lambda: params_bytes(
        N=256,
        probe=(RNG.standard_normal((256, 256)) + 0j).astype("complex64"),
        objectGuess=np.ones((1024, 1024), "complex64"),
    ),
    "protocol-0": lambda: params_bytes(0),
    "protocol-2": lambda: params_bytes(2),
    "protocol-5": lambda: params_bytes(5),
    "pickle-protocol-5": lambda: params_bytes(5, pickle.dumps, arr=np.ones((8, 8))),
    "ptycho-config-dataclasses": ptycho_configs,
    "ptycho-enums": ptycho_enums,
}
WARNS = {"ptycho-config-dataclasses": "ptycho.config.config.TrainingConfig", "ptycho-enums": "base_api.Orchestration"}


def with_params(tmp_path: Path, data: bytes) -> Path:
    members = tf_members()
    members.update({f"{m}/params.dill": data for m in MODELS})
    return write_zip(tmp_path / "wts.h5.zip", members)


def appledouble() -> bytes:
    """An AppleDouble '._' file as macOS writes it beside each file (header, Finder info, resource fork)."""
    finder = b"\0" * 32 + b"\0\0ATTR" + b"\0" * 3726
    rsrc = b"\0\0\x01\0\0\0\x01\0\0\0\0\0\0\0\0\x1eThis resource fork intentionally left blank".ljust(286, b"\0")
    header = struct.pack(">II", 0x00051607, 0x00020000) + b"Mac OS X        " + struct.pack(">H", 2)
    header += struct.pack(">III", 9, 50, len(finder)) + struct.pack(">III", 2, 50 + len(finder), len(rsrc))
    return header + finder + rsrc


def macos_rezip(tmp_path: Path) -> Path:
    """As Archive Utility re-zips extracted files: folder entries, __MACOSX/._* siblings, .DS_Store."""
    members = tf_members()
    out = [(".DS_Store", b"\0\0\0\x01Bud1" + b"\0" * 2044)] + [(f"{m}/", b"") for m in MODELS] + [("__MACOSX/", b"")]
    for name, data in members.items():
        head, _, base = name.rpartition("/")
        out += [(name, data), (f"__MACOSX/{head + '/' if head else ''}._{base}", appledouble())]
    path = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in out:
            info = zipfile.ZipInfo(name, date_time=(2025, 6, 1, 12, 0, 0))
            info.create_system, info.external_attr = 3, (0o40755 if name.endswith("/") else 0o100644) << 16
            info.compress_type = zipfile.ZIP_STORED if name.endswith("/") else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def sidecars(tmp_path: Path) -> Path:
    """macOS tar/zip from a terminal: '._name' AppleDouble files beside each file, no __MACOSX folder."""
    members = tf_members()
    members.update(
        {f"{n.rpartition('/')[0]}/._{n.rpartition('/')[2]}": appledouble() for n in list(members) if "/" in n}
    )
    return write_zip(tmp_path / "wts.h5.zip", members)


def unpacked(tmp_path: Path) -> Path:
    folder = tmp_path / "unpacked"
    for name, data in tf_members().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def info_zip(*flags: str) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        if not shutil.which("zip"):
            pytest.skip("Info-ZIP's zip is not installed")
        folder = unpacked(tmp_path)
        subprocess.run(
            ["zip", "-r", "-q", *flags, str(tmp_path / "wts.h5.zip"), *sorted(os.listdir(folder))],
            cwd=folder,
            check=True,
        )
        return tmp_path / "wts.h5.zip"

    return build


REZIPS: dict[str, Callable[[Path], Path]] = {
    "macos-archive-utility": macos_rezip,
    "macos-sidecars": sidecars,
    "info-zip": info_zip(),
    "info-zip-stored": info_zip("-0"),
    "shutil-make-archive": lambda tmp: Path(shutil.make_archive(str(tmp / "wts.h5"), "zip", unpacked(tmp))),
    "zipfile-bzip2": lambda tmp: write_zip(tmp / "wts.h5.zip", tf_members(), zipfile.ZIP_BZIP2),
    "zipfile-lzma": lambda tmp: write_zip(tmp / "wts.h5.zip", tf_members(), zipfile.ZIP_LZMA),
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_genuine_values_meet_the_contract(tmp_path: Path, name: str) -> None:
    desc = inspected(with_params(tmp_path, VALUES[name]()))
    expect(desc, 0, set())
    assert desc["models"]["autoencoder"]["params_values"]["gridsize"] == 1
    if name in WARNS:
        assert any(WARNS[name] in w and "from your checkout" in w for w in desc["warnings"]), desc["warnings"]
        assert any(WARNS[name] in w and "rebuilds" in w for w in desc["warnings"]), desc["warnings"]


@pytest.mark.parametrize("name", sorted(REZIPS))
def test_genuine_rezips_meet_the_contract(tmp_path: Path, name: str) -> None:
    desc = inspected(REZIPS[name](tmp_path))
    expect(desc, 0, set())
    if name.startswith("macos"):
        assert any("macOS metadata" in w for w in desc["warnings"]), desc["warnings"]


def test_a_manifest_naming_the_macos_folder_is_refused(tmp_path: Path) -> None:
    """Its members are not judged, so a manifest that makes the loader load them is hostile."""
    members = tf_members(manifest={"models": [*MODELS, "__MACOSX"], "version": "1.0"})
    members["__MACOSX/params.dill"] = members["autoencoder/params.dill"]
    expect(inspected(write_zip(tmp_path / "wts.h5.zip", members)), 2, {"unsafe_model_name"}, "macOS metadata")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VALUES) + sorted(REZIPS))
def test_the_real_loader_loads_the_genuine_archives(tmp_path: Path, name: str) -> None:
    path = with_params(tmp_path, VALUES[name]()) if name in VALUES else REZIPS[name](tmp_path)
    loaded = real_load(path)
    assert loaded.outcome == "fine", loaded.detail
    assert loaded.params()["gridsize"] == "1"
