"""One traced process from the harness side: started, waited for, and ended with its group.

`runner` decides what each process of a run does (the config it hands to `harness.trace.child`);
this module runs it: in its own session in the scratch folder, its output kept beside its
config, within the timeout, interruptible by a stop signal (`stop`), asked for its threads'
stacks before a hung process is killed, and with its whole process group ended however it
ends, so a subprocess it did not wait for cannot write into the target afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ..errors import signal_name
from .stop import Stopped, StopSignals, end_adopted, end_group, wait_unreaped


def run_child(
    scratch: Path,
    label: str,
    config: dict[str, Any],
    python: str,
    timeout: float,
    env: dict[str, str],
    stop: StopSignals,
) -> dict[str, Any]:
    """Run one traced process with `config` (it names its event and stack files); returns how
    it ended. Never raises for the child's failures."""
    key, reader = _key_pipe()
    config_path = scratch / f"child-{label}.json"
    done = scratch / f"child-{label}.done"
    config_path.write_text(json.dumps(dict(config, key_fd=reader, done=str(done)), indent=2))
    started = time.perf_counter()
    with (
        open(scratch / f"child-{label}.stdout.txt", "wb") as out,
        open(scratch / f"child-{label}.stderr.txt", "wb") as err,
    ):
        try:
            process = subprocess.Popen(
                [python, "-m", "harness.trace.child", str(config_path)],
                cwd=scratch,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(reader,),
            )
        finally:
            os.close(reader)
        code, timed_out, stopped_by, leftover = _wait(process, timeout, stop, Path(config["stacks"]))
        leftover += end_adopted()
    return {
        "label": label,
        "phases": list(config["phases"]),
        "exit": code,
        "timed_out": timed_out,
        "interrupted": stopped_by is not None,
        "stopped_by": stopped_by,
        "leftover_processes": leftover,
        "wall_seconds": round(time.perf_counter() - started, 6),
        "events": config["events"],
        "key": key.hex(),
        "reached_end": done.exists(),
        "stderr": str(scratch / f"child-{label}.stderr.txt"),
        "stacks": config["stacks"],
    }


def _key_pipe() -> tuple[bytes, int]:
    """A fresh key that signs the stream's lines, and the read end of a pipe holding it: the
    traced process reads it before any target code runs (`trace.eventstream.read_key`), so it is in
    no file or environment the target can read, and a line it appends to the stream is known."""
    key = secrets.token_bytes(16)
    reader, writer = os.pipe()
    os.write(writer, key)
    os.close(writer)
    return key, reader


def _wait(
    process: subprocess.Popen, timeout: float, stop: StopSignals, stacks: Path
) -> tuple[int, bool, str | None, int]:
    """(exit code, timed out, the stop signal's name, processes it left running): a process
    past its timeout or interrupted by a stop signal is ended here with its group. The group
    is always ended before the leader is reaped (`stop.wait_unreaped`), so its number cannot
    have passed to another run's process by then."""
    try:
        with stop.interruptible():
            ended = wait_unreaped(process, timeout)
        if ended:
            leftover = end_group(process.pid)
            return process.wait(), False, None, leftover
        timed_out, stopped_by = True, None
    except Stopped as reason:
        timed_out, stopped_by = False, signal_name(reason.signum)
    # The child runs in its own session: stop it here, or it would outlive us.
    if timed_out:
        _dump_stacks(process, stacks)
    leftover = end_group(process.pid)
    return process.wait(), timed_out, stopped_by, leftover


def _dump_stacks(process: subprocess.Popen, stacks: Path, wait: float = 3.0) -> None:
    """Ask a hung traced process for the Python stack of every thread (faulthandler, on
    SIGUSR1) before it is killed, so the report says where it hung, not only that it did."""
    try:
        os.kill(process.pid, signal.SIGUSR1)
    except OSError:
        return
    deadline = time.monotonic() + wait
    size = -1
    while time.monotonic() < deadline and not wait_unreaped(process, 0):  # poll() would reap it
        time.sleep(0.2)
        current = stacks.stat().st_size if stacks.exists() else 0
        if current and current == size:
            return  # written and no longer growing
        size = current
