"""Describe a ``wts.h5.zip`` model archive without trusting it, and check it against the contract.

``callchain inspect PATH [--json]`` answers two questions about an archive written by
PtychoPINN's ``ModelManager.save_multiple_models``: *what is in it* and *does it meet the
persistence contract* (manifest, both models, per-model payloads, backend tag, and whether
its two ``intensity_scale`` records agree).

The archive is untrusted input, so this module never does what a loader does:

* nothing is extracted: members are read into memory, at most a capped number of bytes,
  and only after the central directory has been checked (names, symlinks, duplicates,
  compression ratio, total size);
* nothing is unpickled: ``.dill``/pickle members are walked with
  :func:`pickletools.genops` by a small stack machine (``safepickle.decode_pickle``) that
  rebuilds plain containers and scalars and replaces every import or call by a placeholder;
* HDF5 members are opened read-only from memory (``h5py.File(io.BytesIO(data), 'r')``) and
  only their attributes and dataset shapes are read; a ``model.keras`` member (itself a zip)
  is listed from memory.

Everything returned is plain JSON-serialisable data in a fixed key order, so two runs on the
same archive print the same bytes.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import stat
import struct
import sys
import zipfile
import zlib
from typing import Any, Sequence

from .safepickle import PickleReport, json_number, as_number, decode_pickle

__all__ = ["decode_pickle", "describe_archive", "render_text", "main", "PickleReport"]

MiB = 1 << 20
GiB = 1 << 30
PICKLE_CAP = 64 * MiB  # pickles are small (params.dill is ~35 KB); more is not a params file
MEMBER_CAP = 256 * MiB  # model.keras holds the weights (~10 MB for the reference model)
BOMB_RATIO = 100  # deflate rarely beats 100:1 on real data; zero-filled bombs reach 1000:1
BOMB_MIN_SIZE = 1 * MiB  # small members may compress well (config.json) and cost nothing
TOTAL_CAP = 2 * GiB
MAX_MEMBERS = 10_000

ARCHIVE_NAME = "wts.h5.zip"
REQUIRED_MODELS = ("autoencoder", "diffraction_to_obj")
PARAMS_REQUIRED = ("N", "gridsize", "intensity_scale")
BACKENDS = ("tensorflow", "pytorch")
PICKLE_SUFFIXES = (".dill", ".pkl", ".pickle")
TORCH_SUFFIXES = (".ckpt", ".pth", ".pt")  # .ckpt is Lightning's; PtychoPINN's shim writes .pth
HINT = "pass the path of a wts.h5.zip written by ModelManager.save_multiple_models"
REFUSE = "refusing to read this archive; do not extract or load it"

HOSTILE_KINDS = frozenset({"unsafe_path", "symlink", "duplicate", "bomb", "executes_code"})
UNREADABLE_KINDS = frozenset(
    {"not_found", "not_a_file", "io_error", "empty", "not_zip", "truncated", "corrupt_member", "encrypted"}
)

# ============================================================================================
# Zip layer
# ============================================================================================


class _Problems:
    """Ordered list of ``{kind, member, message}`` found while describing one archive."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, kind: str, member: str | None, message: str) -> None:
        entry = {"kind": kind, "member": member, "message": message}
        if entry not in self.items:
            self.items.append(entry)

    def kinds(self) -> set[str]:
        return {p["kind"] for p in self.items}


