"""Two archive descriptions side by side: does B meet every clause A meets? (``callchain parity``)

The API, for the command, the pytest fixture and the report::

    rows = compare(description_a, description_b, runs=None, link=None, rel_tol=1e-6)
    code, summary = verdict(description_a, description_b, rows)

``description_*`` are what :func:`harness.inspect.sandbox.describe_archive` returns (plain data; both
archives read by the same sandboxed reader, nothing unpickled). ``runs``, when both archives come
from traced runs, is a pair of *run facts* ``{"writers": {member: "path:line"}, "restored": {key:
value}}``: the line that wrote each member, and what a fresh-process load restored into
``params.cfg`` (``harness.report.parity`` reads them from the run records). ``link`` maps a check or
contract clause id to the target's spec sentences (:mod:`harness.static.speclink`), so each row
cites its ``path:line``.

Each row is ``{section, item, a, b, status, clause, spec, writer_a, writer_b, gate}``. Sections:
``clauses`` (every contract check of A, beside the check that plays its part in B: a Keras
``model.keras`` is met by a Lightning ``.ckpt``, see :data:`harness.contract.COUNTERPARTS`),
``members`` (present, kind, size), ``manifest`` (keys and values), ``params`` (``params.dill``
keys: missing, extra, different; floats within ``rel_tol``, arrays by shape and dtype),
``intensity_scale`` (where each archive keeps it, and its value) and ``restored`` (runs only).
A row with ``gate`` True is a clause A meets and B does not: :func:`verdict` exits 1 on any.
Only the ``clauses`` rows gate; the others say what differs and why it may matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import contract
from .picklevalues import as_number

Row = dict[str, Any]
Link = Callable[[str], list[dict[str, Any]]]
MET, BROKEN, NOT_MET_BY_A, SAME, DIFFERS, ONLY_A, ONLY_B = (
    "met",
    "broken in B",
    "not met by A",
    "same",
    "differs",
    "only in A",
    "only in B",
)
# Which member a clause is about (base names, first found wins), for the writing line of each side.
CLAUSE_MEMBERS: dict[str, tuple[str, ...]] = {
    "archive.basename": (contract.ARCHIVE_NAME,),
    "archive.manifest-root": (contract.MANIFEST,),
    "archive.manifest-keys": (contract.MANIFEST,),
    "archive.backend-tag": (contract.MANIFEST,),
    "model.params": ("params.dill",),
    "model.keras": ("model.keras",),
    "model.custom-objects": ("custom_objects.dill",),
    "model.h5": ("model.h5",),
    "model.intensity-scale": ("params.dill", "model.h5"),
    "torch.ckpt": ("model.ckpt", "model.pth", "model.pt"),
    "torch.hparams": ("hparams.yaml", "params.dill"),
    "torch.weights": ("model.ckpt", "model.pth", "model.pt"),
    "torch.intensity-scale": ("params.dill",),
}


def _model_of(check_id: str) -> str | None:
    return check_id[check_id.index("[") + 1 : -1] if "[" in check_id else None


def _row(section: str, item: str, a: Any, b: Any, status: str, **extra: Any) -> Row:
    row = {"section": section, "item": item, "a": a, "b": b, "status": status, "clause": None, "spec": []}
    row.update({"writer_a": None, "writer_b": None, "gate": False})
    row.update(extra)
    return row


def _writer(facts: dict[str, Any] | None, clause: str | None, model: str | None, member: str | None = None) -> Any:
    writers = (facts or {}).get("writers") or {}
    if member is not None:
        return writers.get(member)
    for base in CLAUSE_MEMBERS.get(clause or "", ()):
        found = writers.get(f"{model}/{base}" if model and base != contract.ARCHIVE_NAME else base)
        if found:
            return found
    return None


# --- clauses ------------------------------------------------------------------------------------


def _checks_by_clause(description: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for check in description.get("clauses") or []:
        found.setdefault((check.get("clause") or check["id"], _model_of(check["id"])), check)
    return found


def _clause_rows(a: dict[str, Any], b: dict[str, Any], runs: Any, link: Link | None) -> list[Row]:
    theirs, rows = _checks_by_clause(b), []
    for (clause, model), mine in _checks_by_clause(a).items():
        wanted = contract.counterpart(clause, b.get("backend") or contract.DEFAULT_BACKEND)
        other = theirs.get((wanted, model))
        b_status = other["status"] if other else "absent"
        renamed = clause == "archive.basename" and b_status == "skip"  # a copy's name is the caller's choice
        also = _also_failing(b, wanted)
        status = NOT_MET_BY_A if mine["status"] != "pass" else MET if (b_status == "pass" or renamed) else BROKEN
        if status == MET and also:
            status, b_status = BROKEN, f"{b_status}, but {', '.join(c['id'] for c in also)} fail"
        item = mine["id"] + (f" ↔ {other['id']}" if other and other["id"] != mine["id"] else "")
        rows.append(
            _row(
                "clauses",
                item,
                f"{mine['status']}: {mine['detail']}",
                f"{b_status}: {other['detail']}" + "".join(f"; {c['detail']}" for c in also)
                if other
                else f"no check of {wanted} in B",
                status,
                clause=clause if wanted == clause else f"{clause} ↔ {wanted}",
                spec=_spec(link, mine["id"], other["id"] if other else None),
                writer_a=_writer(runs[0] if runs else None, clause, model),
                writer_b=_writer(runs[1] if runs else None, wanted, model),
                gate=status == BROKEN,
            )
        )
    return rows


def _also_failing(description: dict[str, Any], clause: str) -> list[dict[str, Any]]:
    """Checks of B that its counterpart of ``clause`` also needs and that fail (contract.COUNTERPART_ALSO)."""
    also = contract.COUNTERPART_ALSO.get(clause, ()) if description.get("backend") == contract.TORCH_BACKEND else ()
    return [c for c in description.get("clauses") or [] if c.get("clause") in also and c["status"] == "fail"]


def _spec(link: Link | None, *check_ids: str | None) -> list[str]:
    if link is None:
        return []
    found: list[str] = []
    for cid in check_ids:
        for clause in link(cid) if cid else []:
            shown = clause.get("anchor") or "built-in contract"
            if shown not in found:
                found.append(shown)
    return found


# --- members, manifest, params ----------------------------------------------------------------


def _members(description: dict[str, Any]) -> dict[str, int]:
    return {m["name"]: m["size"] for m in description.get("members") or [] if not m["name"].endswith("/")}


def _member_rows(a: dict[str, Any], b: dict[str, Any], runs: Any) -> list[Row]:
    mine, theirs, rows = _members(a), _members(b), []
    for name in sorted(set(mine) | set(theirs)):
        kind = contract.member_kind(name)
        in_a, in_b = (f"{kind}, {side[name]} B" if name in side else "—" for side in (mine, theirs))
        status = ONLY_A if name not in theirs else ONLY_B if name not in mine else SAME
        rows.append(
            _row(
                "members",
                name,
                in_a,
                in_b,
                status,
                writer_a=_writer(runs[0] if runs else None, None, None, name),
                writer_b=_writer(runs[1] if runs else None, None, None, name),
            )
        )
    return rows


def normal(value: Any) -> Any:
    """A decoded value as it is compared: numbers, arrays by shape/dtype, paths and tensors unwrapped."""
    number = as_number(value)
    if number is not None:
        return number
    if isinstance(value, dict):
        if "ndarray" in value:
            return {"array": value["ndarray"]}
        if value.get("__global__", "").startswith("pathlib.") and value.get("args"):
            return "/".join(str(p) for p in value["args"])
        if value.get("__global__", "").endswith("convert_to_tensor") and value.get("args"):
            return normal(value["args"][0])
    return value


def same(x: Any, y: Any, rel_tol: float) -> bool:
    x, y = normal(x), normal(y)
    if (
        isinstance(x, (int, float))
        and isinstance(y, (int, float))
        and not isinstance(x, bool)
        and not isinstance(y, bool)
    ):
        return x == y or (math.isfinite(x) and math.isfinite(y) and math.isclose(x, y, rel_tol=rel_tol))
    return x == y


def _mapping_rows(section: str, mine: Any, theirs: Any, rel_tol: float, required: tuple[str, ...] = ()) -> list[Row]:
    mine = mine if isinstance(mine, dict) else {}
    theirs = theirs if isinstance(theirs, dict) else {}
    rows = []
    for key in sorted(set(mine) | set(theirs)):
        a, b = (normal(side[key]) if key in side else "—" for side in (mine, theirs))
        if key not in theirs:
            status = ONLY_A
        elif key not in mine:
            status = ONLY_B
        else:
            status = SAME if same(mine[key], theirs[key], rel_tol) else DIFFERS
        clause = "model.params" if key in required else None
        rows.append(_row(section, key, a, b, status, clause=clause))
    return rows


def _params_member(description: dict[str, Any]) -> str | None:
    params = description.get("params") or {}
    for model in reversed(contract.REQUIRED_MODELS):  # diffraction_to_obj first: the model callers load
        if f"{model}/params.dill" in params:
            return f"{model}/params.dill"
    return next(iter(sorted(params)), None)


def _params_rows(a: dict[str, Any], b: dict[str, Any], rel_tol: float, runs: Any) -> list[Row]:
    pa, pb = _params_member(a), _params_member(b)
    rows = _mapping_rows(
        "params",
        (a.get("params") or {}).get(pa or ""),
        (b.get("params") or {}).get(pb or ""),
        rel_tol,
        contract.PARAMS_REQUIRED,
    )
    for row in rows:
        row["writer_a"] = _writer(runs[0] if runs else None, None, None, pa)
        row["writer_b"] = _writer(runs[1] if runs else None, None, None, pb)
    return rows


# --- intensity_scale ----------------------------------------------------------------------------


def scale_locations(description: dict[str, Any]) -> dict[str, Any]:
    """Where an archive keeps intensity_scale: member (and path inside it) → value."""
    key, found = contract.SCALE_KEY, {}
    for member, params in sorted((description.get("params") or {}).items()):
        if isinstance(params, dict) and key in params:
            found[f"{member} ['{key}']"] = normal(params[key])
    for model, info in sorted((description.get("models") or {}).items()):
        attrs = info.get("h5_attrs") or {}
        if key in attrs:
            found[f"{model}/model.h5 @{key}"] = normal(attrs[key])
    for member, payload in sorted((description.get("payloads") or {}).items()):
        for where, value in sorted((payload.get("scales") or {}).items()):
            found[f"{member} {where}"] = value
    return found


def _scale_clause(where: str) -> str | None:
    if "model.h5" in where:
        return "model.h5"
    return "model.params" if "params.dill" in where else None


def _scale_rows(a: dict[str, Any], b: dict[str, Any], rel_tol: float) -> list[Row]:
    mine, theirs = scale_locations(a), scale_locations(b)
    rows = []
    for where in sorted(set(mine) | set(theirs)):
        status = ONLY_A if where not in theirs else ONLY_B if where not in mine else SAME
        if status == SAME and not same(mine[where], theirs[where], rel_tol):
            status = DIFFERS
        rows.append(
            _row(
                "intensity_scale",
                where,
                mine.get(where, "—"),
                theirs.get(where, "—"),
                status,
                clause=_scale_clause(where),
            )
        )
    values = [v for v in list(mine.values()) + list(theirs.values()) if isinstance(v, (int, float))]
    if mine and theirs and values:
        first_a, first_b = next(iter(mine.values())), next(iter(theirs.values()))
        agree = same(first_a, first_b, rel_tol)
        rows.append(_row("intensity_scale", "A's first vs B's first", first_a, first_b, SAME if agree else DIFFERS))
    return rows


# --- the API ------------------------------------------------------------------------------------


def compare(
    description_a: dict[str, Any],
    description_b: dict[str, Any],
    runs: tuple[dict[str, Any] | None, dict[str, Any] | None] | None = None,
    link: Link | None = None,
    rel_tol: float = 1e-6,
) -> list[Row]:
    """Every row of the comparison, section by section (see the module docstring)."""
    a, b = description_a, description_b
    rows = _clause_rows(a, b, runs, link) + _member_rows(a, b, runs)
    rows += _mapping_rows("manifest", a.get("manifest"), b.get("manifest"), rel_tol)
    rows += _params_rows(a, b, rel_tol, runs) + _scale_rows(a, b, rel_tol)
    if runs and runs[0] is not None and runs[1] is not None:
        rows += _mapping_rows("restored", runs[0].get("restored"), runs[1].get("restored"), rel_tol)
    for row in rows:
        if row["section"] != "clauses" and row["clause"] and link is not None:
            row["spec"] = _spec(link, row["clause"])
    return rows


def verdict(description_a: dict[str, Any], description_b: dict[str, Any], rows: list[Row]) -> tuple[int, str]:
    """(exit code, one sentence): 2 when either archive is hostile or unreadable, 1 when B breaks a clause A meets."""
    for side, d in (("A", description_a), ("B", description_b)):
        if d.get("exit_code") == 2:
            return 2, f"{side} ({d.get('path')}) is {d.get('status')}: {d.get('summary')}"
    broken = [r for r in rows if r["gate"]]
    if broken:
        names = ", ".join(r["item"].split(" ↔ ")[0] for r in broken)
        return 1, f"B breaks {len(broken)} clause(s) A meets: {names}"
    met = sum(1 for r in rows if r["status"] == MET)
    return 0, f"B meets every clause A meets ({met})"
