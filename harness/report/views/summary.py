"""The view data of summary.md: the short answer, read before static.md.

The path (each chain's direct calls), the archive's composition and the trained scale,
what loading leaves in params.cfg, the PyTorch delta and what a shim must replace, the
minimum hooks, the open questions the evidence raises, and the taps to collect next.
"""

from __future__ import annotations

from typing import Any

from ..queries.archive import archive_rows
from ..queries.calls import hooks, role, stages
from ..queries.config import load_side_effects
from ..queries.library import shim_surface
from ..queries.pytorch import TRACKING_KINDS, torch_contrast, torch_groups
from ..queries.recipe import data_chain, recipe_rows
from ..queries.scale import trained_scale
from ..queries.taps import tap_rows, tap_values
from .common import common, config_state, spec_view
from .companion import parity_rows, torch_side
from .firstscreen import first_screen
from .unknowns import unknowns


def summary_view(record: dict[str, Any], companion: dict[str, Any] | None = None) -> dict[str, Any]:
    """What every section of summary.md shows, from the record alone (and, for the recipe's
    PyTorch column, a companion run record when one is given)."""
    description = record.get("archive_description")
    archive = None
    if description:
        archive = {
            "path": description.get("display_path"),
            "count": len(description.get("members", [])),
            "total": description.get("total_size"),
            "backend": description.get("backend"),
            "status": description.get("status"),
            "members": archive_rows(record),
            "clauses": description.get("clauses", []),
        }
    delta = record.get("torch_delta") or {}
    taps = tap_rows(record)
    questions = _questions(record, taps)
    shim = shim_surface(record)
    left = [c for g in shim if not g["member"] for c in g["calls"]]
    parity = parity_rows(record, companion)
    return dict(
        common(record),
        **first_screen(record, questions, companion, parity),
        torch_run=torch_side(record, companion, parity) if companion is not None else None,
        chains=_chains(record),
        archive=archive,
        effects=load_side_effects(record),
        has_load=bool(role(record, "load")),
        config_global=record.get("config_global"),
        config_state=config_state(record),
        persistence_scenario=(record.get("scenario") or {}).get("contract", True),
        hooks=[h for h in hooks(record) if h["site"]],
        singleton=_singleton(record),
        trained_scale=trained_scale(record),
        spec=spec_view(record),
        torch_package=delta.get("package", "ptycho_torch"),
        torch_present=delta.get("present", False),
        torch_error=delta.get("error"),
        contrast=torch_contrast(record),
        torch_groups=[g for g in torch_groups(record) if g["kind"] not in TRACKING_KINDS],
        torch_tracking=_tracking(record),
        questions=questions,
        pointers=pointer_rows(record),
        next_taps=collect_next(record, taps, companion),
        shim=[g for g in shim if g["member"]],
        shim_left={"lines": len(left), "calls": sum(c["count"] for c in left)},
        library_recorded="library_calls" in record,
    )


def collect_next(
    record: dict[str, Any], taps: list[dict[str, Any]], companion: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The first taps to collect next: what this run did not capture, as items (`kind`), so
    two runs that captured different things say different things, and a run that missed
    nothing says nothing. Declared taps not hit; a fresh-process load not run; no training,
    so no trained `intensity_scale`; the PyTorch `params.dill` keys, seen only statically
    (no PyTorch run given), against this run's `cfg.before_save` snapshot."""
    items: list[dict[str, Any]] = [dict(t, kind="tap") for t in taps if t["status"] != "hit"]
    if not (record.get("scenario") or {}).get("contract", True):
        return items if taps else [{"kind": "no_taps"}]
    fresh = [e for e in load_side_effects(record) if e["fresh"] and e["ran"]]
    if role(record, "load") and not any(not e["setup_first"] for e in fresh):
        items.append({"kind": "fresh_load", "setup_first": [p for e in fresh for p in e["setup_first"]]})
    if not trained_scale(record) and role(record, "save"):
        items.append({"kind": "trained_scale"})
    baseline = any(t["key"] == "cfg.before_save" and t["status"] == "hit" for t in taps)
    params = [r for r in recipe_rows(record) if r["member"].endswith("params.dill")]
    if baseline and params and companion is None:
        writers = sorted({w["anchor"] for r in params for w in r["torch"]})
        items.append({"kind": "torch_params", "writers": writers})
    return items


def pointer_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's pointers as table rows: the cited range, what it holds on this revision
    (or why nothing: the file is missing or shorter), and where the named things are."""
    rows = []
    for pointer in record.get("request_pointers") or []:
        size = pointer["file_lines"]
        note: str | None
        if size is None:
            note = "missing"
        elif pointer["start"] > size:
            note = "past_end"
        else:
            note = "ends_past" if pointer["end"] > size else None
        rows.append(dict(pointer, note=note))
    return rows


def _tracking(record: dict[str, Any]) -> dict[str, Any]:
    """The PyTorch surfaces that track experiments or only name a path: counted, not listed."""
    groups = [g for g in torch_groups(record) if g["kind"] in TRACKING_KINDS]
    return {"count": sum(len(g["surfaces"]) for g in groups), "kinds": [g["kind"] for g in groups]}


def _chains(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The scenario's chains (save, load, …): from the entry to the calls that wrote or read
    the archive's files; a chain with no such call shows its phases' direct calls instead."""
    chains = []
    for chain in (record.get("scenario") or {}).get("chains", []):
        phases = tuple(chain["phases"])
        steps = data_chain(record, phases)
        follows = bool(steps)
        if not steps:
            steps = [s for s in stages(record, phases, max_depth=2) if s["direct"]][:8]
        if steps:
            chains.append({"title": chain["title"], "steps": steps, "follows_data": follows})
    return chains


def _singleton(record: dict[str, Any]) -> dict[str, Any] | None:
    """The module-level model after training (tap `train.autoencoder`) and what save() handed on."""
    model, saved = tap_values(record, "train.autoencoder"), tap_values(record, "save.models")
    return {"model": model[-1], "saved": saved[-1] if saved else None} if model else None


def _questions(record: dict[str, Any], taps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open questions the evidence raises for the PyTorch side, then what the run left open."""
    present = (record.get("torch_delta") or {}).get("present", False)
    questions: list[dict[str, Any]] = [
        dict(row, kind="no_counterpart")
        for row in torch_contrast(record)
        if present and row["today"] == "nothing found"
    ]
    for effect in load_side_effects(record):
        if effect["fresh"] and effect["net"]:
            questions.append(dict(effect, kind="fresh_overwrites"))
    for name, info in sorted(((record.get("archive_description") or {}).get("models") or {}).items()):
        keys = info.get("params_keys") or []
        absolute = [k for k in ("output_prefix", "output_dir") if k in keys]
        if absolute:
            questions.append({"kind": "run_paths", "model": name, "keys": absolute})
            break
    return questions + unknowns(record, taps)
