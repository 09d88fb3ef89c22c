"""View data: the run record turned into what each deliverable shows.

All the deciding happens here (which calls are pipeline stages, which keys loading
changed, what a tap observed); the templates only lay the results out. Every list is
sorted or kept in call order, never in dict order, so two runs on the same code render
identically.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from .privacy import report_environment
from .summarize import PathScrubber

SAVE_PHASES = ("save",)
LOAD_PHASES = ("load", "fresh-load")
MAX_DIAGRAM_NODES = 60
NO_AUTHOR = "scenario / framework (no namespace frame)"

# What the contract asks of each archive member, and the hook a PyTorch shim needs for it.
MEMBER_ROLES: List[Tuple[str, str, Tuple[str, ...], str]] = [
    ("manifest.dill", "root manifest: {'models': [...], 'version': 'X.Y'}; PyTorch adds 'backend': 'pytorch'",
     ("manifest-writer", "archive-member"), "archive writer that emits manifest.dill with the backend tag"),
    ("model.keras", "the weights (Keras format); PyTorch carries a Lightning .ckpt payload instead",
     ("lightning-checkpoint", "save-checkpoint", "torch-save"), "save hook that writes each model's .ckpt into <model>/"),
    ("params.dill", "all of params.cfg + intensity_scale + _version, restored into params.cfg on load",
     ("save-hyperparameters", "pickle-dump"), "params snapshot: dump the config (incl. intensity_scale) as params.dill"),
    ("custom_objects.dill", "name → class map needed to deserialise custom layers",
     ("pickle-dump",), "none needed for .ckpt; document what replaces it (hyperparameters + model class)"),
    ("model.h5", "HDF5 holding only the attribute intensity_scale",
     (), "write intensity_scale where the TensorFlow loader looks for it, or record it in params.dill"),
]


def _calls_by_index(record: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    return {call["i"]: call for call in record["calls"]}


def _anchor_of(record: Dict[str, Any], function: str) -> Optional[str]:
    for call in record["calls"]:
        if call["function"] == function:
            return call["anchor"]
    return None


def _short(function: str) -> str:
    return function.split(":", 1)[1] if ":" in function else function


# -- taps -------------------------------------------------------------------------------


def tap_rows(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One row per declared tap: where it lives, what it saw, and whether it was hit."""
    calls = _calls_by_index(record)
    rows = []
    for tap in sorted(record.get("taps_declared", []), key=lambda t: t["key"]):
        hits = [hit for hit in record.get("tap_hits", []) if hit["key"] == tap["key"]]
        observed = _observed(hits, calls)
        errors = sorted({hit["error"] for hit in hits if hit["status"] == "error"})
        status = "hit" if any(h["status"] == "hit" for h in hits) else ("error: " + "; ".join(errors) if errors else "not hit")
        rows.append(dict(tap, owner_anchor=_anchor_of(record, tap["function"]), observed=observed,
                         hits=len(hits), status=status))
    return rows


def _observed(hits: List[Dict[str, Any]], calls: Dict[int, Dict[str, Any]]) -> str:
    values: Dict[str, List[str]] = {}
    for hit in hits:
        if hit["status"] != "hit":
            continue
        phase = calls[hit["call"]]["phase"] if hit["call"] in calls else "?"
        values.setdefault(hit["value"], [])
        if phase not in values[hit["value"]]:
            values[hit["value"]].append(phase)
    if not values:
        return "—"
    if len(values) == 1:
        value = next(iter(values))
        return value + (f" ({len(hits)} hits)" if len(hits) > 1 else "")
    return "; ".join(f"{', '.join(phases)}: {value}" for value, phases in values.items())


# -- config flow ------------------------------------------------------------------------


def config_changes(record: Dict[str, Any], phases: Optional[Tuple[str, ...]] = None) -> List[Dict[str, Any]]:
    calls = _calls_by_index(record)
    rows = []
    for change in record["config"]["changes"]:
        if phases and change["phase"] not in phases:
            continue
        by = calls.get(change["by"]) if change["by"] is not None else None
        rows.append(dict(change, by_function=by["function"] if by else "scenario (outside the namespace)",
                         by_anchor=by["anchor"] if by else None))
    return rows


