"""View data: the run record turned into what each deliverable shows.

`queries` computes the facts; this module picks and shapes them per deliverable, and the
Jinja templates lay them out (all Markdown is written there, items here are plain data
with a `kind`). Phase and process names come from the record's scenario.
"""

from __future__ import annotations

import re
from typing import Any

from .. import contract
from ..privacy import report_environment
from ..summarize import PathScrubber
from .archivequeries import archive_rows, sinks
from .configqueries import config_changes, load_side_effects
from .libraryqueries import library_calls, shim_surface
from .queries import calls_by_index, edges, entry_calls, hooks, role, short_name, stages
from .scalequeries import trained_scale
from .tapqueries import tap_rows, tap_values
from .torchqueries import torch_contrast, torch_groups

MAX_DIAGRAM_NODES = 60


# -- diagram ----------------------------------------------------------------------------


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


# -- spec clauses -----------------------------------------------------------------------

_EVIDENCE_LABELS = {"archive": "archive check", "run": "run", "delta": "PyTorch delta", "scenario": "scenario"}


def _evidence_text(item: dict[str, Any]) -> str:
    label = _EVIDENCE_LABELS.get(item["source"], item["source"])
    head = f"{label} `{item['check']}`" if item.get("check") else label
    status = f" {item['status']}" if item["status"] != "none" else ""
    text = f"{head}{status}: {item['detail']}"
    if item.get("anchor"):
        text += f" — `{item['anchor']}`"
    written = item.get("written_by")
    if written:
        text += f" (written at `{written}`)" if re.fullmatch(r"[\w./\-]+:\d+", written) else f" (written {written})"
    return text


def spec_view(record: dict[str, Any]) -> dict[str, Any]:
    """The spec clauses (record['spec'], built by harness.static.spec and harness.static.verdicts) as table rows."""
    spec = record.get("spec") or {}
    rows = [
        {
            "id": c["id"],
            "anchor": c.get("anchor"),
            "level": c["level"],
            "text": c["text"],
            "section": c["section"],
            "section_anchor": c.get("section_anchor"),
            "verdict": c.get("verdict", "not judged"),
            "evidence": [_evidence_text(e) for e in c.get("evidence", [])],
        }
        for c in spec.get("clauses", [])
    ]
    return {
        "present": bool(spec),
        "source": spec.get("source", "builtin"),
        "clauses": rows,
        "sections": [s for s in spec.get("sections", []) if s.get("clauses")],
        "skipped": spec.get("skipped", []),
        "missing": spec.get("missing"),
    }


