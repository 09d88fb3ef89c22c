"""The archive recipe: one row per archive member, with the evidence a writer design needs.

For each member (and the archive itself): its format, the line that wrote it in the save
phases, the line(s) that read it back in the load phases, what it holds, what loading
restores from it, the spec clauses whose evidence is that member and their verdicts. The
PyTorch column comes from the static scan of the PyTorch package (`torch`): the line of a
PyTorch writer whose file name is this member (or, for the Keras weights, a checkpoint);
`companion`, another run record (a run-backed PyTorch scenario), fills `companion` with the
line that wrote the same member in that run.
"""

from __future__ import annotations

from typing import Any, TypedDict

from .archive import member_writers
from .calls import hooks, role
from .config import load_side_effects
from .pytorch import torch_writers
from .source import file_named

FORMATS = {
    ".dill": "dill pickle",
    ".keras": "Keras zip",
    ".h5": "HDF5",
    ".zip": "zip (deflate)",
    ".pth": "torch.save",
    ".pt": "torch.save",
    ".ckpt": "Lightning checkpoint",
    ".json": "JSON",
}
WEIGHTS = (".keras", ".pth", ".pt", ".ckpt")


class RecipeRow(TypedDict):
    member: str
    """Member name inside the archive, or the archive's own file name (`archive` True)."""
    archive: bool
    format: str
    size: int | None
    writer: str | None
    """`path:line` of the line that wrote the file in a save phase (None: see `writer_note`)."""
    writer_note: str
    """Why there is no writer line: written with no namespace frame, or no write seen."""
    readers: list[str]
    """`path:line` of each line that read it back in a load phase (opened it, or h5py on it)."""
    holds: str
    restores: str | None
    """What loading restores from it into the global config (None: nothing seen)."""
    clauses: list[dict[str, str]]
    """Spec clauses whose evidence is this member: anchor, level, verdict."""
    torch: list[dict[str, Any]]
    """Static scan: PyTorch lines that write this member (or its counterpart) today."""
    companion: str | None
    """A run-backed PyTorch record: the line that wrote the same member there (None: no record)."""


def _suffix(name: str) -> str:
    base = name.rpartition("/")[2]
    return base[base.rfind(".") :] if "." in base else ""


def _phase_lines(record: dict[str, Any], ops: tuple[str, ...], phases: tuple[str, ...], name: str) -> list[str]:
    """The `by` anchors of file operations on `name` (a member path's tail) in these phases."""
    found: list[str] = []
    for sink in record.get("sinks") or []:
        if sink["op"] in ops and sink["phase"] in phases and sink["path"].endswith("/" + name) and sink.get("by"):
            at = sink["by"].split(" ")[0].rstrip(",")
            if at not in found:
                found.append(at)
    return found


def _h5_readers(record: dict[str, Any], phases: tuple[str, ...], name: str) -> list[str]:
    """h5py reads leave no audit event: a load-phase h5py call on a line naming the file."""
    root = (record.get("target") or {}).get("root")
    base = name.rpartition("/")[2]
    found: list[str] = []
    for row in record.get("library_calls") or []:
        if row["phase"] in phases and row["callee"].startswith("h5py") and row.get("at"):
            path, _, line = row["at"].rpartition(":")
            named = file_named(root, path, int(line)) if line.isdigit() else None
            if named and named[0] == base and row["at"] not in found:
                found.append(row["at"])
    return found


def _holds(record: dict[str, Any], name: str) -> str:
    """What a member holds, from the archive description (keys, names, attributes)."""
    description = record.get("archive_description") or {}
    model, _, base = name.rpartition("/")
    info = (description.get("models") or {}).get(model) or {}
    if base == "manifest.dill":
        manifest = description.get("manifest") or {}
        return "dict: " + ", ".join(f"{k}={manifest[k]!r}" for k in sorted(manifest))
    if base == "params.dill":
        keys = info.get("params_keys") or []
        scale = (info.get("params_values") or {}).get("intensity_scale")
        foreign = [
            g for g in ((description.get("pickles") or {}).get(name) or {}).get("globals", []) if "tensorflow" in g
        ]
        text = f"{len(keys)} keys of params.cfg + `_version`; intensity_scale={scale}"
        return text + (f"; pickles `{foreign[0]}` (reading needs TensorFlow)" if foreign else "")
    if base == "custom_objects.dill":
        names = info.get("custom_objects_names") or []
        text = f"{len(names)} names → classes: " + ", ".join(names[:3]) + (" …" if len(names) > 3 else "")
        return text + (
            "; the map the scenario passed, not one built by production code" if _scenario_saved(record) else ""
        )
    if base.endswith(".h5"):
        attrs = info.get("h5_attrs") or {}
        sets = info.get("h5_datasets") or []
        return (
            "attrs " + (", ".join(f"{k}={v}" for k, v in sorted(attrs.items())) or "none") + f"; {len(sets)} datasets"
        )
    if base.endswith(".keras"):
        return "zip of " + ", ".join(info.get("keras_members") or ["?"])
    if not model:
        return f"{len(description.get('members', []))} members"
    return "—"


def _scenario_saved(record: dict[str, Any]) -> bool:
    """Whether the scenario itself called into ModelManager in a save phase (it then chose the
    arguments, e.g. the custom-objects map, that production code would build)."""
    saves = set(role(record, "save"))
    return any(h["caller"] == "<scenario>" and saves & set(h["phases"]) for h in hooks(record))


