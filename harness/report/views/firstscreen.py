"""The view data of summary.md's first screen: the archive recipe, the facts that surprise,
the first open questions.

The recipe's rows come from `queries.recipe.recipe_rows` (one per archive member); this
module only shapes them into table cells. The facts are those a writer design trips over:
which `intensity_scale` the archive carries against the configured one (a float32 round
trip is a parity tolerance), what a fresh-process load changes in `params.cfg` (or that the
"fresh" process ran setup first, so it shows no fresh load), members that no load phase
read back, and members whose unpickling needs TensorFlow.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from ..queries.calls import hooks, role
from ..queries.config import load_side_effects
from ..queries.recipe import RecipeRow, recipe_rows
from ..queries.scale import number, trained_scale
from .companion import member_parity

FIRST_QUESTIONS = 4  # open questions on the first screen; the rest follow in § Open questions
TORCH_SHOWN = 2  # PyTorch lines per recipe cell; the rest are counted


def _cell(row: RecipeRow, parity: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One recipe row as the table's cells (plain text; the template adds the Markdown); with a
    companion run, its parity rows give the counterpart's line and what must change."""
    torch = [f"`{w['anchor']}` ({w['kind']}, `{w['file']}`)" for w in row["torch"][:TORCH_SHOWN]]
    more = len(row["torch"]) - TORCH_SHOWN
    return dict(
        row,
        torch_text=(", ".join(torch) + (f" +{more} more" if more > 0 else "")) or "nothing writes it",
        clause_text=[f"`{c['anchor']}` {c['level']}: {c['verdict']}" for c in row["clauses"]],
        run=member_parity(parity, row["member"], row["archive"]) if parity is not None else None,
    )


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _scale_fact(record: dict[str, Any], rows: list[RecipeRow]) -> dict[str, Any] | None:
    """The archived intensity_scale against the configured one at the start of the save."""
    trained = trained_scale(record)
    if trained:
        return _trained_fact(record, trained)
    models = (record.get("archive_description") or {}).get("models") or {}
    found = [number((info.get("params_values") or {}).get("intensity_scale")) for info in models.values()]
    archived = sorted({v for v in found if v is not None})
    saves = [
        s
        for s in record.get("phases", [])
        if s["name"] in ((record.get("scenario") or {}).get("roles") or {}).get("save", [])
    ]
    snapshots = (record.get("config") or {}).get("snapshots") or {}
    start = snapshots.get(f"{saves[0]['process']}:{saves[0]['name']}") if saves else None
    configured = number((start or {}).get("intensity_scale")) if start else None
    if configured is None or not archived:
        return None
    value = archived[0]
    if value == configured:
        return {"kind": "scale_same", "value": value}
    return {
        "kind": "scale_rounded",
        "configured": configured,
        "archived": value,
        "float32": _float32(configured) == value,
        "relative": abs(value - configured) / abs(configured) if configured else None,
    }


def _trained_fact(record: dict[str, Any], scale: dict[str, Any]) -> dict[str, Any]:
    """After training: when the archive holds exactly the float32 log→exp round trip of the
    configured scale, say so (the code decides it; no hedge), with the call that passed it."""
    configured = scale["configured"]
    archived = {a["params"] for a in scale["archived"]} | {a["h5"] for a in scale["archived"]}
    if configured and configured > 0 and archived == {_float32(math.exp(_float32(math.log(configured))))}:
        value = archived.pop()
        sites = [h["site"] for h in hooks(record) if h["site"] and set(h["phases"]) & set(role(record, "save"))]
        return {
            "kind": "scale_log_roundtrip",
            "configured": configured,
            "archived": value,
            "trained": scale["trained"],
            "relative": abs(value - configured) / configured,
            "site": sites[0] if sites else None,
        }
    return {"kind": "trained_scale", "scale": scale}


def _facts(record: dict[str, Any], rows: list[RecipeRow]) -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = []
    scale = _scale_fact(record, rows)
    if scale:
        facts.append(scale)
    for effect in load_side_effects(record):
        if not effect["fresh"] or not effect["ran"]:
            continue
        if effect["setup_first"]:
            facts.append(dict(effect, kind="fresh_after_setup"))
        elif effect["net"]:
            facts.append(
                dict(effect, kind="fresh_changes", examples=[r for r in effect["net"] if r["op"] == "changed"][:3])
            )
    if any(s["op"] == "read" for s in record.get("sinks") or []):
        unread = [r for r in rows if not r["archive"] and r["writer"] and not r["readers"]]
        if unread:
            facts.append({"kind": "unread", "members": [r["member"] for r in unread]})
    needs_tf = [r["member"] for r in rows if "reading needs TensorFlow" in r["holds"]]
    if needs_tf:
        facts.append({"kind": "needs_tensorflow", "members": needs_tf})
    return facts


def first_screen(
    record: dict[str, Any],
    questions: list[dict[str, Any]],
    companion: dict[str, Any] | None = None,
    parity: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The recipe table, the surprising facts and the first open questions (with a companion
    run, `parity`: its archive against this one, `views.companion.parity_rows`)."""
    rows = recipe_rows(record, companion)
    return {
        "recipe": [_cell(r, parity if companion is not None else None) for r in rows],
        "companion": companion is not None,
        "facts": _facts(record, rows),
        "first_questions": questions[:FIRST_QUESTIONS],
        "more_questions": max(0, len(questions) - FIRST_QUESTIONS),
        "reads_recorded": any(s["op"] == "read" for s in record.get("sinks") or []),
    }
