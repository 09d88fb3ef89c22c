"""Describe a ``wts.h5.zip`` model archive without trusting it, and check it against the contract.

``callchain inspect PATH [--json]`` answers two questions about an archive written by
PtychoPINN's ``ModelManager.save_multiple_models``: *what is in it* and *does it meet the
persistence contract* (:mod:`harness.contract`). The archive is untrusted input:

* :func:`harness.inspect.sandbox.describe_archive` runs the whole inspection in a child process with CPU, wall and
  memory limits (:mod:`harness.inspect.sandbox`): a crash, a hang or an out-of-memory there, h5py
  included, is reported as hostile, never suffered;
* nothing is extracted (:mod:`harness.inspect.zipread`): members are read into memory, capped, and only
  after the central directory has been checked with the names ``extractall`` would use;
* nothing is unpickled (:mod:`harness.inspect.safepickle`): pickles are decoded by a stack machine that
  admits only the imports a genuine member of that kind needs (one opcode budget for all);
* HDF5 members are opened read-only from memory, attributes and dataset shapes only; each
  ``model.keras`` is listed from memory and its ``config.json`` judged (:mod:`harness.inspect.kerascfg`).

Verdicts: exit 0 meets the contract, 1 readable but breaks a clause, 2 unreadable or hostile.
Everything returned is plain JSON-serialisable data in a fixed key order.
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

from .. import contract
from . import bounds, zipread
from .checks import build_report
from .kerascfg import check_config
from .payloads import torch_zip_prefix
from .safepickle import DEFAULT_MAX_OPS, OpBudget, PickleReport, decode_pickle, decode_torch_legacy
from .yamltags import python_tags
from .yamltags import top_level_keys as yaml_keys
from .zipread import MemberError, Problems

__all__ = ["decode_pickle", "describe_in_process", "PickleReport"]

HOSTILE_KINDS = frozenset(
    {
        "unsafe_path",
        "symlink",
        "duplicate",
        "bomb",
        "executes_code",
        "unverifiable",
        "keras_code",
        "unsafe_model_name",
        "exhausted",
        "too_large",
        "loader_cost",
        "loader_fallback",
    }
)
UNREADABLE_KINDS = frozenset(
    {
        "not_found",
        "not_a_file",
        "io_error",
        "empty",
        "not_zip",
        "truncated",
        "corrupt_member",
        "encrypted",
        "undecodable",
    }
)


class State:
    """What one inspection gathered; turned into the report by :func:`archive_checks.build_report`."""

    def __init__(self, path: str, max_ops: int) -> None:
        self.path = path
        self.archive: str | None = None
        self.problems = Problems()
        self.members: list[dict[str, Any]] = []
        self.infos: dict[str, zipfile.ZipInfo] = {}  # by the name extractall would write
        self.pickles: dict[str, PickleReport] = {}
        self.h5: dict[str, tuple[dict[str, Any], list[dict[str, Any]]] | str] = {}
        self.nested: dict[str, list[str] | str] = {}
        self.warnings: list[str] = []
        self.refused: str | None = None  # why contents were not read
        self.budget = OpBudget(max_ops)
        self.payload: str | None = None  # "torch" or "yaml": a payload given on its own (standalone.py)
        self.payload_name = ""
        self.yaml_keys: list[str] = []


def _inspect_h5(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Root attributes (name -> summary) and datasets (name, shape, dtype) of an HDF5 image."""
    import h5py  # imported here: only archives with HDF5 members pay for it

    attrs: dict[str, Any] = {}
    datasets: list[dict[str, Any]] = []
    with h5py.File(io.BytesIO(data), "r") as h5:
        for key in sorted(h5.attrs.keys())[:1000]:
            try:
                attrs[key] = _h5_value(h5.attrs[key])
            except Exception as exc:  # exotic attribute types: report, do not fail
                attrs[key] = f"<unreadable attribute: {type(exc).__name__}>"

        def visit(name: str, obj: Any) -> Any:
            if isinstance(obj, h5py.Dataset):
                datasets.append(
                    {"name": name, "shape": list(obj.shape or ()), "dtype": str(obj.dtype), "nbytes": int(obj.nbytes)}
                )
            return True if len(datasets) >= 1000 else None  # a non-None return stops the walk

        h5.visititems(visit)
    datasets.sort(key=lambda d: d["name"])
    return attrs, datasets


