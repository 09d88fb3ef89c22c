"""Class 1 of issue 24: allowed callables with hostile arguments.

Every callable a genuine pickle may call is admitted only with the arguments a genuine member
passes (harness/inspect/argrules.py, numpyrules.py): sizes within the loader bounds, iterables that
are literal, dill's _create_array calling numpy's _reconstruct only, _eval_repr only for the texts
dill writes. Each case asserts the verdict, the message and the marker; the slow test reproduces
the real loader (dill.load from files, bounded child) to show why: it dies, crashes or runs code.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile_pickles import (
    CREATE_ARRAY,
    EVAL_REPR,
    FALSE,
    NDARRAY,
    NONE,
    RECONSTRUCT,
    TRUE,
    b,
    binbytes,
    call,
    dill_array,
    dtype,
    expect,
    g,
    hostile_archive,
    inspected,
    integer,
    lst,
    nd_state,
    rng,
    sbu,
    touch,
    tup,
)
from real_loader import real_load

PARAMS, MANIFEST, CUSTOM = "autoencoder/params.dill", "manifest.dill", "diffraction_to_obj/custom_objects.dill"
COST, CALLS = {"loader_cost"}, {"executes_code"}
DIES = {"MemoryError", "crashed", "killed", "timeout"}


@dataclass(frozen=True)
class Case:
    payload: Callable[[Path], bytes]  # marker -> the 'key value' pairs spliced into the member
    kinds: set[str]
    needle: str
    real: set[str]  # what the real loader does with it (reproduced by the slow test)
    member: str = PARAMS


def _p(payload: bytes, kinds: set[str], needle: str, real: set[str] = DIES, member: str = PARAMS) -> Case:
    return Case(lambda marker: sbu("evil") + payload, kinds, needle, real, member)


OBJECT = dtype("O", order="|", elsize=8, alignment=8, flags=63)
LOAD_LIST = call(g("dill._dill", "_load_type"), sbu("list"))
HOSTILE: dict[str, Case] = {
    "list-range-2p62": _p(call(b("list"), rng(2**62)), COST, "list() builds 4611686018427387904 items"),
    "tuple-range-2p40": _p(call(b("tuple"), rng(2**40)), COST, "tuple() builds"),
    "frozenset-range-2p40": _p(call(b("frozenset"), rng(2**40)), COST, "frozenset() builds"),
    "set-range-2p40": _p(call(b("set"), rng(2**40)), COST, "set() builds"),
    "bytes-2p45": _p(call(b("bytes"), integer(2**45)), COST, "bytes(35184372088832) makes the loader allocate 32 TiB"),
    "bytearray-2p40": _p(call(b("bytearray"), integer(2**40)), COST, "bytearray(1099511627776)"),
    "bytes-of-range-2p40": _p(call(b("bytes"), rng(2**40)), COST, "bytes() builds"),
    "newobj-bytes-2p45": _p(b("bytes") + tup(integer(2**45)) + b"\x81", COST, "bytes(35184372088832)"),
    "list-via-load-type": _p(call(LOAD_LIST, rng(2**62)), COST, "list() builds"),
    "dict-of-huge-pairs": _p(call(b("dict"), call(b("list"), rng(2**40))), COST, "list() builds"),
    "ordereddict-huge": _p(call(g("collections", "OrderedDict"), call(b("list"), rng(2**40))), COST, "builds"),
    "np-reconstruct-2p40": _p(call(RECONSTRUCT, NDARRAY, tup(integer(2**40)), binbytes(b"b")), COST, "holds"),
    "np-reconstruct-old-name-2p40": _p(
        call(g("numpy.core.multiarray", "_reconstruct"), NDARRAY, tup(integer(2**40)), binbytes(b"b")),
        COST,
        "_reconstruct of shape (1099511627776,)",
    ),
    "np-ndarray-2p40": _p(call(NDARRAY, tup(integer(2**40)), dtype("f8")), COST, "numpy.ndarray of shape"),
    "np-ndarray-2d-2p20": _p(
        call(NDARRAY, tup(integer(2**20), integer(2**20)), dtype("c8")), COST, "(1048576, 1048576)"
    ),
    "dill-array-shape-2p40": _p(
        call(
            CREATE_ARRAY,
            RECONSTRUCT,
            tup(NDARRAY, tup(integer(2**40)), binbytes(b"b")),
            nd_state((1,), dtype("f8"), binbytes(b"\0" * 8)),
            NONE,
        ),
        COST,
        "_reconstruct of shape (1099511627776,)",
    ),
    "dill-array-object-short-list": _p(dill_array((1_000_000,), OBJECT, lst(integer(1))), CALLS, "dtype code 'O'"),
    "dill-array-object-2p40": _p(dill_array((2**40,), OBJECT, lst()), CALLS, "dtype code 'O'"),
    "dill-array-data-short": _p(
        dill_array((2**20,), dtype("f8"), binbytes(b"\0" * 8)), CALLS, "8 data bytes for", {"error"}
    ),
    "np-dtype-huge-itemsize": _p(
        call(NDARRAY, tup(integer(4)), dtype("V2147483647", order="|", elsize=2147483647, alignment=1)),
        CALLS,
        "dtype code 'V2147483647'",
    ),
    "np-dtype-state-elsize-2p40": _p(
        call(NDARRAY, tup(integer(1)), dtype("V8", order="|", elsize=2**40, alignment=1)), CALLS, "dtype code 'V8'"
    ),
    "np-dtype-state-elsize-f8": _p(
        call(NDARRAY, tup(integer(1)), dtype("f8", order="<", elsize=2**40)), CALLS, "item size of", {"fine"}
    ),
    "np-dtype-subarray-512MiB": _p(
        call(NDARRAY, tup(integer(8)), call(g("numpy", "dtype"), sbu("(8192,8192)f8"), FALSE, TRUE)),
        CALLS,
        "dtype code '(8192,8192)f8'",
    ),
    "np-frombuffer-bytearray-2p40": _p(
        call(
            g("numpy._core.numeric", "_frombuffer"),
            call(b("bytearray"), integer(2**40)),
            dtype("u1", order="|"),
            tup(integer(2**40)),
            sbu("C"),
        ),
        COST,
        "bytearray(1099511627776)",
    ),
    "dill-create-array-bytes": _p(
        call(CREATE_ARRAY, b("bytes"), tup(integer(2**45)), NONE), CALLS, "_create_array would call builtins.bytes"
    ),
    "dill-create-array-list-range": _p(
        call(CREATE_ARRAY, b("list"), tup(rng(2**62)), NONE), CALLS, "_create_array would call builtins.list"
    ),
    "dill-create-array-ndarray": _p(
        call(
            CREATE_ARRAY,
            NDARRAY,
            tup(tup(integer(2**40)), dtype("f8")),
            nd_state((1,), dtype("f8"), binbytes(b"\0" * 8)),
        ),
        CALLS,
        "_create_array would call numpy.ndarray",
    ),
    "dill-create-array-nested": _p(
        call(CREATE_ARRAY, CREATE_ARRAY, tup(b("bytes"), tup(integer(2**45)), NONE), NONE),
        CALLS,
        "_create_array would call dill._dill._create_array",
    ),
    "tf-convert-to-tensor-range": _p(
        call(g("tensorflow.python.framework.ops", "convert_to_tensor"), rng(2**40)),
        CALLS,
        "convert_to_tensor of",
        set(),
    ),
    "eval-repr-huge-range-listed": _p(
        call(b("list"), call(EVAL_REPR, sbu("range(0, 4611686018427387904)"))), COST, "list() builds"
    ),
    "eval-repr-expression-memory": _p(call(EVAL_REPR, sbu("'x' * 2**40")), CALLS, "only 'range(a, b[, c])'"),
    "eval-repr-noncanonical-range": _p(call(EVAL_REPR, sbu("range(0, 2**62)")), CALLS, "_eval_repr", {"fine"}),
    "eval-repr-leading-zero": _p(call(EVAL_REPR, sbu("range(00, 5)")), CALLS, "_eval_repr", set()),
    "eval-repr-runs-code": Case(
        lambda marker: sbu("scan") + call(EVAL_REPR, sbu(touch(marker) + " or range(0, 3)")),
        CALLS,
        "_eval_repr evaluates its text",
        {"ran-code"},
    ),
    "create-array-calls-eval-repr": Case(
        lambda marker: sbu("probe2") + call(CREATE_ARRAY, EVAL_REPR, tup(sbu(touch(marker))), NONE),
        CALLS,
        "_create_array would call dill._dill._eval_repr",
        {"ran-code"},
    ),
    "manifest-list-range-2p62": _p(call(b("list"), rng(2**62)), COST, "list() builds", member=MANIFEST),
    "manifest-version-bytes-2p45": Case(
        lambda marker: sbu("version") + call(b("bytes"), integer(2**45)), COST, "bytes(35184372088832)", DIES, MANIFEST
    ),
    "manifest-models-tuple-range": Case(
        lambda marker: sbu("models") + call(b("tuple"), rng(2**40)), COST, "tuple() builds", DIES, MANIFEST
    ),
    "custom-objects-frozenset-range": _p(call(b("frozenset"), rng(2**40)), COST, "frozenset() builds", member=CUSTOM),
    "custom-objects-bytearray-2p40": _p(call(b("bytearray"), integer(2**40)), COST, "bytearray(", member=CUSTOM),
    "custom-objects-list-via-load-type": _p(call(LOAD_LIST, rng(2**62)), COST, "list() builds", member=CUSTOM),
}
RNG = random.Random(24)
HARMLESS: dict[str, bytes] = {
    "range-2p62-kept-as-a-range": rng(2**62),
    "bytes-16": call(b("bytes"), integer(16)),
    "list-range-64": call(b("list"), rng(64)),
    "frozenset-small": call(b("frozenset"), rng(8)),
    "eval-repr-range-as-dill-writes-it": call(EVAL_REPR, sbu("range(1, 51, 5)")),
    "eval-repr-ellipsis": call(EVAL_REPR, sbu("Ellipsis")),
    "dill-array-256x256-c8": dill_array((256, 256), dtype("c8"), binbytes(RNG.randbytes(256 * 256 * 8))),
    "ndarray-64": call(NDARRAY, tup(integer(64)), dtype("f8")),
    "bytearray-of-bytes": call(b("bytearray"), binbytes(b"abc")),
}


def build(tmp_path: Path, case: Case, marker: Path) -> Path:
    return hostile_archive(tmp_path / "a", case.member, case.payload(marker))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_arguments_are_refused(tmp_path: Path, name: str) -> None:
    case, marker = HOSTILE[name], tmp_path / "marker"
    desc = inspected(build(tmp_path, case, marker), marker)
    expect(desc, 2, case.kinds, case.member.split("/")[-1], case.needle)
    assert not marker.exists()


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_harmless_arguments_pass(tmp_path: Path, name: str) -> None:
    desc = inspected(hostile_archive(tmp_path / "a", PARAMS, sbu("extra") + HARMLESS[name]))
    expect(desc, 0, set())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n, c in HOSTILE.items() if c.real))
def test_the_real_loader_dies_or_runs_code_on_hostile_arguments(tmp_path: Path, name: str) -> None:
    case, marker = HOSTILE[name], tmp_path / "marker"
    loaded = real_load(build(tmp_path, case, marker), marker)
    assert loaded.outcome in case.real, (loaded.outcome, loaded.detail)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_the_real_loader_loads_the_harmless_variants(tmp_path: Path, name: str) -> None:
    loaded = real_load(hostile_archive(tmp_path / "a", PARAMS, sbu("extra") + HARMLESS[name]))
    assert loaded.outcome == "fine", loaded.detail