def net_changes(record: Dict[str, Any], process: str, phase: str) -> Optional[List[Dict[str, Any]]]:
    """Keys whose value differs between the start and the end of one phase (None: not run)."""
    snapshots = record["config"]["snapshots"]
    order = [span["name"] for span in record["phases"] if span["process"] == process]
    if phase not in order or f"{process}:{phase}" not in snapshots:
        return None
    following = order[order.index(phase) + 1:]
    after_key = f"{process}:{following[0]}" if following else f"{process}:end"
    before, after = snapshots.get(f"{process}:{phase}") or {}, snapshots.get(after_key) or {}
    rows = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            op = "added" if old is None else "removed" if new is None else "changed"
            rows.append({"key": key, "op": op, "old": old, "new": new})
    return rows


def load_side_effects(record: Dict[str, Any]) -> Dict[str, Any]:
    """What loading leaves in the global config: net per key, in the saving and in a fresh process,
    plus keys changed and changed back on the way (transient)."""
    result: Dict[str, Any] = {}
    for label, process, phase in (("same", "cycle", "load"), ("fresh", "fresh", "fresh-load")):
        net = net_changes(record, process, phase)
        changes = config_changes(record, (phase,))
        writers: Dict[str, Dict[str, Any]] = {}
        for change in changes:
            writers.setdefault(change["key"], change)
        rows = [dict(row, by_function=writers.get(row["key"], {}).get("by_function", "?"),
                     by_anchor=writers.get(row["key"], {}).get("by_anchor")) for row in net or []]
        net_keys = {row["key"] for row in rows}
        transient = sorted({c["key"] for c in changes} - net_keys)
        result[label] = {"ran": net is not None, "net": rows, "transient": transient,
                         "added": sum(r["op"] == "added" for r in rows), "changed": sum(r["op"] == "changed" for r in rows)}
    return result


# -- pipeline ---------------------------------------------------------------------------


def stages(record: Dict[str, Any], phases: Tuple[str, ...], max_depth: int = 2) -> List[Dict[str, Any]]:
    """Distinct functions of the given phases, in first-call order, shallow ones only."""
    docs = record.get("docs", {})
    seen: Dict[str, Dict[str, Any]] = {}
    for call in record["calls"]:
        if call["phase"] not in phases or call["depth"] > max_depth or call["qualname"] == "<module>":
            continue
        entry = seen.get(call["function"])
        if entry is None:
            seen[call["function"]] = {"function": call["function"], "anchor": call["anchor"], "depth": call["depth"],
                                      "purpose": docs.get(call["function"], ""), "count": 1, "phase": call["phase"],
                                      "returned": call["returned"], "direct": call["direct"] or call["depth"] == 0}
        else:
            entry["count"] += 1
    return list(seen.values())


