"""Class 3 of issue 24: the report states the values the loader uses, never a prefix.

Python's dict keeps one entry per key, with the last value: a key repeated after 25,000 others,
re-set after the dict was closed, or spelt numpy.str_('N'), is what the loader's params.cfg gets.
The checks judge the whole decoded value (harness/inspect/loaderview.py); the slow test loads the
same archive with the real loader (bounded child) and compares what its dicts held.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill
import numpy as np
import pytest
from archive_builders import SCALE, params_dill, tf_members, write_zip
from hostile_pickles import body, expect, flt, hostile_archive, inspected, integer, lst, sbu, splice
from real_loader import real_load

PARAMS, MANIFEST = "autoencoder/params.dill", "manifest.dill"
RNG = random.Random(24)
FILLER = sbu("scan_positions") + lst(*(flt(round(RNG.uniform(0, 256), 3)) for _ in range(25_000)))
FILLER_KEYS = b"".join(sbu(f"k{i:05d}") + integer(i % 200) for i in range(25_000))
GENUINE = {"N": 64, "gridsize": 1, "intensity_scale": SCALE}


@dataclass(frozen=True)
class Case:
    pairs: bytes
    code: int
    sees: dict[str, Any]  # what the loader's dict holds, and the report must show
    member: str = PARAMS
    tail: bytes = b"u."
    kinds: set[str] = field(default_factory=set)


NOWHERE = "/nonexistent-hostile-models/x"
CASES: dict[str, Case] = {
    "N-repeated-after-filler": Case(FILLER + sbu("N") + integer(128), 0, {"N": 128}),
    "gridsize-repeated-after-filler": Case(FILLER + sbu("gridsize") + integer(2), 0, {"gridsize": 2}),
    "both-repeated-after-filler": Case(
        FILLER + sbu("N") + integer(128) + sbu("gridsize") + integer(2), 0, {"N": 128, "gridsize": 2}
    ),
    "intensity-scale-repeated-after-filler": Case(
        FILLER + sbu("intensity_scale") + flt(1.5), 1, {"intensity_scale": 1.5}
    ),
    "N-repeated-after-25000-keys": Case(FILLER_KEYS + sbu("N") + integer(128), 0, {"N": 128}),
    "N-repeated-after-a-deep-filler": Case(
        sbu("tree") + lst(*([lst(*[integer(1)] * 1500)] * 20)) + sbu("N") + integer(128), 0, {"N": 128}
    ),
    "N-set-again-after-the-dict-is-closed": Case(
        FILLER, 0, {"N": 128}, tail=b"u" + b"h\x00" + sbu("N") + integer(128) + b"s0."
    ),
    "N-repeated-as-numpy-str": Case(body(np.str_("N")) + integer(128), 0, {"N": 128}),
    "N-repeated-within-the-budget": Case(sbu("N") + integer(32) + sbu("N") + integer(64), 0, {"N": 64}),
    "models-absolute-after-filler": Case(
        FILLER + sbu("models") + lst(sbu("autoencoder"), sbu("diffraction_to_obj"), sbu(NOWHERE)),
        2,
        {"models": ["autoencoder", "diffraction_to_obj", NOWHERE]},
        MANIFEST,
        kinds={"unsafe_model_name"},
    ),
    "models-dotdot-after-filler": Case(
        FILLER + sbu("models") + lst(sbu("autoencoder"), sbu("diffraction_to_obj"), sbu("../../escape")),
        2,
        {"models": ["autoencoder", "diffraction_to_obj", "../../escape"]},
        MANIFEST,
        kinds={"unsafe_model_name"},
    ),
    "models-without-diffraction-to-obj-after-filler": Case(
        FILLER + sbu("models") + lst(sbu("autoencoder")), 1, {"models": ["autoencoder"]}, MANIFEST
    ),
    "models-a-tuple-with-an-absolute-path": Case(
        sbu("models") + b"(" + sbu("autoencoder") + sbu(NOWHERE) + b"t",
        2,
        {"models": ["autoencoder", NOWHERE]},
        MANIFEST,
        kinds={"unsafe_model_name"},
    ),
}


def build(tmp_path: Path, case: Case) -> Path:
    genuine = tf_members()[case.member]
    return hostile_archive(tmp_path / "a", case.member, data=splice(genuine, case.pairs, case.tail))


def shown(desc: dict, key: str) -> Any:
    if key == "models":
        return desc["manifest"]["models"]
    return desc["models"]["autoencoder"]["params_values"][key]


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_report_shows_what_the_loader_sees(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    desc = inspected(build(tmp_path, case))
    expect(desc, case.code, case.kinds)
    for key, value in case.sees.items():
        assert shown(desc, key) == value, (key, shown(desc, key))


def test_keys_after_twenty_thousand_others_are_judged_and_shown(tmp_path: Path) -> None:
    """Real dill, a genuine shape: 25,000 keys first, the required ones last; the report is whole."""
    members = tf_members()
    data = dill.dumps({**{f"k{i:05d}": i for i in range(25_000)}, **dill.loads(params_dill())})
    members.update({f"{m}/params.dill": data for m in ("autoencoder", "diffraction_to_obj")})
    desc = inspected(write_zip(tmp_path / "wts.h5.zip", members))
    expect(desc, 0, set())
    assert desc["models"]["autoencoder"]["params_values"] == GENUINE
    assert len(desc["models"]["autoencoder"]["params_keys"]) == 25_007


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_real_loader_sees_the_same_values(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    loaded = real_load(build(tmp_path, case))
    for key, value in case.sees.items():
        if key == "models":
            assert next(s["value"] for s in loaded.seen if s.get("seen") == "models") == repr(value)
        else:
            assert loaded.params()[key] == repr(value), (key, loaded.seen)
