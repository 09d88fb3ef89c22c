"""Renderers: the run record → the deliverables of the report folder.

Python turns the record into plain view data; the Jinja templates (`templates/`, see resources.py) hold
only layout. Every file is written atomically (temp file, then rename), so a report
folder never holds half a deliverable.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from .. import contract
from ..printable import Block, escape_tree, printable, table_safe
from ..privacy import report_environment
from ..record.complete import complete
from ..record.runjson import dumps
from ..resources import require_dir
from .companion import LINK, check_companion, link_to, linked
from .fold import fold, weights
from .index import with_index
from .perfetto import trace_events
from .views.common import revision_text, taps_view
from .views.diagram import diagram
from .views.static import static_view
from .views.summary import summary_view

NO_SOURCE = "(no source file)"
UNKNOWN_ROOT = "unknown"  # what a record without a root holds (record.complete)


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja environment over callchain's templates (built once per process)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(require_dir("templates"))),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.globals["contract"] = contract  # member names and keys, written once
    return env


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temp, path)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def _scenario_line(record: dict[str, Any]) -> str:
    scenario = record["scenario"]
    return f"{scenario['name']}, variant {scenario['variant']}, phases {' → '.join(scenario['phases'])}"


def _recorder_line(record: dict[str, Any]) -> str:
    recorder = record["recorder"]
    if recorder["untraced"]:
        return "none (untraced run)"
    return f"{recorder['backend']}: {recorder['settings']}"


def _durations(record: dict[str, Any]) -> str:
    """Phase durations in run order (the record's dict is key-sorted when stored)."""
    names = list(dict.fromkeys(span["name"] for span in record["phases"])) + ["total"]
    durations = record["durations"]
    return ", ".join(f"{name} {durations[name]:.2f}" for name in names if name in durations)


def _root_phases(calls: list[dict[str, Any]]) -> dict[int, str]:
    """Each call's root (depth-0) ancestor's phase: a thread's subtree stays under one header."""
    by_index = {call["i"]: call for call in calls}
    phases: dict[int, str] = {}
    for call in calls:
        parent = by_index.get(call["parent"]) if call["parent"] is not None else None
        phases[call["i"]] = phases.get(parent["i"], call["phase"]) if parent else call["phase"]
    return phases


def _line(call: dict[str, Any]) -> dict[str, Any]:
    """What one call's line shows; folding compares exactly these fields."""
    return {
        "indent": "  " * call["depth"],
        "function": call["function"],
        "anchor": call["anchor"] or NO_SOURCE,
        "site": call["call_site"],
        "thread": call.get("thread"),
        "returned": call["returned"] if call["returned"] is not None else "(no return recorded)",
    }


def _line_key(call: dict[str, Any]) -> tuple:
    return tuple(sorted(_line(call).items()))


def _blocks(record: dict[str, Any]) -> list[tuple]:
    """(process, phase, calls) in run order: every phase the scenario marked, even one that
    kept no call, then any calls whose phase has no mark (a damaged stream). A call belongs
    to the phase its thread's root call started in, so a worker's subtree stays in one block."""
    grouped: dict[tuple, list[dict[str, Any]]] = {}
    root_phase = _root_phases(record["calls"])
    for call in record["calls"]:
        grouped.setdefault((call["process"], root_phase[call["i"]]), []).append(call)
    order = list(dict.fromkeys((span["process"], span["name"]) for span in record["phases"]))
    order += [key for key in grouped if key not in order]
    return [(process, phase, grouped.get((process, phase), [])) for process, phase in order]


def dynamic_view(record: dict[str, Any]) -> dict[str, Any]:
    """Lines of dynamic.txt: a `[phase …]` header per phase, then the main thread's calls, then
    a `[thread <label>]` block for each other thread that ran namespace code in that phase."""
    lines: list[dict[str, Any]] = []
    weight = weights(record["calls"])
    dropped = {p["label"]: p.get("dropped") or {} for p in record["processes"]}
    for process, phase, calls in _blocks(record):
        folded = fold(calls, _line_key)
        not_stored = dropped.get(process, {}).get(phase, 0)
        kept = sum(weight[call["i"]] for call in calls) + not_stored
        lines.append(
            {
                "phase": phase or "(unnamed)",
                "process": process,
                "kept": kept,
                "shown": len(folded),
                "dropped": not_stored,
            }
        )
        thread = "main"
        for item in folded:  # roots in order, each followed by its subtree: threads change at roots only
            label = item.call.get("thread") or "main"
            if label != thread:
                thread = label
                lines.append({"phase": None, "thread_header": label})
            lines.append(dict(_line(item.call), phase=None, thread_header=None, count=item.count))
    failure = record.get("failure")
    return {
        "command": record["command"],
        "target_root": record["target"]["root"],
        "revision": revision_text(record["target"]),
        "namespace": record["namespace"],
        "namespace_modules": _namespace_modules(str(record["namespace"])),
        "scenario": _scenario_line(record),
        "recorder": _recorder_line(record),
        "status": record["status"] + (f" — {failure['problem']}" if failure else ""),
        "seen": record["events"]["seen"],
        "kept": record["events"]["kept"],
        "started_at": record["started_at"],
        "durations": _durations(record),
        "lines": lines,
        "incomplete": failure["problem"] if failure else None,
        "also": [problem["problem"] for problem in (failure or {}).get("also") or []],
        "stopped_early": _stopped_early(record),
        "first_process": record["processes"][0]["label"] if record["processes"] else None,
        "stored_all": not any(call.get("repeat") for call in record["calls"]) and not any(dropped.values()),
    }


def _namespace_modules(namespace: str) -> str:
    """`'ptycho' and 'ptycho.*'`; for several namespaces each pair, joined (`ptycho_torch,ptycho`)."""
    pairs = [f"'{n}' and '{n}.*'" for n in namespace.split(",") if n] or [f"'{namespace}' and '{namespace}.*'"]
    return "; ".join(pairs)


def _stopped_early(record: dict[str, Any]) -> bool:
    """Whether a traced process stopped before its end (raised, timed out, stopped, killed):
    only then does dynamic.txt say the run stopped where its calls end."""
    started = [p for p in record.get("processes") or [] if not p.get("fork") and not p.get("spawn")]
    return bool(record.get("errors")) or any(
        p.get("timed_out") or p.get("interrupted") or not p.get("completed", True) for p in started
    )


def env_view(record: dict[str, Any]) -> dict[str, Any]:
    first = record["processes"][0] if record["processes"] else {}
    start = first.get("start") or {}
    return {
        "callchain": record["callchain_version"],
        "python": start.get("python"),
        "implementation": start.get("implementation"),
        "executable": start.get("executable"),
        "platform": start.get("platform"),
        "packages": dict(first.get("packages") or {}, callchain=record["callchain_version"]),
        "devices": first.get("devices"),
        "recorder": dict(record["recorder"], **{key: start[key] for key in ("monitoring_tool_id",) if key in start}),
        "target": dict(
            {k: record["target"].get(k) for k in ("root", "commit", "branch", "dirty", "git", "demo")},
            revision=revision_text(record["target"]),
        ),
        "evidence_only": record["evidence_only"],
        "torch": {
            "allowed": bool((record.get("scenario") or {}).get("allows_torch")),
            "imported": sorted({m for p in record["processes"] for m in (p.get("torch_imported") or [])}),
            "blocked_imports": [a for p in record["processes"] for a in p.get("blocked_imports") or []],
        },
        "environment": report_environment(record.get("environment") or {}),
        "command": record["command"],
        "started_at": record["started_at"],
        "durations": record["durations"],
        "events": record["events"],
        "status": record["status"],
        "scratch": record["scratch"],
    }


def write_report(report: Path, record: Mapping[str, Any]) -> None:
    """Every deliverable of one run, from the run record alone (stored as it is)."""
    write_atomic(report / "trace" / "run.json", dumps(record))
    full = complete(record)
    for name, build in (
        ("trace/trace.json", lambda: json.dumps(without_root(trace_events(full), full["target"]["root"]))),
        ("env/trace_env.json", lambda: dump_json(env_view(full))),
    ):
        write_atomic(report / name, _guarded(name, build))
    render_markdown(report, record)


# Deliverables long enough to open with an index of their sections (report/index.py).
INDEXED = ("callchain/static.md",)
# Markdown/Mermaid deliverable → (template, view builder). `callchain render` rebuilds these.
OUTPUTS = {
    "callgraph/dynamic.txt": ("dynamic.txt.j2", dynamic_view),
    "callchain/static.md": ("static.md.j2", static_view),
    "callchain/diagram.mmd": ("diagram.mmd.j2", diagram),
    "trace/tap_points.md": ("tap_points.md.j2", taps_view),
    "summary.md": ("summary.md.j2", summary_view),
}


def _builders(companion: dict[str, Any] | None) -> dict[str, tuple]:
    """OUTPUTS, with summary.md's view given the companion run record (the PyTorch run) if any."""
    return dict(OUTPUTS, **{"summary.md": ("summary.md.j2", lambda full: summary_view(full, companion))})


def render_texts(record: dict[str, Any], companion: dict[str, Any] | None = None) -> dict[str, str]:
    """The text of every rendered deliverable, from any run record (completed first) and, for
    summary.md's PyTorch section, a companion run record (`report/companion.py`)."""
    full = complete(record)
    other = complete(companion) if companion is not None else None
    return {
        name: _render(name, template, build(full), full["target"]["root"])
        for name, (template, build) in _builders(other).items()
    }


# The one view field that may show the target's absolute root (each deliverable's header line);
# everywhere else it is `<root>` (paths under it are relative already): env/trace_env.json says it too.
ROOT_FIELD = "target_root"
ROOT_LABEL = "<root>"


def without_root(data: Any, root: str | None) -> Any:
    """A copy of view data with the absolute root, wherever it appears in a string (a command
    line, a failure message), written `<root>`; the `target_root` field keeps it."""
    if not root or root in ("/", UNKNOWN_ROOT):
        return data
    pattern = re.compile(re.escape(root.rstrip("/")) + r"(?![\w\-]|\.\w)")

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            text = pattern.sub(ROOT_LABEL, value)
            return Block(text) if isinstance(value, Block) else text
        if isinstance(value, Mapping):
            return {scrub(k): (v if k == ROOT_FIELD else scrub(v)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(scrub(item) for item in value)
        return value

    return scrub(data)


def _render(name: str, template: str, view: dict[str, Any], root: str | None = None) -> str:
    """One deliverable: its view data escaped as a whole (the policy: every string the record
    holds may be the target's, so none reaches a template unescaped — `printable.py`; Markdown
    files also escape `|`, so no value can split a table row), the absolute root said only in
    the header (`without_root`), then laid out by the template."""
    escape = table_safe if name.endswith(".md") else printable
    env = environment()
    text = env.get_template(template).render(**escape_tree(without_root(view, root), escape))
    return with_index(text, env) if name in INDEXED else text


def _guarded(name: str, build) -> str:
    """A deliverable's text; should its renderer still fail, a stub that says so, not a crash.

    A renderer bug must not cost the user the report of a run that took minutes (and the
    run record beside it holds everything); the tests check that no record reaches this."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - the last line of defence, said in the file itself
        return f"# {name} could not be rendered: {type(error).__name__}: {error}\n# the run record is complete in trace/run.json; `callchain render REPORT` retries\n"


def render_markdown(report: Path, record: Mapping[str, Any]) -> None:
    """The files that `callchain render` can rebuild from trace/run.json (and the PyTorch run
    record it names as its companion, read as the link says: `linked`)."""
    companion, link = linked(report, dict(record))
    full = complete(dict(record, **{LINK: link}) if link is not None else record)
    for name, (template, build) in _builders(companion).items():
        write_atomic(
            report / name,
            _guarded(name, lambda n=name, t=template, b=build: _render(n, t, b(full), full["target"]["root"])),
        )


def rerender(report_dir: str, companion: str | None = None) -> Path:
    """Rebuild the rendered deliverables of a report folder from its trace/run.json alone; with
    `companion` (a PyTorch run's report folder), first name it in that run.json (`companion`)."""
    from ..record.runjson import load

    record: Mapping[str, Any] = load(report_dir)
    report = Path(record["report"])
    if companion is not None:
        record = attach(report, record, check_companion(companion))
    render_markdown(report, record)
    return report


def attach(report: Path, record: Mapping[str, Any], companion: Path | None, problem: str | None = None) -> dict:
    """The record with its companion link (or the problem that left it without one), stored."""
    linked_record = dict(record, **{LINK: link_to(report, companion, problem)})
    write_atomic(report / "trace" / "run.json", dumps(linked_record))
    return linked_record
