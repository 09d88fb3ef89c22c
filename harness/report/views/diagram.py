"""The view data of callchain/diagram.mmd: the persistence chains as Mermaid nodes and links.

Training is drawn shallow and the node count is capped, so the diagram stays readable
whatever the scenario ran; labels are escaped so Mermaid does not read them as markup.
"""

from __future__ import annotations

from typing import Any

from ..queries.calls import calls_by_index, role, short_name

MAX_DIAGRAM_NODES = 60


def _mermaid(text: str) -> str:
    """Label text Mermaid will not read as markup."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def diagram(record: dict[str, Any]) -> dict[str, Any]:
    """Mermaid nodes and edges of the (train,) save and load chains: kept calls, repeats collapsed.
    Training is drawn two levels deep only, so it cannot crowd out the persistence chains. A
    scenario that gives no phase those roles is drawn chain by chain (its `chains`)."""
    calls = calls_by_index(record)
    wanted = [
        (label, label, role(record, label), 2 if label == "train" else 3)
        for label in ("train", "save", "load")
        if role(record, label)
    ]
    if not wanted:
        chains = (record.get("scenario") or {}).get("chains") or []
        wanted = [(f"chain{i}", _mermaid(c["title"]), tuple(c["phases"]), 3) for i, c in enumerate(chains, 1)]
    groups = []
    ids: dict[str, str] = {}
    for label, title, phases, max_depth in wanted:
        nodes, links = [], []
        for call in record["calls"]:
            if call["phase"] not in phases or call["depth"] > max_depth:
                continue
            key = f"{label}:{call['function']}"
            if key not in ids:
                if len(ids) >= MAX_DIAGRAM_NODES:
                    continue
                ids[key] = f"n{len(ids)}"
                nodes.append(
                    {
                        "id": ids[key],
                        "label": _mermaid(short_name(call["function"])),
                        "anchor": call["anchor"] or "no source",
                    }
                )
            parent = calls.get(call["parent"]) if call["parent"] is not None else None
            if parent is not None and f"{label}:{parent['function']}" in ids:
                link = (ids[f"{label}:{parent['function']}"], ids[key])
                if link not in links:
                    links.append(link)
        groups.append({"label": label, "title": title, "nodes": nodes, "links": links})
    return {"groups": groups}
