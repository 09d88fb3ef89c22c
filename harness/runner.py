"""One trace run, from the harness side: check the inputs, run the traced process(es), keep
the evidence, write the report.

The scenario runs in fresh subprocesses (`harness.trace.child`, started by `spawn`) in the run's
scratch folder (`workspace`). Each streams events to the report folder; whatever happens to it (crash,
hang, kill), this side builds the run record from what was streamed (`record.build`),
judges it (`outcome.judge`), writes every deliverable, and only then reports a failure.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__, contract
from .errors import HarnessError
from .record import build as record
from .record import outcome
from .record.streams import ship_streams
from .record.types import Call, Failure, RunRecord
from .run import publish, spawn
from .run import resolve as scenarios
from .run.stop import StopSignals
from .run.workspace import Run, allocate, child_env, harness_tempdir, recorded_env
from .static.target import (
    DEMO_NEEDS,
    Target,
    check_root,
    check_scenario_needs,
    compare,
    demo_unrunnable,
    fingerprint,
    module_found,
    revision,
)
from .static.verdicts import judge_spec
from .trace.backends import BACKENDS
from .trace.taps import Tap, TapFileError, default_tap_files, for_variant, load_tap_files, taps_as_data

DEFAULT_QUESTION = (
    "How does the TensorFlow workflow produce and consume `wts.h5.zip` bundles (train → "
    "`ModelManager.save_multiple_models` → archive layout → `load_inference_bundle`), and which "
    "touchpoints must the PyTorch backend replicate to stay spec-compliant? Contrast with the "
    "Lightning checkpoint and MLflow outputs of `ptycho_torch.train`."
)
DEFAULT_SCOPE_HINTS = ["ModelManager", "persistence", "archives", "load_inference_bundle"]


@dataclass
class Options:
    root: str | None = None
    namespace: str = ""
    package: str = "ptycho"
    scenario: str = "tf-persistence"
    variant: str = "default"
    initiative: str = "INTEGRATE-PYTORCH-001"
    plan_phase: str = "phase_d3_callchain"
    question: str = DEFAULT_QUESTION
    scope_hints: list[str] = field(default_factory=lambda: list(DEFAULT_SCOPE_HINTS))
    out: str = "artifacts"
    timeout: float = 600.0
    untraced: bool = False
    backend: str | None = None
    python: str | None = None
    taps: list[str] = field(default_factory=list)
    replace_taps: bool = False
    fresh_load: bool = True
    config_global: str = ""
    command: str = ""
    publish: str | None = None
    accel_path: str | None = None  # the built C tracer the ctrace backend loads (set by accelerate_backend)
    accelerated: str = ""  # "yes (...)" / "no (reason)", for the run record


def _child_config(
    run: Run,
    options: Options,
    target: Target,
    label: str,
    phases: list[str],
    taps: list[Tap],
    backend: str,
    described: dict[str, Any],
) -> dict[str, Any]:
    """What one traced process is told (`harness.trace.child` reads it): the target, the phases
    to run, what to record and where its events and stacks go."""
    return {
        "root": str(target.root),
        "namespace": options.namespace,
        "package": options.package,
        "events": str(run.trace_dir / f"events-{label}.jsonl"),
        "scratch": str(run.scratch),
        "scenario_out": str(run.scratch / "out"),
        "variant": options.variant,
        "phases": list(phases),
        "taps": taps_as_data(taps),
        "backend": backend,
        "untraced": options.untraced,
        "config_global": "" if options.config_global == "none" else options.config_global,
        "stacks": str(run.scratch / f"child-{label}.stacks.txt"),
        "scenario": described["load"],
        "accel": options.accel_path,
        "allows_torch": bool(described.get("allows_torch")),
    }


def _interpreter_path(python: str | None) -> str | None:
    """`--python` as an absolute path: the traced processes run in other folders than the user's."""
    if not python:
        return None
    if os.sep in python or (os.altsep and os.altsep in python):
        return os.path.abspath(os.path.expanduser(python))
    return shutil.which(python) or python


def resolve_taps(options: Options, scenario_taps: list[str] | None = None, shipped: bool = True) -> list[Tap]:
    """The taps of the run, those meant for this variant only: the shipped files (for a shipped
    scenario), the files the scenario names (`TAPS`), and --taps."""
    declared = list(scenario_taps or []) + list(options.taps)
    files = declared if options.replace_taps or not shipped else default_tap_files() + declared
    try:
        return for_variant(load_tap_files(files), options.variant)
    except TapFileError as error:
        raise HarnessError(
            f"bad tap file: {error}",
            "correct that line; the format is described at the top of tap_points/ptycho_persistence.toml",
        ) from None


def resolve_backend(options: Options) -> str:
    """The backend the interpreter can record with, checked without writing anything."""
    from .run.interpreter import check_interpreter

    return check_interpreter(options.python or sys.executable, options.backend)


def _check_demo_needs(python: str | None) -> None:
    """The embedded demo imports TensorFlow: an interpreter without it is bad input, said
    before anything runs (exit 2), not a ModuleNotFoundError from inside the traced process."""
    from .run.interpreter import missing_modules

    missing = missing_modules(python or sys.executable, list(DEMO_NEEDS))
    if missing:
        raise demo_unrunnable(python or sys.executable, missing, own=python is None)