def _h5_value(value: Any) -> Any:
    """An HDF5 attribute as JSON-ready data: small arrays as lists, big ones as shape/dtype."""
    from .picklevalues import json_number

    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist") and hasattr(value, "shape"):  # numpy, without importing it
        if getattr(value, "size", 0) > 16:
            return {"shape": list(value.shape), "dtype": str(value.dtype)}
        return _h5_value(value.tolist())
    if isinstance(value, list):
        return [_h5_value(v) for v in value]
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float, complex)) or value is None:
        return json_number(value)
    return f"<{type(value).__name__}>"


YAML_SUFFIXES = (".yaml", ".yml")


def _wanted(lower: str) -> bool:
    return lower.endswith(contract.PICKLE_SUFFIXES + (".h5", ".keras") + contract.TORCH_SUFFIXES + YAML_SUFFIXES) or (
        lower.count("/") == 1 and lower.endswith("/config.json")  # a Keras folder-format model (fallbacks)
    )


def check_yaml(state: State, name: str, data: bytes) -> None:
    """hparams.yaml is read by Lightning with PyYAML: python/* tags other than tuple would build objects."""
    found = python_tags(data)
    if found:
        offset, tag = found[0]
        state.problems.add(
            "executes_code",
            name,
            f"{name}: a YAML tag at offset {offset} ({tag[:80]}) constructs Python "
            "objects (an unsafe YAML loader would run code); do not load this archive",
        )


def _read_contents(state: State, zf: zipfile.ZipFile) -> None:
    """Decode pickles, open HDF5 members and list nested zips, all from memory."""
    skipped = [name for name in state.infos if contract.never_loaded(name)]
    if skipped:
        state.warnings.append(
            f"{len(skipped)} macOS metadata member(s) ({contract.MACOS_FOLDER}/, ._name; e.g. {sorted(skipped)[0]}): "
            "extracted by the loader but never read; not judged"
        )
    for name, info in sorted(state.infos.items()):
        lower = name.lower()
        if info.is_dir() or not _wanted(lower) or contract.never_loaded(name):
            continue
        cap = zipread.PICKLE_CAP if lower.endswith(contract.PICKLE_SUFFIXES) else zipread.MEMBER_CAP
        try:
            data = zipread.read_member(zf, info, cap)
        except MemberError as exc:
            state.problems.add(exc.kind, name, str(exc))
            continue
        if lower.endswith(contract.PICKLE_SUFFIXES):
            add_pickle(state, name, data)
        elif lower.endswith(".h5"):
            _add_h5(state, name, data)
        elif lower.endswith(YAML_SUFFIXES):
            check_yaml(state, name, data)
        elif lower.endswith("/config.json"):
            _add_config(state, name, data)
        elif lower.endswith(contract.TORCH_SUFFIXES) and data[:4] not in zipread.ZIP_MAGIC:
            add_pickle(state, name, data, legacy_torch=True)
            state.nested[name] = "a raw pickle (legacy torch.save)"
        else:
            state.nested[name] = list_nested(state, name, data)


def _add_h5(state: State, name: str, data: bytes) -> None:
    try:
        state.h5[name] = _inspect_h5(data)
    except ImportError:
        state.h5[name] = "h5py is not installed"
    except MemoryError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/RuntimeError on bad images
        state.h5[name] = f"not a readable HDF5 file ({type(exc).__name__}: {exc})"
        state.problems.add("undecodable", name, f"{name!r} is not a readable HDF5 file ({type(exc).__name__})")