def _restores(record: dict[str, Any], name: str) -> str | None:
    """What loading put into the global config that this member holds (its keys, set at the line shown)."""
    description = record.get("archive_description") or {}
    model, _, base = name.rpartition("/")
    keys = set(((description.get("models") or {}).get(model) or {}).get("params_keys") or [])
    if base != "params.dill" or not keys:
        return None
    parts = []
    for effect in load_side_effects(record):
        rows = [r for r in effect["net"] if r["key"] in keys]
        where = sorted({r["at"] for r in rows if r.get("at")})
        label = "same process" if not effect["fresh"] else "fresh process"
        label += " (it ran setup first)" if effect["fresh"] and effect.get("setup_first") else ""
        if not effect["ran"]:
            continue
        changed = [r["key"] for r in rows if r["op"] == "changed"]
        count = f"{len(changed)} changed, {sum(r['op'] == 'added' for r in rows)} added"
        if changed:
            count += " (changed: " + ", ".join(f"`{k}`" for k in changed[:4]) + (" …" if len(changed) > 4 else "") + ")"
        parts.append(f"{label}: {count}" + (f" at `{'`, `'.join(where)}`" if where else ""))
    return "params.cfg — " + "; ".join(parts) if parts else None


def _clauses(record: dict[str, Any], name: str, archive: bool) -> list[dict[str, str]]:
    display = (record.get("archive_description") or {}).get("display_path") or ""
    rows = []
    for clause in (record.get("spec") or {}).get("clauses", []):
        anchors = [e.get("anchor") or "" for e in clause.get("evidence", []) if e.get("source") == "archive"]
        if any(a == display if archive else a.endswith("› " + name) for a in anchors):
            rows.append({"anchor": clause.get("anchor") or "", "level": clause["level"], "verdict": clause["verdict"]})
    return rows


def _torch_for(writers: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The PyTorch writers of the same file name; for the Keras weights, of a weights file."""
    base = name.rpartition("/")[2]
    same = [w for w in writers if w["file"] == base]
    if same or _suffix(base) != ".keras":
        return same
    weights = [w for w in writers if _suffix(w["file"]) in WEIGHTS and w["kind"] != "archive-member"]
    return sorted(weights, key=lambda w: w["kind"] in ("lightning-checkpoint", "save-checkpoint"))  # files first


def recipe_rows(record: dict[str, Any], companion: dict[str, Any] | None = None) -> list[RecipeRow]:
    """One row per archive member (the archive first, then its members in name order)."""
    description = record.get("archive_description") or {}
    if not description:
        return []
    saves, loads = role(record, "save"), role(record, "load")
    archive_name = (description.get("display_path") or "wts.h5.zip").rpartition("/")[2]
    members = [(archive_name, True, description.get("total_size"))]
    members += [(m["name"], False, m.get("size")) for m in description.get("members", [])]
    writers = torch_writers(record)
    theirs = {r["member"]: r["writer"] for r in recipe_rows(companion)} if companion else None
    rows: list[RecipeRow] = []
    for name, archive, size in members:
        readers = _phase_lines(record, ("read",), loads, name) + _h5_readers(record, loads, name)
        if archive:  # the zip is opened where it is extracted; a fresh process saw no write of it
            first = members[1][0] if len(members) > 1 else None
            readers = readers or (_phase_lines(record, ("write",), loads, first) if first else [])
        rows.append(
            RecipeRow(
                member=name,
                archive=archive,
                format=FORMATS.get(_suffix(name), _suffix(name) or "?"),
                size=size,
                writer=next(iter(_phase_lines(record, ("write",), saves, name)), None),
                writer_note=member_writers(record).get(name, "no write seen"),
                readers=readers,
                holds=_holds(record, name),
                restores=_restores(record, name),
                clauses=_clauses(record, name, archive),
                torch=_torch_for(writers, name),
                companion=(theirs or {}).get(name) if theirs is not None else None,
            )
        )
    return rows


def _enclosing(calls: list[dict[str, Any]], at: str) -> dict[str, Any] | None:
    """The first kept call whose function holds the line `at` (the latest def above it in that file)."""
    path, _, line = at.rpartition(":")
    if not line.isdigit():
        return None
    holders = [c for c in calls if c.get("path") == path and c.get("line") and c["line"] <= int(line)]
    if not holders:
        return None
    nearest = max(c["line"] for c in holders)
    return next(c for c in holders if c["line"] == nearest)


def data_chain(record: dict[str, Any], phases: tuple[str, ...]) -> list[dict[str, Any]]:
    """The calls from the entry to each call that wrote (save) or read (load) an archive
    member or the archive in these phases, in call order; side calls off those paths (lazy
    getters, config reads) are left out. Empty when no such file operation was recorded."""
    description = record.get("archive_description") or {}
    names = [m.get("name") for m in description.get("members") or [] if isinstance(m, dict)]
    names.append((description.get("display_path") or "wts.h5.zip").rpartition("/")[2])
    ops = ("write", "read") if any(s.get("op") == "read" for s in record.get("sinks") or []) else ("write",)
    lines = {
        (s["phase"], (s.get("by") or "").split(" ")[0].rstrip(","))
        for s in record.get("sinks") or []
        if s.get("op") in ops
        and s.get("phase") in phases
        and s.get("by")
        and any(name and s["path"].endswith("/" + name) for name in names)
    }
    by_index = {c["i"]: c for c in record.get("calls") or []}
    kept: dict[int, dict[str, Any]] = {}
    for phase, at in sorted(lines):
        call = _enclosing([c for c in record.get("calls") or [] if c["phase"] == phase], at)
        while call is not None and call["i"] not in kept:
            kept[call["i"]] = call
            call = by_index.get(call["parent"]) if call.get("parent") is not None else None
    first: dict[str, dict[str, Any]] = {}
    for call in sorted(kept.values(), key=lambda c: c["i"]):
        first.setdefault(call["function"], call)
    return list(first.values())
