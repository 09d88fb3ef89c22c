"""The view data of callchain/static.md: the whole evidence, in its numbered sections.

The question, the candidate and selected entry points, config flow, the pipeline stages
and library calls per chain, the scaling chain, sinks and archive writers, the edge list,
constants, devices and dtypes, and the gaps and unknowns. The largest view, so its own module.
"""

from __future__ import annotations

import re
from typing import Any

from ... import contract
from ...privacy import report_environment
from ..queries.archive import archive_rows, sinks
from ..queries.calls import edges, entry_calls, hooks, role, stages
from ..queries.config import config_changes
from ..queries.library import families, library_calls
from ..queries.scale import trained_scale
from ..queries.taps import tap_rows
from .common import common, config_state, spec_view
from .unknowns import gaps, unknowns


def static_view(record: dict[str, Any]) -> dict[str, Any]:
    """What every section of static.md shows, from the record alone."""
    taps = tap_rows(record)
    docs = record.get("docs", {})
    entries = [dict(c, doc=docs.get(c["function"], "")) for c in entry_calls(record)]
    description = record.get("archive_description") or {}
    scenario = record.get("scenario") or {}
    return dict(
        common(record),
        spec=spec_view(record),
        scope_hints=record.get("scope_hints", []),
        candidates=record.get("entry_points", []),
        entries=entries,
        order=scenario.get("order", ""),
        why=scenario.get("why", ""),
        gaps=gaps(record),
        config_global=record.get("config_global", "params.cfg"),
        config=config_changes(record),
        train_stages=stages(record, role(record, "train")),
        save_stages=stages(record, role(record, "save")),
        load_stages=stages(record, role(record, "load")),
        has_save=bool(role(record, "save")),
        has_load=bool(role(record, "load")),
        chain_stages=_chain_stages(record),
        fresh_load=bool(role(record, "fresh-load")),
        config_state=config_state(record),
        archive_produced=bool(description),
        hooks=hooks(record),
        trained_scale=trained_scale(record),
        library=library_calls(record),
        library_families=families(library_calls(record), [span["name"] for span in record.get("phases", [])]),
        library_recorded="library_calls" in record,
        scale_taps=[
            t for t in taps if any(w in t["key"] or w in t["capture"] for w in ("intensity_scale", "log_scale"))
        ],
        scale_config=[c for c in config_changes(record) if c["key"] == "intensity_scale"],
        scale_archive=_scale_archive(record),
        scale_mentions=(record.get("mentions") or {}).get("intensity_scale", []),
        archive_path=description.get("display_path", "not produced"),
        archive_members=archive_rows(record),
        sinks=sinks(record),
        reads=[s for s in record["sinks"] if s["op"] == "read"],
        edges=edges(record),
        taps=taps,
        constants=_constants(record),
        **_machine(record),
        unknowns=unknowns(record, taps),
        stale_pointers=[p for p in record.get("request_pointers") or [] if p["verdict"] != "current"],
        pointer_count=len(record.get("request_pointers") or []),
    )


def _machine(record: dict[str, Any]) -> dict[str, Any]:
    """What the run ran on (first process): devices, Python, TensorFlow and Keras, dtypes seen, environment."""
    env = record["processes"][0] if record["processes"] else {}
    packages = env.get("packages") or {}
    devices = env.get("devices") or {}
    return dict(
        devices=", ".join(devices.get("physical", [])) or "unknown (TensorFlow not imported)",
        python=(env.get("start") or {}).get("python"),
        tensorflow=packages.get("tensorflow"),
        keras=packages.get("keras"),
        dtypes=_dtypes(record),
        environment=sorted(report_environment(record.get("environment") or {}).items()),
    )


def _chain_stages(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Stage tables per chain, for a scenario that gives no phase the train, save or load role."""
    if any(role(record, label) for label in ("train", "save", "load")):
        return []
    return [
        {"title": chain["title"], "stages": stages(record, tuple(chain["phases"]))}
        for chain in (record.get("scenario") or {}).get("chains", [])
    ]


def _scale_archive(record: dict[str, Any]) -> list[dict[str, Any]]:
    models = (record.get("archive_description") or {}).get("models") or {}
    rows = []
    for name in sorted(models):
        info = models[name]
        rows.append(
            {
                "model": name,
                "params": (info.get("params_values") or {}).get(contract.SCALE_KEY, "—"),
                "h5": (info.get("h5_attrs") or {}).get(contract.SCALE_KEY, "—"),
            }
        )
    return rows


def _constants(record: dict[str, Any]) -> list[dict[str, str]]:
    description = record.get("archive_description") or {}
    rows = []
    manifest = description.get("manifest")
    if manifest is not None:
        rows.append({"name": contract.MANIFEST, "value": str(manifest), "units": "dict"})
    for name, info in sorted((description.get("models") or {}).items()):
        for key, value in sorted((info.get("params_values") or {}).items()):
            rows.append({"name": f"{name}/params.dill[{key}]", "value": str(value), "units": "from the archive"})
    return rows


def _dtypes(record: dict[str, Any]) -> list[str]:
    found = set()
    for call in record["calls"]:
        found.update(re.findall(r"dtype=(\w+)", call["returned"] or ""))
    for hit in record.get("tap_hits", []):
        found.update(re.findall(r"dtype=(\w+)", hit.get("value") or ""))
    return sorted(found)