def add_pickle(state: State, label: str, data: bytes, legacy_torch: bool = False, kind: str | None = None) -> None:
    """Decode one pickle member with its kind's allow-list; hazards and undecodable are hostile."""
    if legacy_torch:
        report = decode_torch_legacy(data, state.budget)
    else:
        report = decode_pickle(data, kind or contract.pickle_kind(label), state.budget)
    state.pickles[label] = report
    for hazard in report.hazards:
        state.problems.add(
            "executes_code",
            label,
            f"{label}: unpickling would execute code: {hazard}; do not load this archive with dill/pickle",
        )
    for cost in report.costs:
        state.problems.add(
            "loader_cost",
            label,
            f"{label}: loading it would cost the real loader more than the bounds allow: {cost}; "
            "do not load this archive with dill/pickle",
        )
    state.warnings += [f"{label}: {w}" for w in report.warnings]
    if report.error:
        kind = "exhausted" if "budget" in report.error else "unverifiable"
        state.problems.add(
            kind,
            label,
            f"{label} cannot be verified: the pickle does not decode to its end ({report.error}); treat it as hostile",
        )


def list_nested(state: State, outer: str, data: bytes) -> list[str] | str:
    """Member names of a zip held in memory (model.keras, a torch .ckpt); pickles and configs judged.

    Read as Keras opens it: ``zipfile.is_zipfile`` finds the zip from its end, so bytes before it
    (a shell stub) or a second zip appended are read exactly as the loader reads them.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return "not a zip file"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            infos = inner.infolist()
            zipread.note_prefix(state.warnings, outer, data, infos)
            before = len(state.problems.items)
            zipread.check_infos(infos, outer + "::", state.problems)
            if any(p["kind"] in HOSTILE_KINDS for p in state.problems.items[before:]):
                return sorted(i.filename for i in infos)
            for info in sorted(infos, key=lambda i: i.filename):
                _nested_member(state, outer, inner, info)
            return sorted(i.filename for i in infos)
    except zipread.ZIP_ERRORS as exc:
        return f"not a readable zip ({type(exc).__name__}: {exc})"


def _nested_member(state: State, outer: str, inner: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    label = f"{outer}::{info.filename}"
    lower = info.filename.lower()
    is_config = outer.lower().endswith(".keras") and info.filename == "config.json"
    is_weights = outer.lower().endswith(".keras") and lower.endswith(".h5")
    if not (lower.endswith(contract.PICKLE_SUFFIXES) or is_config or is_weights):
        return
    try:
        data = zipread.read_member(inner, info, zipread.MEMBER_CAP if is_weights else zipread.PICKLE_CAP)
    except MemberError as exc:
        state.problems.add(exc.kind, label, f"{outer}: {exc}")
        return
    if is_weights:
        _check_weights(state, label, data)
        return
    if not is_config:
        add_pickle(state, label, data, kind="checkpoint" if state.payload == "torch" else None)
        return
    _add_config(state, label, data)


def _check_weights(state: State, label: str, data: bytes) -> None:
    """model.weights.h5: Keras reads each weight whole on load; a dataset may declare any size (compressed)."""
    try:
        datasets = _inspect_h5(data)[1]
    except ImportError:
        return
    except MemoryError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/RuntimeError on bad images
        state.problems.add("undecodable", label, f"{label} is not a readable HDF5 file ({type(exc).__name__})")
        return
    for d in datasets:
        if d["nbytes"] > bounds.MAX_ARRAY_BYTES:
            state.problems.add(
                "loader_cost",
                label,
                f"{label}: weight {d['name']!r} declares shape {tuple(d['shape'])} of {d['dtype']} ({d['nbytes']} bytes; "
                f"bound: {bounds.MAX_ARRAY_BYTES} per array): load_model reads every weight whole; do not load this model",
            )


def _add_config(state: State, label: str, data: bytes) -> None:
    """A Keras config.json (in model.keras, or a folder-format model the loader may fall back to)."""
    hostile, warnings = check_config(data)
    for finding in hostile:
        state.problems.add("keras_code", label, f"{label}: {finding}; do not load this model")
    state.warnings += [f"{label}: {w}" for w in warnings]


def _read_file(state: State, path: str, cap: int) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        state.problems.add("io_error", None, f"cannot read {path}: {exc.strerror or exc}")
        return None
    if len(data) > cap:
        state.problems.add("too_large", None, f"{path} is over {cap} bytes: not read")
        return None
    return data


def read_standalone(state: State, path: str) -> bool:
    """A payload given on its own (a .pt/.pth/.ckpt file, a torch zip, a .yaml): read it, True; else False.

    The archive clauses do not apply to such a file: it is judged as what it is (torchchecks).
    A torch zip's data.pkl is judged with the checkpoint allow-list, however the file is named.
    Only a regular file is a standalone payload: a stream piped in is the archive.
    """
    if not os.path.isfile(path):
        return False  # a pipe or FIFO can be read once only: open_zip reads it, as an archive
    name, lower = os.path.basename(path), path.lower()
    try:
        with open(path, "rb") as fh:
            is_zip = fh.read(4) in zipread.ZIP_MAGIC
    except OSError:
        return False  # open_zip names the problem
    torch_named = lower.endswith(contract.TORCH_SUFFIXES)
    if not (torch_named or lower.endswith(YAML_SUFFIXES) or (is_zip and _is_torch_zip(path))):
        return False
    state.payload, state.payload_name = ("yaml" if lower.endswith(YAML_SUFFIXES) else "torch"), name
    data = _read_file(state, path, zipread.MEMBER_CAP)
    if data is None:
        return True
    if not data:
        state.problems.add("empty", None, f"{path} is empty (0 bytes): the save did not finish")
    elif state.payload == "yaml":
        check_yaml(state, name, data)
        state.yaml_keys = yaml_keys(data)
    elif is_zip:
        listed = list_nested(state, name, data)
        if not isinstance(listed, list):
            state.problems.add("truncated", None, f"{path}: {listed}")
        else:
            state.members = _zip_members(data)
    else:
        add_pickle(state, name, data, legacy_torch=True)
    return True


def _zip_members(data: bytes) -> list[dict[str, Any]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = sorted(zf.infolist(), key=lambda i: (i.filename, i.header_offset))
    return [{"name": i.filename, "size": i.file_size, "compressed_size": i.compress_size} for i in infos]


def _is_torch_zip(path: str) -> bool:
    """A zip laid out as torch.save writes one (one record folder holding data.pkl), with no manifest."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist()[: zipread.MAX_MEMBERS]]
    except zipread.ZIP_ERRORS:
        return False
    return contract.MANIFEST not in names and torch_zip_prefix(names) is not None