def _probed(options: Options, target: Target) -> dict[str, Any]:
    """The scenario's own problems first; a probe failing for want of a demo module is the demo's problem."""
    try:
        return scenarios.probe(options.scenario, options.variant, str(target.root), options.python or sys.executable)
    except HarnessError as error:
        if target.is_demo and any(f"'{name}'" in error.problem for name in DEMO_NEEDS):
            _check_demo_needs(options.python)
        raise


def accelerate_backend(options: Options, backend: str) -> str:
    """`ctrace` (built on first use, into --out's cache) where it beats `settrace`. Called
    once every input is checked: a run refused for bad input writes nothing."""
    from .run.interpreter import accelerate

    if options.untraced:
        return backend
    cache = Path(options.out).expanduser().resolve() / ".cache"
    python = options.python or sys.executable
    backend, options.accel_path, options.accelerated = accelerate(python, backend, options.backend, cache)
    return backend


def trace(options: Options) -> tuple[Path, RunRecord]:
    """Run the scenario under the recorder and write the report; raise HarnessError on failure."""
    target = check_root(options.root, options.package)
    out = Path(options.out).expanduser().resolve()
    if out == target.root or target.root in out.parents:
        raise HarnessError(
            f"the output folder {out} is inside the target {target.root}; the run must write nothing there",
            "pass --out (or OUT=) a folder outside the checkout, e.g. the callchain repo's artifacts/; "
            "--publish DIR copies the finished report into the target",
        )
    with harness_tempdir(target.root, out) as temp_notes:
        return _checked(options, target, temp_notes)


def _checked(options: Options, target: Target, temp_notes: list[str]) -> tuple[Path, RunRecord]:
    """The run once the root and --out are known good, with callchain's own temporaries outside
    the target: the other inputs checked (nothing written if one is bad), then the run."""
    publish_to = publish.check(target.root, options.publish) if options.publish else None
    options.python = _interpreter_path(options.python)
    backend = resolve_backend(options)
    before = fingerprint(target.root)
    described = _probed(options, target)
    if target.is_demo:
        _check_demo_needs(options.python)
    options.namespace = options.namespace or ",".join(described.get("namespace") or []) or options.package
    check_scenario_needs(target.root, options.scenario, described)
    options.config_global = options.config_global or described.get("config_global") or f"{options.package}.params:cfg"
    taps = resolve_taps(options, described.get("taps"), shipped=scenarios.is_shipped(options.scenario))
    backend = accelerate_backend(options, backend)
    run = allocate(options.out, options.initiative, options.plan_phase)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    env = child_env(run, torch=bool(described.get("allows_torch")))
    with StopSignals() as stop:
        return _traced(
            options,
            target,
            taps,
            backend,
            run,
            started_at,
            env,
            stop,
            Prepared(described, before, publish_to, temp_notes),
        )


@dataclass
class Prepared:
    """What the run proper needs of the steps before it: the scenario as the probe described it,
    the tree as it was before the probe ran anything, where to publish (if asked), and the notes
    of what the run changed of its own set-up (a TMPDIR inside the target)."""

    described: dict[str, Any]
    before: dict[str, Any]
    publish_to: Path | None
    notes: list[str] = field(default_factory=list)  # what the run changed of its own set-up (TMPDIR)


def _traced(
    options: Options,
    target: Target,
    taps: list[Tap],
    backend: str,
    run: Run,
    started_at: str,
    env: dict[str, str],
    stop: StopSignals,
    chosen: Prepared,
) -> tuple[Path, RunRecord]:
    """The run proper, with stop signals handled: the report is written however it ends."""
    before, described, publish_to = chosen.before, chosen.described, chosen.publish_to
    outcomes = _run_processes(run, options, target, taps, backend, env, stop, described)
    after = fingerprint(target.root)
    meta = _meta(options, target, run, taps, backend, started_at, outcomes, described)
    meta["environment"] = recorded_env(env)
    meta["evidence_only"] = {
        "before": {k: before[k] for k in ("files", "entries", "sha256")},
        "after": {k: after[k] for k in ("files", "entries", "sha256")},
        "changes": compare(before, after),
        "notes": sorted(set(before["notes"]) | set(after["notes"]) | set(chosen.notes)),
    }
    run_record = record.build(meta, outcomes, lambda calls: static_evidence(target, options, calls, run, described))
    keys = {os.path.basename(o["events"]): bytes.fromhex(o["key"]) for o in outcomes if o.get("key")}
    run_record["events_files"] = ship_streams(str(run.trace_dir), keys)  # after the record is built from them
    judge_spec(run_record)
    run_record["status"], run_record["failure"] = outcome.judge(
        run_record, options.timeout, options.untraced, stop.received
    )
    from .report.render import write_report

    write_report(run.report, run_record)
    failure = run_record["failure"]
    published, refused = None, None
    if publish_to is not None and not run_record["evidence_only"]["changes"]:  # after the evidence check, never before
        try:
            published = publish.copy(run.report, publish_to, options.initiative, options.plan_phase)
        except HarnessError as error:
            refused = error
    if failure:
        where = f"\n  report (partial): {run.report}" + (f"\n  published: {published}" if published else "")
        where += f"\n  {refused.problem}" if refused else ""
        raise HarnessError(failure["problem"], failure["fix"] + _also(failure) + where, exit_code=failure["exit_code"])
    if refused:
        raise refused
    return (published or run.report), run_record


