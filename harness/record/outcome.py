"""Outcome policy: from a built run record to its status and the one message a user sees.

The order of the checks is the order of importance: a touched target tree outranks
everything (the run broke its promise), then an interrupt, a timeout, a scenario error, torch
that ran or evidence the recorder lost, a process that died or never reached its end, and a
namespace that matched nothing.
"""

from __future__ import annotations

import signal
from typing import Any

from ..errors import signal_name
from .types import Failure, RunRecord


def judge(record: RunRecord, timeout: float, untraced: bool, stopped: int | None = None) -> tuple[str, Failure | None]:
    """`(status, failure)`: `ok`, `partial` (some calls kept) or `failed` (none).

    `stopped` is the stop signal (SIGINT/SIGTERM/SIGHUP) the harness received, if any."""
    failure = _failure(record, timeout, untraced, stopped)
    status = "ok" if failure is None else ("failed" if not record["calls"] else "partial")
    return status, failure


def _failure(record: RunRecord, timeout: float, untraced: bool, stopped: int | None = None) -> Failure | None:
    root = record["target"]["root"]
    changes = record["evidence_only"]["changes"]
    touched = [path for sink in record["sinks"] for path in (sink["path"], sink.get("dest")) if path]
    inside = sorted({path for path in touched if path == "<root>" or path.startswith("<root>/")})
    changes = changes + [f"written: {path}" for path in inside if path not in changes]
    if changes:
        return {
            "problem": f"the target tree changed during the run ({len(changes)} changes: {', '.join(changes[:5])})",
            "fix": "this must never happen; restore the tree from git and report it with this report",
            "exit_code": 4,
        }
    if stopped is not None or any(process.get("interrupted") for process in record["processes"]):
        return _stop_failure(record, stopped or signal.SIGINT)
    for process in record["processes"]:
        if process.get("timed_out"):
            last = record["calls"][-1]["anchor"] if record["calls"] else "none"
            where = _innermost_frame(process.get("stacks"))
            return {
                "problem": f"the scenario did not finish within {timeout:g} s (stopped in process '{process['label']}', "
                f"last call reached: {last}" + (f"; it was at {where}" if where else "") + ")",
                "fix": "raise --timeout if the target is just slow; summary.md holds every thread's stack at the stop",
                "exit_code": 3,
            }
    if record["errors"]:
        return _scenario_failure(record["errors"][0], root)
    recorder_failure = _recorder_failure(record)
    if recorder_failure:
        return recorder_failure
    for process in record["processes"]:
        if process.get("exit") != 0 and not _subprocess(process):
            return {
                "problem": f"the traced process '{process['label']}' exited with code {process.get('exit')} before finishing",
                "fix": f"read its stderr: {_real(record, process.get('stderr') or '')}",
                "exit_code": 3,
            }
    if not untraced and not record["calls"]:
        return {
            "problem": f"the namespace '{record['namespace']}' matched no call during the run",
            "fix": f"check --namespace: it must name the package under {root} (e.g. ptycho)",
            "exit_code": 3,
        }
    return None


def _subprocess(process: Any) -> bool:
    """A process the target forked or spawned (its own stream; the harness did not start it)."""
    return bool(process.get("fork") or process.get("spawn"))


def _recorder_failure(record: RunRecord) -> Failure | None:
    """Torch that executed, evidence the recorder lost, or a traced process that never reached
    its end marker (os._exit, killed): each makes the run partial, with the phase it happened in."""
    for process in record["processes"]:
        for found in process.get("torch_executed") or []:
            return {
                "problem": f"module '{found['module']}' executed in the traced process '{process['label']}' "
                f"(loaded from {found['importer']}, phase '{found['phase']}'): the run must stay torch-free",
                "fix": "the TensorFlow side must not load torch/lightning/mlflow by any means; see the importing line above",
                "exit_code": 3,
            }
    for process in record["processes"]:
        for loss in process.get("losses") or []:
            return {
                "problem": f"evidence was lost in process '{process['label']}', phase '{loss['phase']}': {loss['reason']}",
                "fix": "the target interfered with tracing (summary.md lists what was lost); what was recorded is kept",
                "exit_code": 3,
            }
    for process in record["processes"]:
        if not process["completed"] and not _subprocess(process):
            phases = [span["name"] for span in record["phases"] if span["process"] == process["label"]]
            last = phases[-1] if phases else "start"
            return {
                "problem": f"the traced process '{process['label']}' ended in phase '{last}' without reaching its end "
                "marker (it called os._exit or was killed): later phases never ran",
                "fix": "the target must return from the scenario's calls; what was recorded is kept",
                "exit_code": 3,
            }
    return None


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


def _scenario_failure(error: dict[str, Any], root: str) -> Failure:
    where = error.get("namespace_frame") or error.get("innermost_frame") or "unknown"
    text = f"{error['type']}: {error['message']}"
    if error["type"] in ("ModuleNotFoundError", "ImportError"):  # in any phase: phase names are the scenario's
        if "callchain blocked" in error["message"]:
            fix = "the TensorFlow side must not need torch; see the importing line above"
        else:
            fix = (
                "install the target's dependencies into the tracing interpreter "
                "(make install PTYCHO_ROOT=... installs the 'ptychopinn' extra), or pass --python with the target's own environment"
            )
        return {"problem": f"the target package failed to import ({text}) at {where}", "fix": fix, "exit_code": 3}
    if error.get("scenario_error"):
        return {
            "problem": f"the scenario cannot run against {root}: {error['message']}",
            "fix": "point --root at a ptycho-like checkout (README, 'What a run does', lists what the scenario calls)",
            "exit_code": 3,
        }
    return {
        "problem": f"the scenario raised {text} in phase '{error['phase']}' at {where}",
        "fix": "the traceback is in trace/run.json (errors); the calls up to the failure are in callgraph/dynamic.txt",
        "exit_code": 3,
    }


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
