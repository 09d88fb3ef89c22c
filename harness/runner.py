"""One trace run, from the harness side: prepare, run the traced process(es), keep evidence.

The scenario runs in a fresh subprocess (`harness.child`) whose working directory and
TMPDIR are the run's scratch folder, so import-time side effects and temporary archives
land there and nowhere else. The child streams events to the report folder; whatever
happens to it (crash, hang, kill), this side builds the run record from what was streamed,
marks it partial when it is, writes every deliverable, and only then reports the failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from . import __version__, record, scenario
from .errors import HarnessError
from .privacy import report_environment
from .resources import package_dir
from .target import Target, check_root, compare, fingerprint, revision
from .taps import Tap, TapFileError, default_tap_files, load_tap_files, taps_as_data
from .tracer import BACKENDS

DEFAULT_QUESTION = (
    "How does the TensorFlow workflow produce and consume `wts.h5.zip` bundles (train → "
    "`ModelManager.save_multiple_models` → archive layout → `load_inference_bundle`), and which "
    "touchpoints must the PyTorch backend replicate to stay spec-compliant? Contrast with the "
    "Lightning checkpoint and MLflow outputs of `ptycho_torch.train`."
)
DEFAULT_SCOPE_HINTS = ["ModelManager", "persistence", "archives", "load_inference_bundle"]


@dataclass
class Options:
    root: Optional[str] = None
    namespace: str = ""
    package: str = "ptycho"
    scenario: str = "tf-persistence"
    variant: str = "default"
    initiative: str = "INTEGRATE-PYTORCH-001"
    plan_phase: str = "phase_d3_callchain"
    question: str = DEFAULT_QUESTION
    scope_hints: List[str] = field(default_factory=lambda: list(DEFAULT_SCOPE_HINTS))
    out: str = "artifacts"
    timeout: float = 600.0
    untraced: bool = False
    backend: Optional[str] = None
    python: Optional[str] = None
    taps: List[str] = field(default_factory=list)
    replace_taps: bool = False
    fresh_load: bool = True
    config_global: str = ""
    command: str = ""


@dataclass
class Run:
    """Where one run writes: the report folder and the scratch folder, both under `out`."""

    report: Path
    scratch: Path

    @property
    def trace_dir(self) -> Path:
        return self.report / "trace"


def utc_stamp(moment: Optional[datetime] = None) -> str:
    return (moment or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H%M%SZ")


def allocate(options: Options) -> Run:
    """Create fresh report and scratch folders; never reuse an earlier run's."""
    out = Path(options.out).expanduser().resolve()
    base = out / options.initiative
    try:
        base.mkdir(parents=True, exist_ok=True)
        probe = base / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise HarnessError(f"cannot write to the output folder {out} ({error.strerror})", "pass --out (or OUT=) a folder you can write to")
    stamp = utc_stamp()
    for attempt in range(1000):
        name = stamp if attempt == 0 else f"{stamp}-{attempt + 1}"
        report_root = base / "reports" / name
        try:
            report_root.mkdir(parents=True)
        except FileExistsError:
            continue
        report = report_root / options.plan_phase
        scratch = base / "scratch" / name
        for folder in (report / "trace", scratch / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        return Run(report, scratch)
    raise HarnessError(f"could not allocate a new report folder under {base / 'reports'}", "remove stale report folders")


def _harness_path(run: Run) -> str:
    """A sys.path entry for the traced process holding the `harness` package and nothing else.

    The package's own parent folder will not do: in a clone it also holds tests/ and
    benchmarks/, and in an installed callchain it is site-packages, whose numpy, h5py and
    TensorFlow — built for this interpreter — would shadow those of a `--python` interpreter
    of another version. The child needs only `harness` (standard library only)."""
    folder = run.scratch / "callchain-path"
    folder.mkdir(exist_ok=True)
    try:
        (folder / "harness").symlink_to(package_dir(), target_is_directory=True)
    except OSError:  # no symlinks here (some Windows setups): fall back to the parent folder
        return str(package_dir().parent)
    return str(folder)


def _child_env(run: Run) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_harness_path(run), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = env.get("PYTHONHASHSEED", "0")
    env["TMPDIR"] = str(run.scratch / "tmp")
    env["KERAS_HOME"] = str(run.scratch / "keras_home")
    env["MPLCONFIGDIR"] = str(run.scratch / "mplconfig")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("PYTHONHUNTER", None)
    return env


def _run_child(run: Run, options: Options, target: Target, label: str, phases: Tuple[str, ...],
               taps: List[Tap], backend: str, env: Dict[str, str]) -> Dict[str, Any]:
    """Run one traced process; returns how it ended. Never raises for the child's failures."""
    events = run.trace_dir / f"events-{label}.jsonl"
    config = {
        "root": str(target.root), "namespace": options.namespace, "package": options.package, "events": str(events),
        "scratch": str(run.scratch), "scenario_out": str(run.scratch / "out"), "variant": options.variant,
        "phases": list(phases), "taps": taps_as_data(taps), "backend": backend, "untraced": options.untraced,
        "config_global": options.config_global,
    }
    config_path = run.scratch / f"child-{label}.json"
    config_path.write_text(json.dumps(config, indent=2))
    python = options.python or sys.executable
    started = time.perf_counter()
    with open(run.scratch / f"child-{label}.stdout.txt", "wb") as out, open(run.scratch / f"child-{label}.stderr.txt", "wb") as err:
        process = subprocess.Popen([python, "-m", "harness.child", str(config_path)], cwd=run.scratch,
                                   env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        timed_out = interrupted = False
        try:
            code = process.wait(timeout=options.timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt) as stop:
            # The child runs in its own session: stop it here, or it would outlive us.
            timed_out, interrupted = isinstance(stop, subprocess.TimeoutExpired), isinstance(stop, KeyboardInterrupt)
            os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
    return {"label": label, "phases": list(phases), "exit": code, "timed_out": timed_out, "interrupted": interrupted,
            "wall_seconds": round(time.perf_counter() - started, 6), "events": str(events),
            "stderr": str(run.scratch / f"child-{label}.stderr.txt")}


def resolve_taps(options: Options) -> List[Tap]:
    files = list(options.taps) if options.replace_taps else default_tap_files() + list(options.taps)
    try:
        return load_tap_files(files)
    except TapFileError as error:
        raise HarnessError(f"bad tap file: {error}", "correct that line; the format is described at the top of tap_points/ptycho_persistence.toml")


def resolve_backend(options: Options) -> str:
    from .interpreter import check_interpreter

    return check_interpreter(options.python or sys.executable, options.backend)


def trace(options: Options) -> Tuple[Path, Dict[str, Any]]:
    """Run the scenario under the recorder and write the report; raise HarnessError on failure."""
    if options.variant not in scenario.VARIANTS:
        raise HarnessError(f"unknown variant {options.variant!r}", f"use one of: {', '.join(scenario.VARIANTS)}")
    if options.scenario != "tf-persistence":
        raise HarnessError(f"unknown scenario {options.scenario!r}", "use --scenario tf-persistence")
    options.namespace = options.namespace or options.package
    options.config_global = options.config_global or f"{options.package}.params:cfg"
    target = check_root(options.root, options.package)
    out = Path(options.out).expanduser().resolve()
    if out == target.root or target.root in out.parents:
        raise HarnessError(f"the output folder {out} is inside the target {target.root}; the run must write nothing there",
                           "pass --out (or OUT=) a folder outside the checkout, e.g. the callchain repo's artifacts/")
    taps = resolve_taps(options)
    backend = resolve_backend(options)
    run = allocate(options)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    env = _child_env(run)
    before = fingerprint(target.root)
    children = [_run_child(run, options, target, "cycle", scenario.CYCLE, taps, backend, env)]
    if options.fresh_load and children[0]["exit"] == 0:
        children.append(_run_child(run, options, target, "fresh", scenario.FRESH_LOAD, taps, backend, env))
    after = fingerprint(target.root)
    meta = _meta(options, target, run, taps, backend, started_at, children, before, after)
    meta["environment"] = report_environment(env)
    streams = [(child["label"], record.read_events(child["events"])) for child in children]
    run_record = record.build(meta, streams, str(run.scratch), str(target.root))
    add_static_evidence(run_record, target, options)
    finish(run_record, options, target)
    from .render import write_report

    write_report(run.report, run_record)
    failure = run_record.get("failure")
    if failure:
        raise HarnessError(failure["problem"], failure["fix"] + f"\n  report (partial): {run.report}", exit_code=failure["exit_code"])
    return run.report, run_record


def _meta(options: Options, target: Target, run: Run, taps: List[Tap], backend: str, started_at: str,
          children: List[Dict[str, Any]], before: Dict[str, Any], after: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "callchain_version": __version__,
        "question": options.question,
        "scope_hints": options.scope_hints,
        "initiative": options.initiative,
        "plan_phase": options.plan_phase,
        "scenario": {"name": options.scenario, "variant": options.variant,
                     "phases": [p for child in children for p in child["phases"]]},
        "namespace": options.namespace,
        "package": options.package,
        "recorder": {"backend": None if options.untraced else backend,
                     "settings": None if options.untraced else BACKENDS[backend].settings,
                     "seen_means": None if options.untraced else BACKENDS[backend].seen_means,
                     "untraced": options.untraced},
        "target": dict({"root": str(target.root), "demo": target.is_demo}, **revision(target.root)),
        "report": str(run.report),
        "scratch": str(run.scratch),
        "archive": str(run.scratch / "out" / "wts.h5.zip"),
        "config_global": options.config_global,
        "command": options.command,
        "started_at": started_at,
        "taps_declared": taps_as_data(taps),
        "children": children,
        "evidence_only": {"before": {k: before[k] for k in ("files", "sha256")},
                          "after": {k: after[k] for k in ("files", "sha256")},
                          "changes": compare(before, after)},
    }


def add_static_evidence(run_record: Dict[str, Any], target: Target, options: Options) -> None:
    """What the report needs beside the trace: the archive, the PyTorch side, the candidates."""
    from .analysis import function_docs, mentions, rank_entry_points
    from .archive import describe_archive
    from .summarize import PathScrubber
    from .torchscan import scan

    calls = run_record["calls"]
    exercised = {call["function"] for call in calls}
    run_record["entry_points"] = rank_entry_points(target.root, options.package, options.question, options.scope_hints, exercised)
    run_record["docs"] = function_docs(target.root, calls)
    run_record["mentions"] = {"intensity_scale": mentions(target.root, calls, "intensity_scale")}
    try:
        run_record["torch_delta"] = scan(target.root)
    except (ValueError, RuntimeError, OSError) as error:  # a broken patterns file must not cost the report
        run_record["torch_delta"] = {"package": "ptycho_torch", "present": False, "surfaces": [], "error": str(error)}
    archive = Path(run_record["archive"])
    if archive.is_file():
        description = describe_archive(str(archive))
        description["display_path"] = PathScrubber(run_record["scratch"])(str(archive))
        run_record["archive_description"] = description
    else:
        run_record["archive_description"] = None


def finish(run_record: Dict[str, Any], options: Options, target: Target) -> None:
    """Decide the run's status and, for a failed run, the one message the user sees."""
    children = run_record["children"]
    failure = _failure(run_record, children, options, target)
    run_record["status"] = "ok" if failure is None else ("failed" if not run_record["calls"] else "partial")
    run_record["failure"] = failure
    run_record["durations"] = _durations(run_record, children)


def _durations(run_record: Dict[str, Any], children: List[Dict[str, Any]]) -> Dict[str, float]:
    durations: Dict[str, float] = {}
    for span in run_record["phases"]:
        durations[span["name"]] = round(durations.get(span["name"], 0.0) + span["seconds"], 6)
    durations["total"] = round(sum(child["wall_seconds"] for child in children), 6)
    return durations


def _failure(run_record, children, options: Options, target: Target) -> Optional[Dict[str, Any]]:
    changes = run_record["evidence_only"]["changes"]
    inside = sorted({sink["path"] for sink in run_record["sinks"] if sink["path"].startswith("<root>")})
    changes = changes + [f"written: {path}" for path in inside if path not in changes]
    if changes:
        return {"problem": f"the target tree changed during the run ({len(changes)} files: {', '.join(changes[:5])})",
                "fix": "this must never happen; restore the tree from git and report it with this report", "exit_code": 4}
    for child in children:
        if child.get("interrupted"):
            return {"problem": f"the run was interrupted (process '{child['label']}')",
                    "fix": "run it again; what was recorded is kept", "exit_code": 130}
        if child["timed_out"]:
            last = run_record["calls"][-1]["anchor"] if run_record["calls"] else "none"
            return {"problem": f"the scenario did not finish within {options.timeout:g} s (stopped in process '{child['label']}', last call reached: {last})",
                    "fix": "raise --timeout if the target is just slow, or look at the last calls in callgraph/dynamic.txt", "exit_code": 3}
    if run_record["errors"]:
        return _scenario_failure(run_record["errors"][0], target)
    for child in children:
        if child["exit"] != 0:
            return {"problem": f"the traced process '{child['label']}' exited with code {child['exit']} before finishing",
                    "fix": f"read its stderr: {child['stderr']}", "exit_code": 3}
    if not options.untraced and not run_record["calls"]:
        return {"problem": f"the namespace '{options.namespace}' matched no call during the run",
                "fix": f"check --namespace: it must name the package under {target.root} (e.g. ptycho)", "exit_code": 3}
    return None


def _scenario_failure(error: Dict[str, Any], target: Target) -> Dict[str, Any]:
    where = error.get("namespace_frame") or error.get("innermost_frame") or "unknown"
    text = f"{error['type']}: {error['message']}"
    if "import" in error["phase"] and error["type"] in ("ModuleNotFoundError", "ImportError"):
        if "callchain blocked" in error["message"]:
            fix = "the TensorFlow side must not need torch; see the importing line above"
        else:
            fix = ("install the target's dependencies into the tracing interpreter "
                   "(make install PTYCHO_ROOT=... installs the 'ptychopinn' extra), or pass --python with the target's own environment")
        return {"problem": f"the target package failed to import ({text}) at {where}", "fix": fix, "exit_code": 3}
    if error.get("scenario_error"):
        return {"problem": f"the scenario cannot run against {target.root}: {error['message']}",
                "fix": "point --root at a ptycho-like checkout (README, 'What a run does', lists what the scenario calls)", "exit_code": 3}
    return {"problem": f"the scenario raised {text} in phase '{error['phase']}' at {where}",
            "fix": "the traceback is in trace/run.json (errors); the calls up to the failure are in callgraph/dynamic.txt", "exit_code": 3}
