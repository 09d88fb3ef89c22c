"""Hostile archives for `callchain inspect`, one class of attack at a time, each built in tmp_path.

Every case asserts the exit code, the message, and that the marker file the payload would create
on a real load is absent. Harmless variants of the same shapes stay exit 0. The pickles are
written opcode by opcode (what an attacker does), or by dill itself where dill is the attacker's
tool; nothing here is ever unpickled.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import dill
import pytest
from archive_builders import (
    MODELS,
    SCALE,
    h5_bytes,
    keras_bytes,
    params_dill,
    refs_pickle,
    sbu,
    tf_members,
    torch_members,
    write_zip,
)
from conftest import REPO

from harness.inspect.sandbox import Limits, describe_archive

P4 = b"\x80\x04"


# --- opcode spelling ------------------------------------------------------------------------


def g(module: str, name: str) -> bytes:
    """STACK_GLOBAL module.name (protocol 4)."""
    return sbu(module) + sbu(name) + b"\x93"


def call(func: bytes, *args: bytes) -> bytes:
    """func(*args) via MARK ... TUPLE REDUCE."""
    return func + b"(" + b"".join(args) + b"tR"


def binbytes(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def params_with(payload: bytes, before: bytes = b"") -> bytes:
    """A protocol-4 params.dict holding the required keys, then ``evil`` = payload."""
    return (
        P4
        + b"}("
        + sbu("N")
        + b"K@"
        + sbu("gridsize")
        + b"K\x01"
        + sbu("intensity_scale")
        + b"G"
        + struct.pack(">d", SCALE)
        + before
        + sbu("evil")
        + payload
        + b"u."
    )


def params_p0(payload: bytes, before: bytes = b"") -> bytes:
    """The same params in protocol 0 (no PROTO opcode: pickle's fix_imports applies)."""
    return (
        b"(dp0\nVN\nI64\nsVgridsize\nI1\nsVintensity_scale\nF988.2117688026185\ns"
        + before
        + b"Vevil\n"
        + payload
        + b"s."
    )


def archive(tmp_path: Path, replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> Path:
    members = tf_members()
    members.update(replace or {})
    for name in drop:
        members.pop(name, None)
    return write_zip(tmp_path / "wts.h5.zip", members)


def inspect(path: Path, limits: Limits | None = None) -> dict:
    return describe_archive(path, limits)


def assert_hostile(desc: dict, *needles: str) -> None:
    assert desc["exit_code"] == 2 and desc["status"] == "hostile", (desc["summary"], desc["problems"][:3])
    text = " ".join(p["message"] for p in desc["problems"]) + " " + desc["summary"]
    for needle in needles:
        assert needle in text, (needle, text[:2000])


# --- 1. imports a genuine member never needs, however they are spelt -----------------------


def _payloads(cmd: str, marker: Path) -> dict[str, tuple[Callable[[], bytes], tuple[str, ...]]]:
    code = f"open({str(marker)!r}, 'w').close()"
    inner = pickle.dumps(1)
    return {
        "os.system": (lambda: params_with(call(g("os", "system"), sbu(cmd))), ("os.system", "offset")),
        "posix.system": (lambda: params_with(call(g("posix", "system"), sbu(cmd))), ("posix.system",)),
        "tempfile._os.system": (
            lambda: params_with(call(g("tempfile", "_os.system"), sbu(cmd))),
            ("tempfile._os.system", "reaching os.system"),
        ),
        "frozen_importlib_external._os": (
            lambda: params_with(call(g("_frozen_importlib_external", "_os.system"), sbu(cmd))),
            ("_frozen_importlib_external._os.system", "reaching os.system"),
        ),
        "reprlib.builtins.exec": (
            lambda: params_with(call(g("reprlib", "builtins.exec"), sbu(code))),
            ("reprlib.builtins.exec", "reaching builtins.exec"),
        ),
        "builtins.exec": (lambda: params_with(call(g("builtins", "exec"), sbu(code))), ("builtins.exec",)),
        "builtins.eval": (lambda: params_with(call(g("builtins", "eval"), sbu(code))), ("builtins.eval",)),
        "commands.getoutput-p0": (
            lambda: params_p0(b"ccommands\ngetoutput\n(V" + cmd.encode() + b"\ntR"),
            ("commands.getoutput", "pickle maps it to subprocess.getoutput"),
        ),
        "__builtin__.eval-p2": (
            lambda: b"\x80\x02" + params_p0(b"c__builtin__\neval\n(V" + code.encode() + b"\ntR")[0:],
            ("__builtin__.eval", "builtins.eval"),
        ),
        "subprocess.Popen": (lambda: params_with(call(g("subprocess", "Popen"), sbu(cmd))), ("subprocess.Popen",)),
        "numpy.load-nested": (
            lambda: params_with(call(g("numpy", "load"), call(g("io", "BytesIO"), binbytes(inner)), b"N\x88")),
            ("numpy.load", "io.BytesIO"),
        ),
        "operator.call": (
            lambda: params_with(call(g("operator", "call"), g("os", "system"), sbu(cmd))),
            ("operator.call",),
        ),
        "operator.methodcaller": (
            lambda: params_with(
                call(
                    call(g("operator", "methodcaller"), sbu("system"), sbu(cmd)),
                    call(g("importlib", "import_module"), sbu("os")),
                )
            ),
            ("operator.methodcaller", "computed object"),
        ),
        "dill._get_attr": (
            lambda: params_with(
                call(
                    call(
                        g("dill._dill", "_get_attr"), call(g("dill._dill", "_import_module"), sbu("os")), sbu("system")
                    ),
                    sbu(cmd),
                )
            ),
            ("dill._dill._get_attr", "dill._dill._import_module"),
        ),
        "dill._import_module": (
            lambda: params_with(call(g("dill._dill", "_import_module"), sbu("os"))),
            ("dill._dill._import_module",),
        ),
        "pickle.loads-nested": (lambda: params_with(call(g("pickle", "loads"), binbytes(inner))), ("pickle.loads",)),
        "_pickle.loads-nested": (lambda: params_with(call(g("_pickle", "loads"), binbytes(inner))), ("_pickle.loads",)),
        "dill.loads-nested": (lambda: params_with(call(g("dill", "loads"), binbytes(inner))), ("dill.loads",)),
        "getattr-chain": (
            lambda: params_with(
                call(
                    call(g("builtins", "getattr"), call(g("builtins", "__import__"), sbu("os")), sbu("system")),
                    sbu(cmd),
                )
            ),
            ("builtins.getattr", "builtins.__import__"),
        ),
        "copyreg._reconstructor": (
            lambda: params_with(
                call(g("copyreg", "_reconstructor"), g("subprocess", "Popen"), g("builtins", "object"), b"N")
            ),
            ("copyreg._reconstructor",),
        ),
        "INST-p0": (lambda: params_p0(b"(V" + cmd.encode() + b"\nios\nsystem\n"), ("os.system", "INST")),
        "OBJ": (lambda: params_with(b"(" + g("os", "system") + sbu(cmd) + b"o"), ("os.system",)),
        "NEWOBJ_EX": (
            lambda: params_with(g("subprocess", "Popen") + b"(" + sbu(cmd) + b"t}\x92"),
            ("subprocess.Popen", "NEWOBJ_EX"),
        ),
        "EXT1": (lambda: params_with(b"\x82\x01(" + sbu(cmd) + b"tR"), ("extension code 1",)),
        "BUILD-on-class": (
            lambda: params_with(g("numpy", "ndarray") + b"}" + sbu("x") + b"K\x01sb"),
            ("BUILD would overwrite attributes of numpy.ndarray",),
        ),
        "computed-call": (
            lambda: params_with(call(call(g("numpy", "dtype"), sbu("f8")), sbu(cmd))),
            ("computed object",),
        ),
        "dill._load_type-CodeType": (
            lambda: params_with(call(g("dill._dill", "_load_type"), sbu("CodeType"))),
            ("_load_type",),
        ),
        "reference-only": (lambda: params_with(g("os", "system")), ("os.system",)),
        "runpy": (lambda: params_with(call(g("runpy", "run_path"), sbu("/tmp/x.py"))), ("runpy.run_path",)),
        "webbrowser": (lambda: params_with(call(g("webbrowser", "open"), sbu("http://x"))), ("webbrowser.open",)),
        "shutil.rmtree": (lambda: params_with(call(g("shutil", "rmtree"), sbu("/tmp/nothing"))), ("shutil.rmtree",)),
        "ctypes": (lambda: params_with(g("ctypes", "CDLL")), ("ctypes.CDLL",)),
        "persistent-id": (lambda: params_with(sbu("x") + b"Q"), ("persistent id",)),
        "after-BUILD-None-on-list": (
            lambda: params_with(call(g("os", "system"), sbu(cmd)), before=sbu("x") + b"]Nb"),
            ("os.system",),
        ),
        "after-SETITEM-on-list": (
            lambda: params_with(
                call(g("os", "system"), sbu(cmd)), before=sbu("x") + b"](K\x01eK\x00" + sbu("y") + b"s"
            ),
            ("os.system",),
        ),
        "after-I0x10": (
            lambda: params_p0(b"cos\nsystem\n(V" + cmd.encode() + b"\ntR", before=b"Vx\nI0x10\ns"),
            ("os.system",),
        ),
        "after-I010-octal": (
            lambda: params_p0(b"cos\nsystem\n(V" + cmd.encode() + b"\ntR", before=b"Vx\nI010\ns"),
            ("os.system",),
        ),
    }


PAYLOAD_IDS = list(_payloads("touch /x", Path("/x")))


@pytest.mark.parametrize("case", PAYLOAD_IDS)
def test_hostile_params_payload(tmp_path: Path, case: str) -> None:
    marker = tmp_path / "pwned"
    build, needles = _payloads(f"touch {marker}", marker)[case]
    path = archive(tmp_path, {"diffraction_to_obj/params.dill": build()})
    desc = inspect(path)
    assert_hostile(desc, "diffraction_to_obj/params.dill", *needles)
    assert not marker.exists()


def test_dill_function_from_bytecode_is_hostile(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = dill.dumps(
        {"N": 64, "gridsize": 1, "intensity_scale": SCALE, "hook": lambda: open(marker, "w")}, recurse=True
    )
    desc = inspect(archive(tmp_path, {"autoencoder/params.dill": payload}))
    assert_hostile(desc, "autoencoder/params.dill", "dill._dill._create_function")
    assert not marker.exists()


def test_dill_class_by_value_with_setstate_is_hostile(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    namespace: dict = {"__name__": "__main__"}
    exec("class Layer:\n    def __setstate__(self, state):\n        open(state['m'], 'w')\n", namespace)
    obj = namespace["Layer"]()
    obj.__dict__["m"] = str(marker)
    desc = inspect(archive(tmp_path, {"autoencoder/custom_objects.dill": dill.dumps({"Layer": obj})}))
    assert_hostile(desc, "autoencoder/custom_objects.dill", "dill._dill._create_type")
    assert not marker.exists()


@pytest.mark.parametrize(
    "refs, needle",
    [
        ({"Evil": "os.system"}, "os.system"),
        ({"Evil": "builtins.eval"}, "builtins.eval"),
        ({"Evil": "keras.src.saving.serialization_lib.deserialize_keras_object"}, "keras.src.saving"),
        ({"Evil": "ptychofake.layers.Evil"}, "ptychofake.layers.Evil"),
    ],
)
def test_custom_objects_outside_the_target_namespace(tmp_path: Path, refs: dict, needle: str) -> None:
    desc = inspect(archive(tmp_path, {"autoencoder/custom_objects.dill": refs_pickle(refs)}))
    assert_hostile(desc, "autoencoder/custom_objects.dill", needle, "custom_objects")


def test_custom_objects_attribute_walk_inside_the_namespace(tmp_path: Path) -> None:
    data = P4 + b"}(" + sbu("Evil") + g("ptycho.model", "tf.io.gfile.rmtree") + b"u."
    desc = inspect(archive(tmp_path, {"autoencoder/custom_objects.dill": data}))
    assert_hostile(desc, "ptycho.model.tf.io.gfile.rmtree")


def test_custom_objects_calling_target_code_is_hostile(tmp_path: Path) -> None:
    data = P4 + b"}(" + sbu("X") + call(g("ptycho.model", "negloglik"), sbu("x")) + b"u."
    desc = inspect(archive(tmp_path, {"autoencoder/custom_objects.dill": data}))
    assert_hostile(desc, "REDUCE would call ptycho.model.negloglik")


def test_manifest_with_a_call_is_hostile(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = P4 + b"}(" + sbu("models") + b"]" + sbu("version") + call(g("os", "system"), sbu(f"touch {marker}")) + b"u."
    desc = inspect(archive(tmp_path, {"manifest.dill": data}))
    assert_hostile(desc, "manifest.dill", "os.system")
    assert not marker.exists()


def test_extra_pickle_member_is_judged_too(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    desc = inspect(archive(tmp_path, {"extra/state.pkl": params_with(call(g("os", "system"), sbu(f"touch {marker}")))}))
    assert_hostile(desc, "extra/state.pkl", "os.system")
    assert not marker.exists()


def test_many_distinct_hazards_are_bounded(tmp_path: Path) -> None:
    names = b"".join(g("os", f"f{i}") for i in range(100_000))
    desc = inspect(archive(tmp_path, {"autoencoder/params.dill": params_with(b"](" + names + b"e")}))
    assert_hostile(desc, "os.f0")
    assert len(desc["pickles"]["autoencoder/params.dill"]["hazards"]) <= 51
    assert "more" in desc["pickles"]["autoencoder/params.dill"]["hazards"][-1]


# --- 2. unreadable pickles cannot be verified: exit 2, never 1 -----------------------------


@pytest.mark.parametrize(
    "data, needle",
    [
        (params_dill()[:-12], "cannot be verified"),
        (b"this is not a pickle at all", "cannot be verified"),
        (P4 + b"\xff.", "unknown opcode"),
        (b"\x80\x05\x97.", "out-of-band buffer"),
        (P4 + b"}(" + sbu("N") + b"K\x01u", "no STOP"),
        (P4 + b"t.", "MARK expected"),
        (P4 + b"h\x07.", "memo key 7 missing"),
        (P4 + b"(K\x01d.", "odd number of items"),
    ],
)
def test_undecodable_pickle_is_hostile_not_a_violation(tmp_path: Path, data: bytes, needle: str) -> None:
    desc = inspect(archive(tmp_path, {"diffraction_to_obj/params.dill": data}))
    assert_hostile(desc, "diffraction_to_obj/params.dill", needle, "treat it as hostile")


# --- 3. names as the loader's extractall sees them ------------------------------------------


@pytest.mark.parametrize(
    "extra, needle",
    [
        ("./manifest.dill", "all extract to 'manifest.dill'"),
        ("autoencoder//params.dill", "all extract to 'autoencoder/params.dill'"),
        ("autoencoder/./params.dill", "all extract to 'autoencoder/params.dill'"),
        ("autoencoder/params.dill/", "also a folder"),
        ("manifest.dill/x", "also a folder"),
    ],
)
def test_two_members_landing_on_one_file(tmp_path: Path, extra: str, needle: str) -> None:
    marker = tmp_path / "pwned"
    members = list(tf_members().items()) + [(extra, params_with(call(g("os", "system"), sbu(f"touch {marker}"))))]
    desc = inspect(write_zip(tmp_path / "wts.h5.zip", members))
    assert_hostile(desc, needle, "refusing to read")
    assert desc["pickles"] == {} and not marker.exists()


@pytest.mark.parametrize(
    "member, needle",
    [
        ("../evil.txt", "escapes the archive root"),
        ("/tmp/evil", "absolute path"),
        ("autoencoder\\evil", "backslash"),
        ("..\\..\\evil", "backslash"),
        ("C:/evil", "absolute path"),
    ],
)
def test_unsafe_member_names(tmp_path: Path, member: str, needle: str) -> None:
    desc = inspect(archive(tmp_path, {member: b"pwned"}))
    assert_hostile(desc, needle)
    assert not (tmp_path.parent / "evil.txt").exists()


@pytest.mark.parametrize(
    "name, needle",
    [
        ("../../x", "a path"),
        ("/abs/path", "a path"),
        (123, "a int"),
        ("", "empty"),
        ("..", "empty or a relative-path component"),
        ("a/b", "a path"),
        ("a\\b", "a path"),
        (None, "a NoneType"),
    ],
)
def test_manifest_model_names_must_be_plain_folders(tmp_path: Path, name: object, needle: str) -> None:
    manifest = {"models": ["autoencoder", "diffraction_to_obj", name], "version": "1.0"}
    desc = inspect(archive(tmp_path, {"manifest.dill": dill.dumps(manifest)}))
    assert_hostile(desc, "manifest model name", needle)


def test_symlink_member(tmp_path: Path) -> None:
    path = archive(tmp_path)
    with zipfile.ZipFile(path, "a") as zf:
        link = zipfile.ZipInfo("autoencoder/link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    assert_hostile(inspect(path), "symbolic link")


# --- 4. PyTorch payloads ----------------------------------------------------------------------


def ckpt_zip(data_pkl: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/version", "3")
        zf.writestr("archive/data/0", b"\0" * 16)
    return buf.getvalue()


def torch_state() -> bytes:
    """A checkpoint's data.pkl as torch.save writes it: rebuild functions and storage ids, by name."""
    storage = b"(" + sbu("storage") + g("torch", "FloatStorage") + sbu("0") + sbu("cpu") + b"K\x04t" + b"Q"
    tensor = call(
        g("torch._utils", "_rebuild_tensor_v2"),
        storage,
        b"K\x00",
        b"K\x04\x85",
        b"K\x01\x85",
        b"\x89",
        call(g("collections", "OrderedDict")),
    )
    return P4 + b"}(" + sbu("epoch") + b"K\x01" + sbu("state_dict") + b"}(" + sbu("w") + tensor + b"u" + b"u."


def test_pytorch_archive_with_zip_checkpoint_is_fine(tmp_path: Path) -> None:
    desc = inspect(write_zip(tmp_path / "wts.h5.zip", torch_members(True, ckpt_zip(torch_state()))))
    assert desc["exit_code"] == 0, (desc["problems"], [c for c in desc["clauses"] if c["status"] != "pass"])
    assert "torch._utils._rebuild_tensor_v2" in desc["pickles"]["autoencoder/model.ckpt::archive/data.pkl"]["globals"]


@pytest.mark.parametrize("raw", [True, False], ids=["raw-pickle", "zip"])
def test_pytorch_checkpoint_payload(tmp_path: Path, raw: bool) -> None:
    marker = tmp_path / "pwned"
    evil = params_with(call(g("os", "system"), sbu(f"touch {marker}")))
    desc = inspect(write_zip(tmp_path / "wts.h5.zip", torch_members(True, evil if raw else ckpt_zip(evil))))
    assert_hostile(desc, "autoencoder/model.ckpt", "os.system")
    assert not marker.exists()


def test_pytorch_raw_checkpoint_that_does_not_decode(tmp_path: Path) -> None:
    desc = inspect(write_zip(tmp_path / "wts.h5.zip", torch_members(True, b"not a pickle")))
    assert_hostile(desc, "autoencoder/model.ckpt", "cannot be verified")


# --- 5. Keras configs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, needle",
    [
        (
            {
                "class_name": "Lambda",
                "module": "keras.layers",
                "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}},
            },
            "carries Python code",
        ),
        (
            {"class_name": "Lambda", "config": {"function": ["4wEAAAAA", None, None], "function_type": "lambda"}},
            "carries Python code",
        ),
        ({"class_name": "Functional", "module": "keras", "config": {"safe_mode": False}}, "safe mode off"),
    ],
)
def test_keras_config_with_code(tmp_path: Path, layer: dict, needle: str) -> None:
    config = {"class_name": "Functional", "module": "keras", "config": {"layers": [layer]}}
    desc = inspect(archive(tmp_path, {"autoencoder/model.keras": keras_bytes(config)}))
    assert_hostile(desc, "autoencoder/model.keras::config.json", needle)


def test_keras_config_unreadable(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", "{" * 100_000)
    desc = inspect(archive(tmp_path, {"autoencoder/model.keras": buf.getvalue()}))
    assert_hostile(desc, "config.json is not readable JSON")


def test_keras_layer_from_a_foreign_module_is_a_warning(tmp_path: Path) -> None:
    config = {
        "class_name": "Functional",
        "module": "keras",
        "config": {"layers": [{"class_name": "Sneaky", "module": "evilpkg.layers", "config": {}}]},
    }
    desc = inspect(archive(tmp_path, {"autoencoder/model.keras": keras_bytes(config)}))
    assert desc["exit_code"] == 0
    assert any("evilpkg.layers" in w for w in desc["warnings"])


# --- 6. bounded and sandboxed -----------------------------------------------------------------


def test_deeply_nested_value_is_refused_by_its_bound_not_by_a_crash(tmp_path: Path) -> None:
    deep = b")" + b"\x85" * 1_000_000
    desc = inspect(archive(tmp_path, {"autoencoder/params.dill": params_with(deep)}))
    assert_hostile(desc, "autoencoder/params.dill", "nested more than 64 levels")
    assert {p["kind"] for p in desc["problems"]} == {"loader_cost"}


def test_hash_bomb_set_is_priced_not_hashed(tmp_path: Path) -> None:
    bomb = b"(" + b")" + b"2\x86" * 80 + b"\x91"  # frozenset({t80}), t(i+1) = (ti, ti): 2**80 nodes
    desc = inspect(archive(tmp_path, {"autoencoder/params.dill": params_with(bomb)}))
    assert_hostile(desc, "autoencoder/params.dill", "hashed as a dict key or set item")
    assert {p["kind"] for p in desc["problems"]} == {"loader_cost"}


def test_one_opcode_budget_for_all_members(tmp_path: Path) -> None:
    chunk = P4 + b"N0" * (1 << 19) + b"N."  # 1 MiB, half a million opcodes each
    members = tf_members()
    members.update({f"extra/p{i:03d}.pkl": chunk for i in range(12)})
    path = write_zip(tmp_path / "wts.h5.zip", members, zipfile.ZIP_STORED)
    assert_hostile(inspect(path), "opcode budget", "--max-ops")


def test_tens_of_thousands_of_member_names(tmp_path: Path) -> None:
    path = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(40_000):
            zf.writestr(f"..\\{i:05d}", b"")
    desc = inspect(path)
    assert_hostile(desc, "40000 members")
    assert len(desc["problems"]) <= 202


def test_wall_limit(tmp_path: Path) -> None:
    slow = P4 + b"N0" * (3 << 20) + b"N."
    path = write_zip(tmp_path / "wts.h5.zip", {**tf_members(), "extra/slow.pkl": slow}, zipfile.ZIP_STORED)
    desc = inspect(path, Limits(seconds=1, cpu_seconds=1, max_ops=100_000_000))
    assert_hostile(desc, "treat it as hostile", "raise it with --max-seconds")


def test_memory_limit(tmp_path: Path) -> None:
    big = P4 + b"\x8e" + struct.pack("<Q", 60 << 20) + b"\0" * (60 << 20) + b"."
    path = write_zip(tmp_path / "wts.h5.zip", {**tf_members(), "extra/big.pkl": big}, zipfile.ZIP_STORED)
    assert inspect(path)["exit_code"] == 0  # fits the default limit
    (tmp_path / "small").mkdir()
    assert inspect(archive(tmp_path / "small"), Limits(memory_mb=160))["exit_code"] == 0
    desc = inspect(path, Limits(memory_mb=160))
    assert_hostile(desc, "exhausted the reader's memory", "treat it as hostile")


@pytest.mark.parametrize("offset", [0, 8, 40, 96, 200, 500])
def test_mutated_model_h5_cannot_crash_the_caller(tmp_path: Path, offset: int) -> None:
    data = bytearray(h5_bytes(intensity_scale=SCALE))
    data[offset] ^= 0xFF
    data[offset + 1] ^= 0x55
    desc = inspect(archive(tmp_path, {"autoencoder/model.h5": bytes(data)}))
    assert desc["exit_code"] in (0, 1, 2) and desc["status"] in ("ok", "violations", "unreadable", "hostile")
    if desc["exit_code"] == 2:
        assert "autoencoder/model.h5" in desc["summary"] or "treat it as hostile" in desc["summary"]


# --- 7. output that cannot break --------------------------------------------------------------


def run_cli(*args: str | bytes, shell_tail: str = "") -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = "import sys; from harness.inspect.cli import main; sys.exit(main(sys.argv[1:]))"
    if shell_tail:
        quoted = " ".join("'" + (a if isinstance(a, str) else os.fsdecode(a)) + "'" for a in args)
        script = f"'{sys.executable}' -c '{code}' {quoted} {shell_tail}; exit ${{PIPESTATUS[0]}}"
        return subprocess.run(["bash", "-c", script], env=env, capture_output=True, timeout=120)
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, timeout=120)


def test_json_into_a_closed_pipe(tmp_path: Path) -> None:
    path = archive(tmp_path)
    proc = run_cli(str(path), "--json", shell_tail="| head -c 200")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) == 200 and b"Traceback" not in proc.stderr and proc.stderr == b""


def test_json_with_a_non_utf8_path(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path) + b"/caf\xe9\xff"
    os.mkdir(folder)
    path = folder + b"/wts.h5.zip"
    write_zip(Path(os.fsdecode(path)), tf_members())
    proc = run_cli(path, "--json")
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "ok" and "\\udce9" in proc.stdout.decode("ascii")


def test_control_and_bidi_characters_are_escaped(tmp_path: Path) -> None:
    name = "notes/README\u202e\x1b[31mtxt.md\x07"
    path = archive(tmp_path, {name: b"hello"})
    for args in ((str(path), "--json"), (str(path),)):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert b"\x1b" not in proc.stdout and "\u202e".encode() not in proc.stdout and b"\x07" not in proc.stdout
    assert json.loads(run_cli(str(path), "--json").stdout)["members"][-1]["name"].startswith("notes/README")


# --- harmless variants stay exit 0 -------------------------------------------------------------


def test_extra_readme_and_directory_entries_stored(tmp_path: Path) -> None:
    members = [(f"{m}/", b"") for m in MODELS] + list(tf_members().items()) + [("README.txt", b"notes")]
    path = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    desc = inspect(path)
    assert desc["exit_code"] == 0, (desc["problems"], desc["summary"])


@pytest.mark.parametrize("protocol", range(0, 6))
def test_plain_params_in_every_protocol(tmp_path: Path, protocol: int) -> None:
    params = {
        "N": 64,
        "gridsize": 1,
        "intensity_scale": SCALE,
        "tags": {"a", "b"},
        "raw": b"\x00\xff",
        "nested": {"x": [1.5, None, (1, 2)], "y": frozenset({3})},
        "big": 10**40,
        "z": complex(1, 2),
    }
    members = {f"{m}/params.dill": pickle.dumps(params, protocol=protocol) for m in MODELS}
    desc = inspect(archive(tmp_path, members))
    assert desc["exit_code"] == 0, (desc["summary"], desc["problems"][:2])
    assert desc["models"]["autoencoder"]["params_values"]["gridsize"] == 1


def test_params_with_extra_keys(tmp_path: Path) -> None:
    members = {f"{m}/params.dill": params_dill(SCALE, extra_key="x", more=[1, 2, 3]) for m in MODELS}
    assert inspect(archive(tmp_path, members))["exit_code"] == 0


def test_names_differing_only_in_case(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = params_with(call(g("os", "system"), sbu(f"touch {marker}")))
    desc = inspect(archive(tmp_path, {"Autoencoder/params.dill": evil}))
    assert_hostile(desc, "differ only in case")
    assert not marker.exists()


def legacy_torch_save(main: bytes) -> bytes:
    """A raw legacy torch.save stream: magic, protocol, sys info, the object, storage keys, raw bytes."""
    head = pickle.dumps(0x1950A86A20F9469CFC6C, 2) + pickle.dumps(1001, 2)
    head += pickle.dumps({"protocol_version": 1001, "little_endian": True}, 2)
    return head + main + pickle.dumps(["0"], 2) + b"\x00" * 32


def test_legacy_torch_save_is_decoded_past_its_magic_number(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = params_with(call(g("os", "system"), sbu(f"touch {marker}")))
    desc = inspect(write_zip(tmp_path / "wts.h5.zip", torch_members(True, legacy_torch_save(evil))))
    assert_hostile(desc, "autoencoder/model.ckpt", "saved object pickle", "os.system")
    assert not marker.exists()
    (tmp_path / "fine").mkdir()
    fine = write_zip(tmp_path / "fine" / "wts.h5.zip", torch_members(True, legacy_torch_save(torch_state())))
    desc = inspect(fine)
    assert desc["exit_code"] == 0, (desc["summary"], desc["problems"][:2])


@pytest.mark.parametrize(
    "yaml_text",
    [
        b"N: 64\nhook: !!python/object/apply:os.system ['touch MARKER']\n",
        b"%TAG !p! tag:yaml.org,2002:python/\n---\nN: 64\nhook: !p!object/apply:os.system ['touch MARKER']\n",
    ],
)
def test_hparams_yaml_with_python_tags(tmp_path: Path, yaml_text: bytes) -> None:
    marker = tmp_path / "pwned"
    members = torch_members(True, ckpt_zip(torch_state()))
    members["autoencoder/hparams.yaml"] = yaml_text.replace(b"MARKER", os.fsencode(marker))
    desc = inspect(write_zip(tmp_path / "wts.h5.zip", members))
    assert_hostile(desc, "autoencoder/hparams.yaml", "YAML tag")
    assert not marker.exists()


@pytest.mark.parametrize(
    "yaml_text",
    [
        b"hook: !!python%2Fobject%2Fapply:os.system ['touch MARKER']\n",  # PyYAML decodes %-escapes in tags
        b"hook: !<tag:yaml.org,2002:python/object/apply:os.system> ['touch MARKER']\n",
        b"%TAG !t! tag:yaml.org,2002:python/tuple\n---\nhook: !t!/../object/apply:os.system ['touch MARKER']\n",
        b"grid: !!python/tuple [1, 1]\nhook: !!python/name:os.system ''\n",  # one genuine tag does not admit others
    ],
    ids=["percent-escaped", "verbatim", "tag-directive-to-tuple", "tuple-then-name"],
)
def test_hparams_yaml_python_tags_however_spelt(tmp_path: Path, yaml_text: bytes) -> None:
    marker = tmp_path / "pwned"
    members = torch_members(True, ckpt_zip(torch_state()))
    members["autoencoder/hparams.yaml"] = yaml_text.replace(b"MARKER", os.fsencode(marker))
    assert_hostile(inspect(write_zip(tmp_path / "wts.h5.zip", members)), "autoencoder/hparams.yaml", "YAML tag")
    (tmp_path / "hparams.yaml").write_bytes(yaml_text)  # the same file given on its own
    assert_hostile(inspect(tmp_path / "hparams.yaml"), "YAML tag")
    assert not marker.exists()


def test_lightning_tuple_tag_is_genuine(tmp_path: Path) -> None:
    members = torch_members(True, ckpt_zip(torch_state()))
    members["autoencoder/hparams.yaml"] = b"data_config:\n  grid_size: !!python/tuple\n  - 1\n  - 1\n"
    desc = inspect(write_zip(tmp_path / "wts.h5.zip", members))
    assert desc["exit_code"] == 0, (desc["summary"], desc["problems"][:2])


@pytest.mark.parametrize(
    "body",
    [
        call(g("torch.nn.modules.linear", "Linear"), b"K\x02K\x02"),  # REDUCE: a call, not an instance rebuild
        g("torch.nn.modules.module", "os") + b")\x81",  # NEWOBJ of what is not a torch.nn layer class
        g("torch.serialization", "load") + b")\x81",
    ],
    ids=["reduce-torch-nn-class", "newobj-module-attribute", "newobj-outside-torch-nn"],
)
def test_whole_module_pickles_admit_only_torch_nn_instances(tmp_path: Path, body: bytes) -> None:
    desc = inspect(write_zip(tmp_path / "wts.h5.zip", torch_members(True, ckpt_zip(P4 + body + b"."))))
    assert desc["exit_code"] in (1, 2)
    if "torch.nn.modules.module" not in body.decode("latin-1"):
        assert_hostile(desc, "autoencoder/model.ckpt")