def describe_in_process(path: str | os.PathLike[str], max_ops: int = DEFAULT_MAX_OPS) -> dict[str, Any]:
    """The inspection itself, in this process and unbounded: use :func:`describe_archive`."""
    state = State(os.fspath(path), max_ops)
    state.archive = zipread.resolve(state.path, state.problems)
    if state.archive and read_standalone(state, state.archive):
        return build_report(state, HOSTILE_KINDS, UNREADABLE_KINDS)
    opened = zipread.open_zip(state.archive, state.problems) if state.archive else None
    if opened is None:
        return build_report(state, HOSTILE_KINDS, UNREADABLE_KINDS)
    zf, head = opened
    with zf:
        infos = zf.infolist()
        zipread.note_prefix(state.warnings, state.path, head, infos)
        state.members = [
            {"name": i.filename, "size": i.file_size, "compressed_size": i.compress_size}
            for i in sorted(infos, key=lambda i: (i.filename, i.header_offset))
        ]
        for info in infos:
            state.infos.setdefault(zipread.landing(info.filename) + ("/" if info.is_dir() else ""), info)
        zipread.check_infos(infos, "", state.problems)
        blocking = sorted(state.problems.kinds() & (HOSTILE_KINDS | UNREADABLE_KINDS))
        if blocking:
            state.refused = "contents not read: " + ", ".join(blocking)
        else:
            _read_contents(state, zf)
    return build_report(state, HOSTILE_KINDS, UNREADABLE_KINDS)
