"""Outcome policy: from a built run record to its status and every problem it shows, most useful first.

A run can go wrong in several ways at once (a misspelt `--namespace` on a target whose load
raises; a timeout in one process and lost events in another), and each is named: the first
problem is the message's headline and gives the exit code, the others follow as `also`.
The order is the order of usefulness: a touched target tree (the run broke its promise,
exit 4), a stop signal (the user asked), a namespace that names no module under the root (the
likely reason nothing was kept: fixing it makes every other problem readable), then per
kind over the processes a timeout, a phase that raised, torch that ran, tracing the target
disturbed, a process that never reached its end or exited badly, and last a namespace
that matched no call although it names a module of the target. A consequence is not a
problem of its own: a process that timed out, was stopped or raised is not also "ended
badly", and nothing is said about calls the record does not hold.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from ..errors import signal_name
from ..printable import printable
from ..static.target import demo_unrunnable
from .types import Failure, RunRecord

SCENARIO_EXIT = 3  # a traced process whose phase raised exits with this code (trace.child)


def judge(record: RunRecord, timeout: float, untraced: bool, stopped: int | None = None) -> tuple[str, Failure | None]:
    """`(status, failure)`: `ok`, `partial` (some calls kept) or `failed` (none); the failure
    names the most useful problem, its fix and exit code, and every other problem in `also`.

    `stopped` is the stop signal (SIGINT/SIGTERM/SIGHUP) the harness received, if any."""
    found = problems(record, timeout, untraced, stopped)
    if not found:
        return "ok", None
    first = found[0]
    failure: Failure = {
        "problem": printable(first["problem"]),
        "fix": printable(first["fix"]),
        "exit_code": first["exit_code"],
        "also": [{"problem": printable(p["problem"]), "fix": printable(p["fix"])} for p in found[1:]],
    }
    return ("failed" if not record["calls"] else "partial"), failure


def problems(record: RunRecord, timeout: float, untraced: bool, stopped: int | None = None) -> list[Failure]:
    """Every problem of the run, most useful first (see the module's docstring)."""
    nothing = [] if untraced or record["calls"] else [_nothing_kept(record)]
    absent = bool(nothing) and not record["target"].get("namespace_found", True)
    found = _tree_changed(record)
    if stopped is not None or any(process.get("interrupted") for process in record["processes"]):
        found.append(_stop_failure(record, stopped or signal.SIGINT))
    found += nothing if absent else []
    ran = [p for p in record["processes"] if not _subprocess(p) and not p.get("interrupted")]
    found += [_timeout(record, process, timeout) for process in ran if process.get("timed_out")]
    found += [_error(record, error) for error in record["errors"] if _ran(ran, error.get("process"))]
    found += _recorder_problems(record)
    found += [_unfinished(record, process) for process in ran if _ended_badly(record, process)]
    return found + ([] if absent else nothing)


def _ran(processes: list[Any], label: str | None) -> bool:
    """Whether `label` is one of `processes` (an error of an interrupted process is the stop's)."""
    return label is None or any(process["label"] == label for process in processes)


def _subprocess(process: Any) -> bool:
    """A process the target forked or spawned (its own stream; the harness did not start it)."""
    return bool(process.get("fork") or process.get("spawn"))


def _tree_changed(record: RunRecord) -> list[Failure]:
    changes = record["evidence_only"]["changes"]
    touched = [
        path for sink in record["sinks"] if sink["op"] != "read" for path in (sink["path"], sink.get("dest")) if path
    ]
    inside = sorted({path for path in touched if path == "<root>" or path.startswith("<root>/")})
    changes = changes + [f"written: {path}" for path in inside if path not in changes]
    if not changes:
        return []
    return [
        {
            "problem": f"the target tree changed during the run ({len(changes)} changes: {', '.join(changes[:5])})",
            "fix": "this must never happen; restore the tree from git and report it with this report",
            "exit_code": 4,
        }
    ]


def _nothing_kept(record: RunRecord) -> Failure:
    """No call kept: said as what it is, with the likely reason when the namespace names nothing."""
    namespace, root = record["namespace"], record["target"]["root"]
    if not record["target"].get("namespace_found", True):
        return {
            "problem": f"the namespace '{namespace}' matched no call during the run (no module '{namespace}' "
            f"under {root})",
            "fix": f"check --namespace: it must name the package under {root} or a module of it "
            f"(e.g. {record['package']})",
            "exit_code": 3,
        }
    return {
        "problem": f"the namespace '{namespace}' matched no call during the run",
        "fix": f"check --namespace: it must name the package under {root} (e.g. {record['package']}) or a module "
        "the scenario runs",
        "exit_code": 3,
    }


def _timeout(record: RunRecord, process: Any, timeout: float) -> Failure:
    last = record["calls"][-1]["anchor"] if record["calls"] else "none"
    where = _innermost_frame(process.get("stacks"))
    return {
        "problem": f"the scenario did not finish within {timeout:g} s (stopped in process '{process['label']}', "
        f"last call reached: {last}" + (f"; it was at {where}" if where else "") + ")",
        "fix": "raise --timeout if the target is just slow; summary.md holds every thread's stack at the stop",
        "exit_code": 3,
    }


def _recorder_problems(record: RunRecord) -> list[Failure]:
    """Torch that executed, then what disturbed tracing (evidence that is or may be missing):
    each makes the run partial, with the phase it happened in."""
    found: list[Failure] = []
    for process in record["processes"]:
        for torch in process.get("torch_executed") or []:
            found.append(
                {
                    "problem": f"module '{torch['module']}' executed in the traced process '{process['label']}' "
                    f"(loaded from {torch['importer']}, phase '{torch['phase']}'): the run must stay torch-free",
                    "fix": "the TensorFlow side must not load torch/lightning/mlflow by any means; see the importing line above",
                    "exit_code": 3,
                }
            )
    for process in record["processes"]:
        for loss in process.get("losses") or []:
            found.append(
                {
                    "problem": f"tracing was disturbed in process '{process['label']}', phase '{loss['phase']}': {loss['reason']}",
                    "fix": "the target interfered with tracing (summary.md lists what was seen); what was recorded is kept",
                    "exit_code": 3,
                }
            )
    return found


def _ended_badly(record: RunRecord, process: Any) -> bool:
    """A process that never reached its end marker, or exited non-zero, with no reason named
    already (a timeout, or a phase that raised: it exits with SCENARIO_EXIT)."""
    if process.get("timed_out"):
        return False
    raised = any(error.get("process") == process["label"] for error in record["errors"])
    if not process["completed"]:
        return not raised
    return process.get("exit") != 0 and not (raised and process.get("exit") == SCENARIO_EXIT)


def _unfinished(record: RunRecord, process: Any) -> Failure:
    if not process["completed"]:
        phases = [span["name"] for span in record["phases"] if span["process"] == process["label"]]
        last = phases[-1] if phases else "start"
        if process.get("reached_end"):  # it ran to its end, yet the end marker never reached the stream
            return {
                "problem": f"the event stream of the traced process '{process['label']}' was interfered with: the "
                f"process reached its end (exit {process.get('exit')}) but its stream ends in phase '{last}' without the end marker "
                "(the target replaced or disturbed what the recorder writes with); events after that are lost",
                "fix": "the target must leave the recorder's stream and the modules it writes with alone; "
                "what was recorded is kept",
                "exit_code": 3,
            }
        return {
            "problem": f"the traced process '{process['label']}' ended in phase '{last}' without reaching its end "
            "marker (it called os._exit or was killed): later phases never ran",
            "fix": "the target must return from the scenario's calls; what was recorded is kept",
            "exit_code": 3,
        }
    return {
        "problem": f"the traced process '{process['label']}' exited with code {process.get('exit')} before finishing",
        "fix": f"read its stderr: {_real(record, process.get('stderr') or '')}",
        "exit_code": 3,
    }


def _stop_failure(record: RunRecord, signum: int) -> Failure:
    """A run stopped by SIGINT/SIGTERM/SIGHUP: exit 128 + the signal number, report kept."""
    ended = [p["label"] for p in record["processes"] if p.get("interrupted")]
    if ended:
        what = f"the traced process '{ended[0]}' and its process group were ended"
    else:
        what = "after the traced processes had finished" if record["processes"] else "before a traced process started"
    return {
        "problem": f"the run was interrupted by {signal_name(signum)} ({what})",
        "fix": "run it again when it may finish; what was recorded is kept",
        "exit_code": 128 + signum,
    }


def _error(record: RunRecord, error: dict[str, Any]) -> Failure:
    """A phase that raised (or a recorder that could not start), and where the evidence of it is."""
    root = record["target"]["root"]
    where = error.get("namespace_frame") or error.get("innermost_frame") or "unknown"
    text = f"{error['type']}: {error['message']}"
    if error["type"] == "BackendError":
        return {
            "problem": f"the recorder could not start in process '{error.get('process')}': {error['message']}",
            "fix": "pass --backend settrace (or another backend: see --help)",
            "exit_code": 3,
        }
    if error["type"] in ("ModuleNotFoundError", "ImportError"):  # in any phase: phase names are the scenario's
        return _import_failure(record, error, text, where)
    if error.get("scenario_error"):
        return {
            "problem": f"the scenario cannot run against {root}: {error['message']}",
            "fix": "point --root at a ptycho-like checkout (README, 'What a run does', lists what the scenario calls)",
            "exit_code": 3,
        }
    kept = len(record["calls"])
    evidence = (
        f"the {kept} call{'s' if kept != 1 else ''} kept up to it are in callgraph/dynamic.txt"
        if kept
        else f"no call of the namespace '{record['namespace']}' was kept before it"
    )
    return {
        "problem": f"the scenario raised {text} in phase '{error['phase']}' at {where}",
        "fix": f"the traceback is in trace/run.json (errors); {evidence}",
        "exit_code": 3,
    }


def _import_failure(record: RunRecord, error: dict[str, Any], text: str, where: str) -> Failure:
    if "callchain blocked" in error["message"]:
        fix = "the TensorFlow side must not need torch; see the importing line above"
    elif record["target"].get("demo") and error.get("missing_module"):
        python = next((p["start"].get("executable") for p in record["processes"] if p.get("start")), None) or "?"
        demo = demo_unrunnable(python, [error["missing_module"]], own=python == sys.executable)
        return {"problem": f"{demo.problem} (imported at {where})", "fix": demo.fix, "exit_code": 3}
    else:
        fix = (
            "install the target's dependencies into the tracing interpreter "
            "(make install PTYCHO_ROOT=... installs the 'ptychopinn' extra), or pass --python with the target's own environment"
        )
    return {"problem": f"the target package failed to import ({text}) at {where}", "fix": fix, "exit_code": 3}


def _innermost_frame(stacks: str | None) -> str | None:
    """`file:line in function` of the main thread's innermost frame in a faulthandler dump."""
    if not stacks:
        return None
    blocks = stacks.split("\n\n")
    main = next(
        (b for b in blocks if "most recent call first" in b and b.lstrip().startswith("Current thread")), blocks[0]
    )
    for line in main.splitlines():
        line = line.strip()
        if line.startswith("File "):
            return line[5:].replace('"', "")
    return None


def _real(record: RunRecord, path: str) -> str:
    """A scrubbed `<scratch>/…` path as the user can open it."""
    return path.replace("<scratch>", record["scratch"], 1)