def entry_calls(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The calls the scenario made itself (depth 0) in the build, save and load phases."""
    chosen, seen = [], set()
    for call in record["calls"]:
        if call["depth"] == 0 and call["phase"] in ("build", "save", "load", "fresh-load") and call["function"] not in seen:
            seen.add(call["function"])
            chosen.append(call)
    return chosen


def edges(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    rows = []
    for edge in record["edges"]:
        how = "direct call" if edge["direct"] else "called back by framework code (e.g. Keras)"
        phases = ", ".join(edge["phases"])
        rows.append(dict(edge, why=f"{how}; {phases}" + (f"; ×{edge['count']}" if edge["count"] > 1 else "")))
    return rows


# -- sinks ------------------------------------------------------------------------------


def sinks(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    rows = []
    for sink in record["sinks"]:
        outside = not sink["path"].startswith("<scratch>")
        rows.append(dict(sink, outside=outside, by=sink["by"] or NO_AUTHOR))
    return rows


def member_writers(record: Dict[str, Any]) -> Dict[str, str]:
    """Archive member → the function line that wrote the file it was zipped from."""
    writers: Dict[str, str] = {}
    for sink in record["sinks"]:
        if sink["op"] != "write" or sink["phase"] != "save":
            continue
        for member in _members(record):
            if sink["path"].endswith("/" + member) and member not in writers:
                writers[member] = (sink["by"] or NO_AUTHOR) + (", native write: line unknown" if sink["native"] else "")
    return writers


def _members(record: Dict[str, Any]) -> List[str]:
    description = record.get("archive_description") or {}
    return [member["name"] for member in description.get("members", [])]


def archive_rows(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    description = record.get("archive_description") or {}
    writers = member_writers(record)
    rows = []
    for member in description.get("members", []):
        base = member["name"].rsplit("/", 1)[-1]
        role = next((r[1] for r in MEMBER_ROLES if r[0] == base), "")
        rows.append(dict(member, role=role, writer=writers.get(member["name"], "—")))
    return rows


# -- the PyTorch delta ------------------------------------------------------------------


def torch_contrast(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    delta = record.get("torch_delta") or {}
    surfaces = delta.get("surfaces", [])
    rows = []
    for member, requirement, kinds, hook in MEMBER_ROLES:
        today = [f"{s['kind']} `{s['anchor']}`" for s in surfaces if s["kind"] in kinds]
        shown = ", ".join(today[:4]) + (f" (+{len(today) - 4} more)" if len(today) > 4 else "")
        rows.append({"member": member, "requirement": requirement, "today": shown or "nothing found", "hook": hook})
    return rows


def torch_groups(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    delta = record.get("torch_delta") or {}
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for surface in delta.get("surfaces", []):
        groups.setdefault(surface["kind"], []).append(surface)
    return [{"kind": kind, "surfaces": groups[kind]} for kind in sorted(groups)]


# -- diagram ----------------------------------------------------------------------------


def _mermaid(text: str) -> str:
    """Label text Mermaid will not read as markup."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def diagram(record: Dict[str, Any]) -> Dict[str, Any]:
    """Mermaid nodes and edges of the save and load chains: kept calls, repeats collapsed."""
    calls = _calls_by_index(record)
    groups = []
    ids: Dict[str, str] = {}
    for label, phases in (("save", SAVE_PHASES), ("load", LOAD_PHASES)):
        nodes, links = [], []
        for call in record["calls"]:
            if call["phase"] not in phases or call["depth"] > 3:
                continue
            key = f"{label}:{call['function']}"
            if key not in ids:
                if len(ids) >= MAX_DIAGRAM_NODES:
                    continue
                ids[key] = f"n{len(ids)}"
                nodes.append({"id": ids[key], "label": _mermaid(_short(call["function"])), "anchor": call["anchor"] or "no source"})
            parent = calls.get(call["parent"]) if call["parent"] is not None else None
            if parent is not None and f"{label}:{parent['function']}" in ids:
                link = (ids[f"{label}:{parent['function']}"], ids[key])
                if link not in links:
                    links.append(link)
        groups.append({"label": label, "nodes": nodes, "links": links})
    return {"groups": groups}


# -- whole deliverables -----------------------------------------------------------------


def _common(record: Dict[str, Any]) -> Dict[str, Any]:
    failure = record.get("failure")
    last = record["calls"][-1] if record["calls"] else None
    target = record["target"]
    where = target["root"] + (f" @ {target['commit'][:12]}" if target.get("commit") else "")
    return {
        "title": f"{record['initiative']} · {record['plan_phase']}",
        "question": record["question"], "failure": failure, "status": record["status"],
        "last_frame": f"{last['function']} ({last['anchor']})" if last and failure else None,
        "target": where, "namespace": record["namespace"], "command": record["command"],
        "scenario": f"{record['scenario']['name']} ({record['scenario']['variant']})",
        "recorder": record["recorder"]["backend"] or "none", "kept": len(record["calls"]),
    }


def _scale_archive(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    models = (record.get("archive_description") or {}).get("models") or {}
    rows = []
    for name in sorted(models):
        info = models[name]
        rows.append({"model": name, "params": (info.get("params_values") or {}).get("intensity_scale", "—"),
                     "h5": (info.get("h5_attrs") or {}).get("intensity_scale", "—")})
    return rows


def _constants(record: Dict[str, Any]) -> List[Dict[str, str]]:
    description = record.get("archive_description") or {}
    rows = []
    manifest = description.get("manifest")
    if manifest is not None:
        rows.append({"name": "manifest.dill", "value": str(manifest), "units": "dict"})
    for name, info in sorted((description.get("models") or {}).items()):
        for key, value in sorted((info.get("params_values") or {}).items()):
            rows.append({"name": f"{name}/params.dill[{key}]", "value": str(value), "units": "from the archive"})
    return rows


def _dtypes(record: Dict[str, Any]) -> List[str]:
    found = set()
    for call in record["calls"]:
        found.update(re.findall(r"dtype=(\w+)", call["returned"] or ""))
    for hit in record.get("tap_hits", []):
        found.update(re.findall(r"dtype=(\w+)", hit.get("value") or ""))
    return sorted(found)


def _gaps(record: Dict[str, Any]) -> List[Dict[str, str]]:
    """Scenario fallbacks, once each (the fresh process meets the same ones again)."""
    unique: Dict[Tuple[str, str, str], Dict[str, str]] = {}
    for process in record["processes"]:
        for gap in process["gaps"]:
            key = (gap["phase"].replace("fresh-", ""), gap["missing"], gap["used"])
            unique.setdefault(key, gap)
    return list(unique.values())


def _run_gaps(record: Dict[str, Any]) -> List[str]:
    """What this run could not see, and why: failure, nothing kept, no archive, anonymous writes."""
    items = []
    failure = record.get("failure")
    if failure:
        items.append(f"The run did not complete ({record['status']}): {failure['problem']}." + (f" Fix: {failure['fix']}" if failure.get("fix") else ""))
    if record["recorder"].get("untraced"):
        items.append("Untraced run: no call was recorded by design (overhead baseline).")
    elif not record["calls"]:
        items.append(f"No call of the namespace `{record['namespace']}` was kept, so the call chain, the edges and the diagram are empty.")
    if record.get("archive_description") is None:
        items.append(f"No archive was produced at `{PathScrubber(record['scratch'])(record['archive']) or 'the scenario output'}`: the archive sections are empty.")
    anonymous = [s for s in record["sinks"] if not s["by"] and s["op"] == "write"]
    if anonymous:
        items.append(f"{len(anonymous)} file writes ran with no frame of `{record['namespace']}` on the stack (scenario or framework code): "
                     + ", ".join(f"`{s['path']}`" for s in anonymous[:5]))
    if record.get("missing_fields"):
        items.append("The run record lacks " + ", ".join(f"`{k}`" for k in record["missing_fields"]) + "; those sections are empty.")
    return items


def _unknowns(record: Dict[str, Any], taps: List[Dict[str, Any]]) -> List[str]:
    items = _run_gaps(record)
    for tap in taps:
        if tap["status"] != "hit":
            items.append(f"Tap `{tap['key']}` on `{tap['function']}`: {tap['status']} — check the function name/capture against this revision.")
    for gap in _gaps(record):
        items.append(f"API difference: `{gap['missing']}` not found (phase {gap['phase']}); the run used `{gap['used']}`.")
    for process in record["processes"]:
        for attempt in process["blocked_imports"]:
            items.append(f"`import {attempt['module']}` was attempted from `{attempt['importer']}` and blocked (the run stays torch-free).")
    no_source = sorted({c["function"] for c in record["calls"] if c["anchor"] is None})
    if no_source:
        items.append(f"{len(no_source)} kept functions have no source file (generated code, e.g. dataclass methods): " + ", ".join(f"`{f}`" for f in no_source[:5]))
    outside = [s for s in sinks(record) if s["outside"]]
    if outside:
        items.append(f"{len(outside)} file operations happened outside the scratch folder: " + ", ".join(f"`{s['path']}`" for s in outside[:5]))
    for error in record["errors"]:
        items.append(f"The run failed: {error['type']}: {error['message'][:200]} (at {error.get('namespace_frame') or error.get('innermost_frame')}).")
    description = record.get("archive_description")
    if description:
        items += [f"Archive clause failed: {c['text']} — {c['detail']}" for c in description.get("clauses", []) if c["status"] == "fail"]
    items.append("Confirm on the branch named in the request: rerun with `--root` on that checkout and compare with `callchain diff`-style review of the edge list.")
    items.append("Confirm the fresh-process load effects against a real inference entry point (e.g. the inference script) with taps on `load_inference_bundle`.")
    return items


def _environment(record: Dict[str, Any]) -> str:
    scrub = PathScrubber(record["scratch"])
    pairs = sorted(report_environment(record.get("environment") or {}).items())
    return ", ".join(f"{key}={scrub(value)}" for key, value in pairs) or "none"


def static_view(record: Dict[str, Any]) -> Dict[str, Any]:
    taps = tap_rows(record)
    docs = record.get("docs", {})
    entries = [dict(c, doc=docs.get(c["function"], "")) for c in entry_calls(record)]
    env = record["processes"][0] if record["processes"] else {}
    packages = env.get("packages") or {}
    devices = env.get("devices") or {}
    description = record.get("archive_description") or {}
    return dict(
        _common(record),
        scope_hints=record.get("scope_hints", []), candidates=record.get("entry_points", []), entries=entries,
        gaps=_gaps(record),
        config_global=record.get("config_global", "params.cfg"), config=config_changes(record),
        save_stages=stages(record, SAVE_PHASES), load_stages=stages(record, LOAD_PHASES),
        scale_taps=[t for t in taps if "intensity_scale" in t["key"] or "intensity_scale" in t["capture"]],
        scale_config=[c for c in config_changes(record) if c["key"] == "intensity_scale"],
        scale_archive=_scale_archive(record), scale_mentions=(record.get("mentions") or {}).get("intensity_scale", []),
        archive_path=description.get("display_path", "not produced"), archive_members=archive_rows(record),
        sinks=sinks(record), edges=edges(record), taps=taps, constants=_constants(record),
        devices=", ".join(devices.get("physical", [])) or "unknown (TensorFlow not imported)",
        python=(env.get("start") or {}).get("python"), tensorflow=packages.get("tensorflow"), keras=packages.get("keras"),
        dtypes=_dtypes(record), environment=_environment(record),
        unknowns=_unknowns(record, taps),
    )


def _path_sentences(record: Dict[str, Any]) -> List[str]:
    sentences = []
    for label, phases in (("Save", SAVE_PHASES), ("Load", ("load",)), ("Fresh load", ("fresh-load",))):
        chain = [s for s in stages(record, phases, max_depth=2) if s["direct"]]
        if not chain:
            continue
        steps = " → ".join(f"`{_short(s['function'])}` (`{s['anchor']}`)" for s in chain[:8])
        sentences.append(f"**{label}:** {steps}.")
    return sentences or ["No save or load call was recorded."]


def summary_view(record: Dict[str, Any]) -> Dict[str, Any]:
    description = record.get("archive_description")
    archive = None
    if description:
        archive = {"path": description.get("display_path"), "count": len(description.get("members", [])),
                   "total": description.get("total_size"), "backend": description.get("backend"),
                   "status": description.get("status"), "members": archive_rows(record),
                   "clauses": description.get("clauses", [])}
    delta = record.get("torch_delta") or {}
    taps = tap_rows(record)
    return dict(
        _common(record), path=_path_sentences(record), archive=archive, effects=load_side_effects(record),
        torch_package=delta.get("package", "ptycho_torch"), torch_present=delta.get("present", False),
        torch_error=delta.get("error"),
        contrast=torch_contrast(record), torch_groups=torch_groups(record),
        hooks=[
            "`save_multiple_models(models, base_path, ...)`-compatible writer producing `<base_path>.zip` with the same outer layout.",
            "A manifest writer: `manifest.dill` = `{'models': [...], 'version': ..., 'backend': 'pytorch'}`.",
            "A params snapshot: the full `params.cfg` plus `intensity_scale` and `_version`, as `params.dill` per model.",
            "Per-model payload: a Lightning `.ckpt` plus the hyperparameters needed to rebuild without global state.",
            "A loader that restores `params.cfg` from the archive (as `ModelManager.load_model` does) and names the backend when it cannot read an archive.",
        ],
        questions=_questions(record, taps),
        next_taps=[f"`{t['key']}` ({t['function']}): {t['status']}" for t in taps if t["status"] != "hit"] + [
            "`params.dill` contents on the PyTorch side once a writer exists (compare keys with this run's `cfg.before_save`).",
            "`intensity_scale` after a real training step (the trained `log_scale`), on the `trainflow` variant.",
        ],
    )


def _questions(record: Dict[str, Any], taps: List[Dict[str, Any]]) -> List[str]:
    """Open questions the evidence raises for the PyTorch side, then what the run left open."""
    questions = []
    for row in torch_contrast(record):
        if row["today"] == "nothing found":
            questions.append(f"No PyTorch counterpart of `{row['member']}` was found: should the shim write it ({row['hook']})?")
    fresh = load_side_effects(record)["fresh"]
    if fresh["net"]:
        questions.append(f"Loading in a fresh process overwrites {fresh['changed']} keys and adds {fresh['added']} in "
                         "`params.cfg`: must a PyTorch loader restore the same keys, or only those its model needs?")
    for name, info in sorted(((record.get("archive_description") or {}).get("models") or {}).items()):
        keys = info.get("params_keys") or []
        absolute = [k for k in ("output_prefix", "output_dir") if k in keys]
        if absolute:
            questions.append(f"`{name}/params.dill` stores run-specific paths ({', '.join(absolute)}): should a PyTorch archive carry them?")
            break
    questions += [q for q in _unknowns(record, taps) if not q.startswith("Confirm")]
    return questions or ["None from this run."]


def taps_view(record: Dict[str, Any]) -> Dict[str, Any]:
    sources = sorted({t["source"].rsplit(":", 1)[0].rsplit("/", 1)[-1] for t in record.get("taps_declared", [])})
    return {"taps": tap_rows(record), "sources": sources or ["(none)"]}