class _MemberError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _check_infos(infos: list[zipfile.ZipInfo], where: str, problems: _Problems) -> None:
    """Flag what a careless extractor would get wrong, from the central directory alone.

    ``where`` prefixes member names for nested zips (``autoencoder/model.keras::...``).
    """
    if len(infos) > MAX_MEMBERS:
        problems.add("bomb", None, f"{where or 'archive'} lists {len(infos)} members (> {MAX_MEMBERS}): {REFUSE}")
    counts: dict[str, int] = {}
    total = 0
    for info in infos:
        name, label = info.filename, where + info.filename
        counts[name] = counts.get(name, 0) + 1
        total += info.file_size
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            problems.add("unsafe_path", label, f"member {label!r} has an absolute path: {REFUSE}")
        if ".." in parts:
            problems.add("unsafe_path", label, f"member {label!r} escapes the archive root ('..' component): {REFUSE}")
        if "\\" in name:
            problems.add("unsafe_path", label,
                         f"member {label!r} contains a backslash, a folder separator on Windows: {REFUSE}")
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.add("symlink", label,
                         f"member {label!r} is a symbolic link: extracting it could write outside the target: {REFUSE}")
        if info.flag_bits & 0x1:
            problems.add("encrypted", label, f"member {label!r} is encrypted: {HINT}")
        if info.file_size > BOMB_MIN_SIZE and info.file_size > BOMB_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            problems.add("bomb", label,
                         f"member {label!r} expands {ratio}x ({info.file_size} bytes from {info.compress_size}): "
                         f"looks like a zip bomb; {REFUSE}")
    for name, n in counts.items():
        if n > 1:
            problems.add("duplicate", where + name,
                         f"member name {where + name!r} appears {n} times: tools disagree on which copy wins; {REFUSE}")
    if total > TOTAL_CAP:
        problems.add("bomb", None, f"{where or 'archive'} members expand to {total} bytes (> 2 GiB): {REFUSE}")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """Read one member into memory, streaming, never more than ``cap`` bytes."""
    if info.file_size > cap:
        raise _MemberError("too_large", f"member {info.filename!r} is {info.file_size} bytes (> {cap}): not read")
    buf = bytearray()
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(min(MiB, cap + 1 - len(buf)))
                if not chunk:
                    break
                buf += chunk
                if len(buf) > cap:
                    raise _MemberError("too_large", f"member {info.filename!r} inflates past {cap} bytes: not read")
    except _MemberError:
        raise
    except zipfile.BadZipFile as exc:
        kind = "bomb" if "overlap" in str(exc).lower() else "corrupt_member"
        raise _MemberError(kind, f"member {info.filename!r} is corrupt ({exc}): the archive is damaged; {HINT}")
    except (zlib.error, EOFError, OSError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise _MemberError("corrupt_member",
                           f"member {info.filename!r} cannot be read ({type(exc).__name__}: {exc}); {HINT}")
    return bytes(buf)


def _inspect_h5(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Root attributes (name -> summary) and datasets (name, shape, dtype) of an HDF5 image.

    Opened read-only from memory; dataset contents are never read.
    """
    import h5py  # imported here so the rest of the module works without it

    attrs: dict[str, Any] = {}
    datasets: list[dict[str, Any]] = []
    with h5py.File(io.BytesIO(data), "r") as h5:
        for key in sorted(h5.attrs.keys()):
            try:
                attrs[key] = _h5_value(h5.attrs[key])
            except Exception as exc:  # exotic attribute types: report, do not fail
                attrs[key] = f"<unreadable attribute: {type(exc).__name__}>"

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and len(datasets) < 1000:
                datasets.append({"name": name, "shape": list(obj.shape or ()), "dtype": str(obj.dtype)})

        h5.visititems(visit)
    datasets.sort(key=lambda d: d["name"])
    return attrs, datasets


def _h5_value(value: Any) -> Any:
    """An HDF5 attribute as JSON-ready data: small arrays as lists, big ones as shape/dtype."""
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


# ============================================================================================
# Describing an archive
# ============================================================================================


class _Archive:
    """State gathered while describing one archive; turned into the report by ``_report``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.archive: str | None = None
        self.problems = _Problems()
        self.members: list[dict[str, Any]] = []
        self.infos: dict[str, zipfile.ZipInfo] = {}
        self.pickles: dict[str, PickleReport] = {}
        self.h5: dict[str, tuple[dict[str, Any], list[dict[str, Any]]] | str] = {}
        self.nested: dict[str, list[str] | str] = {}
        self.refused: str | None = None  # why contents were not read


def _resolve(path: str, problems: _Problems) -> str | None:
    """The archive file to open: ``path``, ``path/wts.h5.zip``, or ``path + '.zip'``."""
    if os.path.isdir(path):
        candidate = os.path.join(path, ARCHIVE_NAME)
        if os.path.isfile(candidate):
            return candidate
        problems.add("not_found", None,
                     f"{path} is a directory without {ARCHIVE_NAME}: pass the archive or the output folder holding it")
        return None
    if os.path.exists(path):
        if not os.path.isfile(path):
            problems.add("not_a_file", None, f"{path} is not a regular file: {HINT}")
            return None
        return path
    if not path.endswith(".zip") and os.path.isfile(path + ".zip"):
        return path + ".zip"
    problems.add("not_found", None, f"{path} does not exist (nor {path}.zip): {HINT}")
    return None


def _open_zip(state: _Archive) -> zipfile.ZipFile | None:
    """Open the zip after checking size and magic; record why not when it cannot be opened."""
    path = state.archive or state.path
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        state.problems.add("io_error", None, f"cannot read {path}: {exc.strerror or exc}")
        return None
    if not magic:
        state.problems.add("empty", None, f"{path} is empty (0 bytes): the save did not finish; {HINT}")
        return None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        state.problems.add("not_zip", None, f"{path} is not a zip file (bad magic): {HINT}")
        return None
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        state.problems.add("truncated", None, f"{path} is truncated or corrupt ({exc}): re-save the model; {HINT}")
    except (OSError, EOFError, ValueError, NotImplementedError, RuntimeError, struct.error) as exc:
        state.problems.add("truncated", None,
                           f"{path} cannot be opened as a zip ({type(exc).__name__}: {exc}): re-save the model; {HINT}")
    return None


def _read_contents(state: _Archive, zf: zipfile.ZipFile) -> None:
    """Decode pickles, open HDF5 members and list nested zips, all from memory."""
    for name, info in sorted(state.infos.items()):
        lower = name.lower()
        if name.endswith("/"):
            continue
        wanted = lower.endswith(PICKLE_SUFFIXES) or lower.endswith((".h5", ".keras")) or lower.endswith(TORCH_SUFFIXES)
        if not wanted:
            continue
        cap = PICKLE_CAP if lower.endswith(PICKLE_SUFFIXES) else MEMBER_CAP
        try:
            data = _read_member(zf, info, cap)
        except _MemberError as exc:
            state.problems.add(exc.kind, name, str(exc))
            continue
        if lower.endswith(PICKLE_SUFFIXES):
            _add_pickle(state, name, data)
        elif lower.endswith(".h5"):
            try:
                state.h5[name] = _inspect_h5(data)
            except ImportError:
                state.h5[name] = "h5py is not installed"
            except Exception as exc:  # h5py raises OSError/KeyError/RuntimeError on bad images
                state.h5[name] = f"not a readable HDF5 file ({type(exc).__name__}: {exc})"
                state.problems.add("undecodable", name, f"{name!r} is not a readable HDF5 file ({type(exc).__name__})")
        else:
            state.nested[name] = _list_nested(state, name, data)


def _add_pickle(state: _Archive, label: str, data: bytes) -> None:
    report = decode_pickle(data)
    state.pickles[label] = report
    for hazard in report.hazards:
        state.problems.add("executes_code", label,
                           f"{label}: unpickling would execute code: {hazard}; do not load this archive with dill/pickle")
    if report.error:
        state.problems.add("undecodable", label, f"{label} is not a well-formed pickle ({report.error})")


def _list_nested(state: _Archive, outer: str, data: bytes) -> list[str] | str:
    """Member names of a zip held in memory (model.keras, a torch .ckpt); pickles inside decoded."""
    if data[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        return "not a zip file"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            infos = inner.infolist()
            before = len(state.problems.items)
            _check_infos(infos, outer + "::", state.problems)
            if any(p["kind"] in HOSTILE_KINDS for p in state.problems.items[before:]):
                return sorted(i.filename for i in infos)
            for info in sorted(infos, key=lambda i: i.filename):
                if info.filename.lower().endswith(PICKLE_SUFFIXES):
                    label = f"{outer}::{info.filename}"
                    try:
                        _add_pickle(state, label, _read_member(inner, info, PICKLE_CAP))
                    except _MemberError as exc:
                        state.problems.add(exc.kind, label, f"{outer}: {exc}")
            return sorted(i.filename for i in infos)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError, struct.error) as exc:
        return f"not a readable zip ({type(exc).__name__}: {exc})"


def describe_archive(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe the archive at ``path`` and check it against the persistence contract.

    ``path`` may be the zip, the ``wts.h5`` base name callers pass, or the output folder.
    Never raises for bad input: problems are reported in the result (see module docstring).
    """
    state = _Archive(os.fspath(path))
    state.archive = _resolve(state.path, state.problems)
    if state.archive is None:
        return _report(state)
    zf = _open_zip(state)
    if zf is None:
        return _report(state)
    with zf:
        infos = zf.infolist()
        state.members = [
            {"name": i.filename, "size": i.file_size, "compressed_size": i.compress_size}
            for i in sorted(infos, key=lambda i: (i.filename, i.header_offset))
        ]
        state.infos = {i.filename: i for i in infos}
        _check_infos(infos, "", state.problems)
        blocking = sorted(state.problems.kinds() & (HOSTILE_KINDS | UNREADABLE_KINDS))
        if blocking:
            state.refused = "contents not read: " + ", ".join(blocking)
        else:
            _read_contents(state, zf)
    return _report(state)


# --- contract ---------------------------------------------------------------------------------


def _clause(cid: str, text: str, status: str, detail: str) -> dict[str, str]:
    return {"id": cid, "text": text, "status": status, "detail": detail}


GLOBAL_CLAUSES = (
    ("manifest.present", "manifest.dill at the archive root, decodable as a dict"),
    ("manifest.keys", "manifest holds 'models' and 'version'"),
    ("manifest.backend", "backend tag: absent means tensorflow; PyTorch archives must set 'backend': 'pytorch'"),
    ("models.required", "both autoencoder and diffraction_to_obj present, in the manifest and as folders"),
)


def _manifest(state: _Archive) -> tuple[Any, str | None]:
    """(plain manifest or None, why it is unusable or None)."""
    report = state.pickles.get("manifest.dill")
    if "manifest.dill" not in state.infos:
        return None, "no manifest.dill at the archive root"
    if report is None:
        return None, "manifest.dill was not read"
    if report.error:
        return None, f"manifest.dill is not decodable ({report.error})"
    value = report.plain()
    if not isinstance(value, dict):
        return value, f"manifest.dill holds a {type(report.value).__name__}, not a dict"
    return value, None


def _backend(state: _Archive, manifest: Any) -> tuple[str, str]:
    tag = manifest.get("backend") if isinstance(manifest, dict) else None
    torch = [m["name"] for m in state.members if m["name"].lower().endswith(TORCH_SUFFIXES)]
    if isinstance(tag, str):
        return tag, "tag"
    if torch:
        return "pytorch", f"inferred from {torch[0]}"
    return "tensorflow", "default: no tag"


def _model_names(state: _Archive, manifest: Any) -> tuple[list[str], list[str]]:
    """(models that get per-model clauses, all model folders/names to describe)."""
    listed = manifest.get("models") if isinstance(manifest, dict) else None
    named = [m for m in listed if isinstance(m, str)] if isinstance(listed, list) else []
    checked = list(REQUIRED_MODELS) + [m for m in dict.fromkeys(named) if m not in REQUIRED_MODELS]
    folders = sorted({m["name"].split("/", 1)[0] for m in state.members if "/" in m["name"]})
    return checked, checked + [f for f in folders if f not in checked and f]


def _model_info(state: _Archive, model: str) -> dict[str, Any]:
    """What one model folder holds, for the report and the per-model clauses."""
    prefix = model + "/"
    members = [m["name"] for m in state.members if m["name"].startswith(prefix)]
    keras = state.nested.get(prefix + "model.keras")
    h5 = state.h5.get(prefix + "model.h5")
    params = state.pickles.get(prefix + "params.dill")
    custom = state.pickles.get(prefix + "custom_objects.dill")
    params_plain = params.plain() if params and not params.error else None
    custom_plain = custom.plain() if custom and not custom.error else None
    return {
        "members": members,
        "keras_members": keras if isinstance(keras, list) else None,
        "h5_attrs": h5[0] if isinstance(h5, tuple) else None,
        "h5_datasets": h5[1] if isinstance(h5, tuple) else None,
        "params_keys": sorted(params_plain) if isinstance(params_plain, dict) else None,
        "params_values": (
            {k: _unwrap(params_plain[k]) for k in PARAMS_REQUIRED if k in params_plain}
            if isinstance(params_plain, dict) else None
        ),
        "custom_objects_names": sorted(custom_plain) if isinstance(custom_plain, dict) else None,
        "custom_objects_refs": (
            {k: (v.get("__global__") if isinstance(v, dict) else None) for k, v in sorted(custom_plain.items())}
            if isinstance(custom_plain, dict) else None
        ),
        "checkpoints": [m for m in members if m.lower().endswith(TORCH_SUFFIXES)],
        "hyperparameters": [m for m in members if _is_hparams(m[len(prefix):])],
    }


def _unwrap(value: Any) -> Any:
    """A decoded numpy scalar placeholder as its number; anything else unchanged."""
    number = as_number(value)
    return value if number is None else number


def _is_hparams(name: str) -> bool:
    base = name.rsplit("/", 1)[-1].lower()
    return base in ("hparams.yaml", "hparams.yml", "params.dill") or "hyperparameters" in base or "hparams" in base


def _pickle_clause(state: _Archive, member: str) -> tuple[str, str] | None:
    """(status, detail) when a pickle member is missing or unusable, else None."""
    if member not in state.infos:
        return "fail", f"{member} is missing"
    report = state.pickles.get(member)
    if report is None:
        return "fail", f"{member} was not read"
    if report.error:
        return "fail", f"{member} is not decodable ({report.error})"
    if not isinstance(report.value, dict):
        return "fail", f"{member} holds a {type(report.value).__name__}, not a dict"
    return None


def _fmt(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _tf_clauses(state: _Archive, model: str, info: dict[str, Any]) -> list[dict[str, str]]:
    p = model + "/"
    out = []
    keras = state.nested.get(p + "model.keras")
    if p + "model.keras" not in state.infos:
        out.append(_clause(f"tf.model_keras[{model}]", f"{p}model.keras present (a Keras zip)", "fail",
                           f"{p}model.keras is missing"))
    elif isinstance(keras, list):
        out.append(_clause(f"tf.model_keras[{model}]", f"{p}model.keras present (a Keras zip)", "pass",
                           f"{len(keras)} members: {', '.join(keras)}"))
    else:
        out.append(_clause(f"tf.model_keras[{model}]", f"{p}model.keras present (a Keras zip)",
                           "fail" if keras else "skip", f"{p}model.keras: {keras or 'not read'}"))

    text = f"{p}params.dill decodable, with keys {', '.join(PARAMS_REQUIRED)}"
    bad = _pickle_clause(state, p + "params.dill")
    if bad:
        out.append(_clause(f"tf.params[{model}]", text, *bad))
    else:
        missing = [k for k in PARAMS_REQUIRED if k not in (info["params_keys"] or [])]
        values = ", ".join(f"{k}={_fmt(v)}" for k, v in (info["params_values"] or {}).items())
        out.append(_clause(f"tf.params[{model}]", text, "fail" if missing else "pass",
                           (f"missing keys: {', '.join(missing)}; " if missing else "")
                           + f"{len(info['params_keys'] or [])} keys; {values}"))

    text = f"{p}custom_objects.dill decodable (name -> class map)"
    bad = _pickle_clause(state, p + "custom_objects.dill")
    refs = info["custom_objects_refs"] or {}
    out.append(_clause(f"tf.custom_objects[{model}]", text, *(bad or (
        "pass", f"{len(refs)} names: " + ", ".join(f"{k} -> {v}" for k, v in refs.items())))))

    text = f"{p}model.h5 readable, with attribute intensity_scale"
    h5 = state.h5.get(p + "model.h5")
    if p + "model.h5" not in state.infos:
        out.append(_clause(f"tf.model_h5[{model}]", text, "fail", f"{p}model.h5 is missing"))
    elif not isinstance(h5, tuple):
        out.append(_clause(f"tf.model_h5[{model}]", text, "fail", f"{p}model.h5: {h5 or 'not read'}"))
    elif "intensity_scale" not in h5[0]:
        out.append(_clause(f"tf.model_h5[{model}]", text, "fail",
                           f"attributes: {', '.join(h5[0]) or 'none'}; intensity_scale is missing"))
    else:
        out.append(_clause(f"tf.model_h5[{model}]", text, "pass",
                           f"intensity_scale={_fmt(h5[0]['intensity_scale'])}"))
    out.append(_intensity_clause(model, info))
    return out


def _intensity_clause(model: str, info: dict[str, Any]) -> dict[str, str]:
    """params.dill and model.h5 both record intensity_scale; they must agree.

    Agreement is judged at float32 precision: ``model_manager.save()`` stores a float32 copy
    (988.2117688026185 -> 988.211669921875), which is a rounding, not a disagreement.
    """
    cid, text = f"tf.intensity_scale[{model}]", f"{model}: params.dill and model.h5 agree on intensity_scale"
    from_params = as_number((info["params_values"] or {}).get("intensity_scale"))
    from_h5 = as_number((info["h5_attrs"] or {}).get("intensity_scale"))
    if from_params is None or from_h5 is None:
        return _clause(cid, text, "skip", "needs a numeric intensity_scale in both params.dill and model.h5")
    both = f"params.dill {from_params!r} vs model.h5 {from_h5!r}"
    if from_params == from_h5:
        return _clause(cid, text, "pass", f"both {from_params!r}")
    if math.isclose(from_params, from_h5, rel_tol=1e-6):
        return _clause(cid, text, "pass", f"{both} (equal at float32 precision)")
    return _clause(cid, text, "fail", f"disagree: {both}")


def _torch_clauses(state: _Archive, model: str, info: dict[str, Any]) -> list[dict[str, str]]:
    ckpts = [m for m in info["checkpoints"] if m.lower().endswith(".ckpt")]
    out = [_clause(f"torch.ckpt[{model}]", f"{model}/ holds a Lightning .ckpt payload",
                   "pass" if ckpts else "fail",
                   ", ".join(ckpts) if ckpts else f"no .ckpt under {model}/ (found: {', '.join(info['members']) or 'nothing'})")]
    hparams = info["hyperparameters"]
    bad = [h for h in hparams if h.lower().endswith(PICKLE_SUFFIXES) and _pickle_clause(state, h)]
    status = "pass" if hparams and not bad else "fail"
    detail = ", ".join(hparams) if hparams else f"no hparams.yaml / params.dill / hyperparameters member under {model}/"
    if bad:
        detail = "; ".join(_pickle_clause(state, h)[1] for h in bad)  # type: ignore[index]
    out.append(_clause(f"torch.hparams[{model}]", f"{model}/ carries serialized hyperparameters", status, detail))
    return out


def _clauses(state: _Archive, manifest: Any, why: str | None, backend: tuple[str, str],
             models: dict[str, dict[str, Any]], checked: list[str]) -> list[dict[str, str]]:
    out = [_clause(GLOBAL_CLAUSES[0][0], GLOBAL_CLAUSES[0][1], "fail" if why else "pass",
                   why or f"keys: {', '.join(manifest)}")]
    if why:
        out.append(_clause(*GLOBAL_CLAUSES[1], "skip", why))
    else:
        missing = [k for k in ("models", "version") if k not in manifest]
        out.append(_clause(*GLOBAL_CLAUSES[1], "fail" if missing else "pass",
                           f"missing: {', '.join(missing)}" if missing
                           else f"models={_fmt(manifest['models'])}, version={_fmt(manifest['version'])}"))
    out.append(_backend_clause(state, manifest, why, backend))
    listed = manifest.get("models") if isinstance(manifest, dict) else None
    gaps = []
    for m in REQUIRED_MODELS:
        if not (isinstance(listed, list) and m in listed):
            gaps.append(f"{m} not in manifest['models']")
        if not models.get(m, {}).get("members"):
            gaps.append(f"no {m}/ folder")
    out.append(_clause(*GLOBAL_CLAUSES[3], "fail" if gaps else "pass", "; ".join(gaps) or "both present"))
    for m in checked:
        out += _torch_clauses(state, m, models[m]) if backend[0] == "pytorch" else _tf_clauses(state, m, models[m])
    return out


def _backend_clause(state: _Archive, manifest: Any, why: str | None, backend: tuple[str, str]) -> dict[str, str]:
    torch = [m["name"] for m in state.members if m["name"].lower().endswith(TORCH_SUFFIXES)]
    has_tag = isinstance(manifest, dict) and "backend" in manifest
    tag = manifest.get("backend") if has_tag else None
    if has_tag and tag not in BACKENDS:
        return _clause(*GLOBAL_CLAUSES[2], "fail", f"unknown backend tag {_fmt(tag)} (expected one of {', '.join(BACKENDS)})")
    if torch and tag != "pytorch":
        where = "manifest.dill" if not why else "the manifest (unreadable)"
        return _clause(*GLOBAL_CLAUSES[2], "fail",
                       f"PyTorch archive (holds {', '.join(torch)}) but {where} has "
                       f"{'backend=' + _fmt(tag) if has_tag else 'no backend tag'}: add 'backend': 'pytorch'")
    if why:
        return _clause(*GLOBAL_CLAUSES[2], "skip", why)
    if has_tag:
        return _clause(*GLOBAL_CLAUSES[2], "pass", f"backend={_fmt(tag)}")
    return _clause(*GLOBAL_CLAUSES[2], "pass", "no tag: tensorflow by default, and no PyTorch payloads")


def _report(state: _Archive) -> dict[str, Any]:
    """Assemble the description in a fixed key order."""
    readable = state.archive is not None and not (
        state.problems.kinds() & {"not_found", "not_a_file", "io_error", "empty", "not_zip", "truncated"})
    manifest, why = _manifest(state) if readable and not state.refused else (None, None)
    backend = _backend(state, manifest) if readable else (None, None)
    models: dict[str, dict[str, Any]] = {}
    clauses: list[dict[str, str]]
    if readable and not state.refused:
        checked, described = _model_names(state, manifest)
        models = {m: _model_info(state, m) for m in described}
        clauses = _clauses(state, manifest, why, backend, models, checked)  # type: ignore[arg-type]
    else:
        reason = state.refused or "not checked: the archive could not be opened"
        clauses = [_clause(cid, text, "skip", reason) for cid, text in GLOBAL_CLAUSES]

    kinds = state.problems.kinds()
    failed = [c for c in clauses if c["status"] == "fail"]
    if kinds & HOSTILE_KINDS:
        status, code = "hostile", 2
    elif kinds & UNREADABLE_KINDS:
        status, code = "unreadable", 2
    elif failed:
        status, code = "violations", 1
    else:
        status, code = "ok", 0
    if code == 2:
        first = next(p for p in state.problems.items if p["kind"] in (HOSTILE_KINDS | UNREADABLE_KINDS))
        summary = first["message"]
    elif code == 1:
        summary = f"{len(failed)} contract clause(s) failed: " + ", ".join(c["id"] for c in failed)
    else:
        summary = "meets the persistence contract"
    return {
        "path": state.path,
        "archive": state.archive,
        "status": status,
        "exit_code": code,
        "summary": summary,
        "backend": backend[0],
        "backend_source": backend[1],
        "members": state.members,
        "total_size": sum(m["size"] for m in state.members),
        "total_compressed_size": sum(m["compressed_size"] for m in state.members),
        "manifest": manifest,
        "models": models,
        "pickles": {name: state.pickles[name].as_dict() for name in sorted(state.pickles)},
        "clauses": clauses,
        "problems": state.problems.items,
    }


# ============================================================================================
# Text report and CLI
# ============================================================================================


def _safe(text: Any) -> str:
    """Escape control characters so hostile member names cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def render_text(description: dict[str, Any]) -> str:
    """A readable report of :func:`describe_archive`'s result."""
    d = description
    lines = [
        f"archive: {_safe(d['archive'] or d['path'])}",
        f"status:  {d['status']} (exit {d['exit_code']}): {_safe(d['summary'])}",
    ]
    if d["backend"]:
        lines.append(f"backend: {_safe(d['backend'])} ({_safe(d['backend_source'])})")
    if d["manifest"] is not None:
        lines.append(f"manifest: {_safe(_fmt(d['manifest']))}")
    if d["members"]:
        lines += ["", f"members ({len(d['members'])}; {d['total_size']} bytes, {d['total_compressed_size']} compressed)",
                  f"  {'size':>12}  {'compressed':>12}  name"]
        lines += [f"  {m['size']:>12}  {m['compressed_size']:>12}  {_safe(m['name'])}" for m in d["members"]]
    if d["models"]:
        lines += ["", "models"]
        for name, m in d["models"].items():
            lines.append(f"  {_safe(name)}: {len(m['members'])} members")
            if m["keras_members"] is not None:
                lines.append(f"    model.keras: {_safe(', '.join(m['keras_members']))}")
            if m["h5_attrs"] is not None:
                lines.append(f"    model.h5 attrs: {_safe(_fmt(m['h5_attrs']))}")
            if m["params_keys"] is not None:
                lines.append(f"    params.dill: {len(m['params_keys'])} keys; {_safe(_fmt(m['params_values']))}")
            if m["custom_objects_refs"] is not None:
                refs = ", ".join(f"{k} -> {v}" for k, v in m["custom_objects_refs"].items())
                lines.append(f"    custom_objects.dill: {_safe(refs)}")
            if m["checkpoints"]:
                lines.append(f"    checkpoints: {_safe(', '.join(m['checkpoints']))}")
    if d["pickles"]:
        lines += ["", "pickles (decoded without unpickling; names they would import)"]
        for name, p in d["pickles"].items():
            lines.append(f"  {_safe(name)}: {_safe(', '.join(p['globals']) or 'plain data only')}")
            if p["error"]:
                lines.append(f"    error: {_safe(p['error'])}")
    lines += ["", "contract"]
    lines += [f"  {c['status'].upper():<4}  {_safe(c['id'])}: {_safe(c['detail'])}" for c in d["clauses"]]
    if d["problems"]:
        lines += ["", "problems"]
        lines += [f"  [{p['kind']}] {_safe(p['message'])}" for p in d["problems"]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``callchain inspect PATH [--json]``: exit 0 meets the contract, 1 violates, 2 unreadable/hostile."""
    parser = argparse.ArgumentParser(
        prog="callchain inspect",
        description="Describe a wts.h5.zip model archive without extracting or unpickling it, "
                    "and check it against the persistence contract.",
    )
    parser.add_argument("path", metavar="PATH", help="wts.h5.zip, its base name wts.h5, or the folder holding it")
    parser.add_argument("--json", action="store_true", help="print the description as one JSON document")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage; keep main() returning an int
        return exc.code if isinstance(exc.code, int) else 2
    try:
        description = describe_archive(args.path)
    except Exception as exc:  # a bug, not bad input; still no traceback for the user
        print(f"error: internal error while inspecting {args.path} ({type(exc).__name__}: {exc}); "
              "please report it with the archive", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(description, indent=2, ensure_ascii=False))
    elif description["status"] != "unreadable":
        print(render_text(description), end="")
    if description["exit_code"] == 2:
        print(f"error: {_safe(description['summary'])}", file=sys.stderr)
    return int(description["exit_code"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