MAX_ALSO = 4  # further problems shown in the message; summary.md and static.md list every one


def _also(failure: Failure) -> str:
    """The problems after the first, one line each with its fix, for the message's tail."""
    also = failure.get("also") or []
    lines = [f"\n  also: {item['problem']}\n    fix: {item['fix']}" for item in also[:MAX_ALSO]]
    if len(also) > MAX_ALSO:
        lines.append(f"\n  … and {len(also) - MAX_ALSO} more problems (summary.md lists every one)")
    return "".join(lines)


def _run_processes(
    run: Run,
    options: Options,
    target: Target,
    taps: list[Tap],
    backend: str,
    env: dict[str, str],
    stop: StopSignals,
    described: dict[str, Any],
) -> list[dict[str, Any]]:
    """The scenario's processes in order; a later one runs only when the one before succeeded
    and no stop signal came."""
    outcomes: list[dict[str, Any]] = []
    python = options.python or sys.executable
    processes = described["processes"] if options.fresh_load else described["processes"][:1]
    for process in processes:
        if (outcomes and outcomes[-1]["exit"] != 0) or stop.received is not None:
            break
        label = process["label"]
        config = _child_config(run, options, target, label, list(process["phases"]), taps, backend, described)
        outcomes.append(spawn.run_child(run.scratch, label, config, python, options.timeout, env, stop))
    return outcomes


def _meta(
    options: Options,
    target: Target,
    run: Run,
    taps: list[Tap],
    backend: str,
    started_at: str,
    outcomes: list[dict[str, Any]],
    described: dict[str, Any],
) -> dict[str, Any]:
    """What the harness knows of the run beside the event streams."""
    return {
        "callchain_version": __version__,
        "question": options.question,
        "scope_hints": options.scope_hints,
        "initiative": options.initiative,
        "plan_phase": options.plan_phase,
        "scenario": scenarios.record_info(
            described, options.scenario, options.variant, [p for o in outcomes for p in o["phases"]]
        ),
        "namespace": options.namespace,
        "package": options.package,
        "recorder": {
            "backend": None if options.untraced else backend,
            "settings": None if options.untraced else BACKENDS[backend].settings,
            "seen_means": None if options.untraced else BACKENDS[backend].seen_means,
            "accelerated": None if options.untraced else options.accelerated,
            "untraced": options.untraced,
        },
        "target": dict(
            {
                "root": str(target.root),
                "demo": target.is_demo,
                "namespace_found": all(module_found(target.root, n) for n in options.namespace.split(",") if n),
            },
            **revision(target.root),
        ),
        "report": str(run.report),
        "scratch": str(run.scratch),
        "archive": str(run.scratch / "out" / contract.ARCHIVE_NAME),
        "config_global": options.config_global,
        "command": options.command,
        "started_at": started_at,
        "taps_declared": taps_as_data(taps),
    }


def static_evidence(
    target: Target, options: Options, calls: list[Call], run: Run, described: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the report needs beside the trace: the spec, the archive, the PyTorch side, the candidates."""
    from .inspect.sandbox import describe_archive
    from .static.analysis import function_docs, mentions, rank_entry_points
    from .static.bounded import Budget
    from .static.pointers import reconcile
    from .static.spec import read_contract
    from .static.torchscan import scan

    exercised = {call["function"] for call in calls}
    budget = Budget()  # every static pass together: bounded in time, what it skipped is listed
    spec = read_contract(target.root)  # judged once the record is whole (verdicts.judge_spec)
    if spec["source"] != "docs" and not (described or {}).get("contract", True):
        spec = dict(
            spec, source="none", clauses=[], missing=None
        )  # no docs, and no built-in contract for this scenario
    static: dict[str, Any] = {
        "spec": spec,
        "entry_points": rank_entry_points(
            target.root, options.package, options.question, options.scope_hints, exercised, spec["sections"], budget
        ),
        "docs": function_docs(target.root, calls, budget),
        "mentions": {"intensity_scale": mentions(target.root, calls, "intensity_scale", budget)},
    }
    try:
        static["torch_delta"] = scan(target.root, budget=budget)
    except (ValueError, RuntimeError, OSError) as error:  # a broken patterns file must not cost the report
        static["torch_delta"] = {"package": "ptycho_torch", "present": False, "surfaces": [], "error": str(error)}
    contract_scenario = (described or {}).get("contract", True)
    static["request_pointers"] = reconcile(target.root, budget) if contract_scenario else []
    static["static_skipped"] = budget.skipped
    archive = run.scratch / "out" / contract.ARCHIVE_NAME
    static["archive_description"] = describe_archive(str(archive)) if archive.is_file() else None
    return static