def _spec_items(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What the spec part leaves open: no contract in the docs, broken clauses, docs not read."""
    spec = spec_view(record)
    items = [dict(spec["missing"], kind="spec_missing")] if spec["missing"] else []
    items += [dict(c, kind="spec_broken") for c in spec["clauses"] if c["verdict"] == "broken"]
    if spec["skipped"]:
        items.append({"kind": "spec_skipped", "count": len(spec["skipped"]), "files": spec["skipped"][:5]})
    return items


# -- whole deliverables -----------------------------------------------------------------


def _common(record: dict[str, Any]) -> dict[str, Any]:
    failure = record.get("failure")
    calls = record.get("calls") or []
    last = calls[-1] if calls else None
    target = record.get("target") or {}
    scenario = record.get("scenario") or {}
    where = str(target.get("root")) + (f" @ {target['commit'][:12]}" if target.get("commit") else "")
    return {
        "title": f"{record.get('initiative')} · {record.get('plan_phase')}",
        "question": record.get("question"),
        "failure": failure,
        "status": record.get("status"),
        "last_frame": f"{last['function']} ({last['anchor']})" if last and failure else None,
        "target": where,
        "namespace": record.get("namespace"),
        "command": record.get("command"),
        "scenario": f"{scenario.get('name')} ({scenario.get('variant')})",
        "recorder": (record.get("recorder") or {}).get("backend") or "none",
        "kept": len(calls),
        "stacks": [
            {"label": p["label"], "text": p["stacks"]} for p in record.get("processes") or [] if p.get("stacks")
        ],
    }


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


def _gaps(record: dict[str, Any]) -> list[dict[str, str]]:
    """Scenario fallbacks, once each (a later process meets the same ones again)."""
    unique: dict[tuple, dict[str, str]] = {}
    for process in record["processes"]:
        for gap in process.get("gaps") or []:
            unique.setdefault((gap["missing"], gap["used"]), gap)
    return list(unique.values())


def _run_gaps(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What this run could not see, and why: a failure, nothing kept, no archive, writes that
    no namespace frame made, fields the record lacks. A run can stop anywhere; the report says where."""
    items: list[dict[str, Any]] = []
    if record.get("failure"):
        items.append(dict(record["failure"], kind="failure", status=record.get("status")))
    if (record.get("recorder") or {}).get("untraced"):
        items.append({"kind": "untraced"})
    elif not record["calls"]:
        items.append({"kind": "nothing_kept", "namespace": record.get("namespace")})
    if not record.get("archive_description"):
        items.append(
            {"kind": "no_archive", "path": PathScrubber(record.get("scratch") or None)(record.get("archive") or "")}
        )
    anonymous = [s["path"] for s in record["sinks"] if not s.get("by") and s.get("op") == "write"]
    if anonymous:
        items.append(
            {
                "kind": "anonymous_writes",
                "count": len(anonymous),
                "paths": anonymous[:5],
                "namespace": record.get("namespace"),
            }
        )
    if record.get("missing_fields"):
        items.append({"kind": "missing_fields", "fields": record["missing_fields"]})
    return items


def _unseen(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What the run could not read or had to end: evidence-check notes, processes left
    running by a traced process, files the static passes skipped."""
    items: list[dict[str, Any]] = [
        {"kind": "evidence_note", "note": note} for note in (record.get("evidence_only") or {}).get("notes", [])
    ]
    items += [
        {"kind": "leftover", "label": p["label"], "count": p["leftover_processes"]}
        for p in record["processes"]
        if p.get("leftover_processes")
    ]
    skipped = record.get("static_skipped") or []
    items += [dict(item, kind="static_skipped") for item in skipped[:10]]
    if len(skipped) > 10:
        items.append({"kind": "static_skipped_more", "count": len(skipped) - 10})
    return items


def _unknowns(record: dict[str, Any], taps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gaps and unknowns as items (`kind` + data); the templates word them."""
    items: list[dict[str, Any]] = _run_gaps(record)
    items += [dict(t, kind="tap") for t in taps if t["status"] != "hit"]
    items += [dict(g, kind="gap") for g in _gaps(record)]
    items += [dict(a, kind="blocked") for p in record["processes"] for a in p.get("blocked_imports") or []]
    no_source = sorted({c["function"] for c in record["calls"] if c["anchor"] is None})
    if no_source:
        items.append({"kind": "no_source", "count": len(no_source), "functions": no_source[:5]})
    items += _unseen(record)
    outside = [s["path"] for s in sinks(record) if s["outside"]]
    if outside:
        items.append({"kind": "outside", "count": len(outside), "paths": outside[:5]})
    items += _recorder_items(record)
    for error in record["errors"]:
        items.append(
            {
                "kind": "error",
                "type": error["type"],
                "message": error["message"][:200],
                "where": error.get("namespace_frame") or error.get("innermost_frame"),
            }
        )
    items += _spec_items(record)
    description = record.get("archive_description")
    if description:
        items += [dict(c, kind="clause") for c in description.get("clauses", []) if c["status"] == "fail"]
    return items


def _recorder_items(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What the recorder says the evidence lacks or holds beyond the main thread: torch that
    ran, events lost, a process without its end marker, forks, spawned interpreters, notes
    (a module that renamed itself), and the other threads that ran namespace code."""
    items: list[dict[str, Any]] = []
    for process in record["processes"]:
        label = process["label"]
        items += [dict(found, kind="torch_executed", process=label) for found in process.get("torch_executed") or []]
        items += [dict(loss, kind="lost") for loss in process.get("losses") or []]
        if not process.get("completed", True) and not process.get("fork") and not process.get("spawn"):
            items.append({"kind": "no_end", "process": label})
        forks = process.get("forks") or []
        if forks:
            items.append(
                {
                    "kind": "forks",
                    "process": label,
                    "count": len(forks),
                    "phases": sorted({fork["phase"] for fork in forks}),
                }
            )
        items += [{"kind": "note", "text": note, "process": label} for note in process.get("notes") or []]
    started = [s for p in record["processes"] for s in p.get("started") or []]
    if started:
        programs: dict[str, int] = {}
        for item in started:
            programs[item["program"]] = programs.get(item["program"], 0) + 1
        items.append(
            {
                "kind": "started",
                "count": len(started),
                "programs": sorted(programs.items()),
                "by": sorted({s["by"] for s in started if s["by"]})[:5],
                "traced": sum(1 for p in record["processes"] if p.get("spawn")),
            }
        )
    spawned = [p for p in record["processes"] if p.get("spawn")]
    if spawned:
        items.append({"kind": "spawned", "count": len(spawned), "calls": sum(p["kept"] for p in spawned)})
    threads = sorted({call.get("thread", "main") for call in record["calls"]} - {"main"})
    if threads:
        items.append({"kind": "threads", "threads": threads})
    return items


def static_view(record: dict[str, Any]) -> dict[str, Any]:
    taps = tap_rows(record)
    docs = record.get("docs", {})
    entries = [dict(c, doc=docs.get(c["function"], "")) for c in entry_calls(record)]
    env = record["processes"][0] if record["processes"] else {}
    packages = env.get("packages") or {}
    devices = env.get("devices") or {}
    description = record.get("archive_description") or {}
    scenario = record.get("scenario") or {}
    return dict(
        _common(record),
        spec=spec_view(record),
        scope_hints=record.get("scope_hints", []),
        candidates=record.get("entry_points", []),
        entries=entries,
        order=scenario.get("order", ""),
        why=scenario.get("why", ""),
        gaps=_gaps(record),
        config_global=record.get("config_global", "params.cfg"),
        config=config_changes(record),
        train_stages=stages(record, role(record, "train")),
        save_stages=stages(record, role(record, "save")),
        load_stages=stages(record, role(record, "load")),
        has_save=bool(role(record, "save")),
        has_load=bool(role(record, "load")),
        chain_stages=_chain_stages(record),
        fresh_load=bool(role(record, "fresh-load")),
        config_state=_config_state(record),
        archive_produced=bool(description),
        hooks=hooks(record),
        trained_scale=trained_scale(record),
        library=library_calls(record),
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
        edges=edges(record),
        taps=taps,
        constants=_constants(record),
        devices=", ".join(devices.get("physical", [])) or "unknown (TensorFlow not imported)",
        python=(env.get("start") or {}).get("python"),
        tensorflow=packages.get("tensorflow"),
        keras=packages.get("keras"),
        dtypes=_dtypes(record),
        environment=sorted(report_environment(record.get("environment") or {}).items()),
        unknowns=_unknowns(record, taps),
    )


def _chain_stages(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Stage tables per chain, for a scenario that gives no phase the train, save or load role."""
    if any(role(record, label) for label in ("train", "save", "load")):
        return []
    return [
        {"title": chain["title"], "stages": stages(record, tuple(chain["phases"]))}
        for chain in (record.get("scenario") or {}).get("chains", [])
    ]


def _config_state(record: dict[str, Any]) -> str:
    """`followed`, `not followed` (--config-global none) or `not found` (never present in the run)."""
    if record.get("config_global") in ("", "none", None):
        return "not followed"
    snapshots = (record.get("config") or {}).get("snapshots") or {}
    if (
        snapshots
        and all(values is None for values in snapshots.values())
        and not (record.get("config") or {}).get("changes")
    ):
        return "not found"
    return "followed"


def _chains(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The scenario's chains (save, load, …) as the direct calls of their phases."""
    chains = []
    for chain in (record.get("scenario") or {}).get("chains", []):
        steps = [s for s in stages(record, tuple(chain["phases"]), max_depth=2) if s["direct"]]
        if steps:
            chains.append({"title": chain["title"], "steps": steps[:8]})
    return chains


def _singleton(record: dict[str, Any]) -> dict[str, Any] | None:
    """The module-level model after training (tap `train.autoencoder`) and what save() handed on."""
    model, saved = tap_values(record, "train.autoencoder"), tap_values(record, "save.models")
    return {"model": model[-1], "saved": saved[-1] if saved else None} if model else None


def summary_view(record: dict[str, Any]) -> dict[str, Any]:
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
    return dict(
        _common(record),
        chains=_chains(record),
        archive=archive,
        effects=load_side_effects(record),
        has_load=bool(role(record, "load")),
        config_global=record.get("config_global"),
        config_state=_config_state(record),
        persistence_scenario=(record.get("scenario") or {}).get("contract", True),
        hooks=[h for h in hooks(record) if h["site"]],
        singleton=_singleton(record),
        trained_scale=trained_scale(record),
        spec=spec_view(record),
        torch_package=delta.get("package", "ptycho_torch"),
        torch_present=delta.get("present", False),
        torch_error=delta.get("error"),
        contrast=torch_contrast(record),
        torch_groups=torch_groups(record),
        questions=_questions(record, taps),
        next_taps=[t for t in taps if t["status"] != "hit"],
        shim=shim_surface(record),
        library_recorded="library_calls" in record,
    )


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
    return questions + _unknowns(record, taps)


def taps_view(record: dict[str, Any]) -> dict[str, Any]:
    sources = sorted({t["source"].rsplit(":", 1)[0].rsplit("/", 1)[-1] for t in record.get("taps_declared", [])})
    return {"taps": tap_rows(record), "sources": sources or ["(none)"]}
