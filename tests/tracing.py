"""Traced runs of the real command line, for the tests that start `callchain trace` in a subprocess.

The target is written by helpers.py (`tiny_target`, `hostile_target`, `jsonstore_target`);
`trace` runs the command on it and gives a `Run`: the finished process, the report folder it
names (the last line printed, or the `report (partial):` line of a failed run), its run
record and files. `start` and `stop` do the same for a run a test signals while it runs.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import REPO, callchain, load_run, report_of


@dataclass
class Run:
    """One finished `callchain trace`: its exit, messages and report."""

    done: subprocess.CompletedProcess
    out: Path

    @property
    def code(self) -> int:
        return self.done.returncode

    @property
    def stdout(self) -> str:
        return self.done.stdout

    @property
    def stderr(self) -> str:
        return self.done.stderr

    @functools.cached_property
    def report(self) -> Path:
        """The report folder: the last line printed (exit 0), else the one the message names."""
        if self.code == 0:
            return report_of(self.done)
        line = next((text for text in self.stderr.splitlines() if "report (partial):" in text), None)
        assert line is not None, f"no report named in the message: {self.stderr}"
        return Path(line.split("report (partial):", 1)[1].strip())

    @functools.cached_property
    def record(self) -> dict[str, Any]:
        """trace/run.json of the report."""
        return load_run(self.report)

    @property
    def env(self) -> dict[str, Any]:
        """env/trace_env.json of the report."""
        return json.loads(self.text("env/trace_env.json"))

    def text(self, name: str) -> str:
        """A file of the report, e.g. `summary.md` or `callgraph/dynamic.txt`."""
        return (self.report / name).read_text()

    def ok(self) -> Run:
        assert self.code == 0, self.stderr
        return self

    def fails(self, code: int, *phrases: str) -> Run:
        """Exit `code` with one plain message (`error: ` first, no traceback) holding every phrase."""
        assert self.code == code, (self.code, self.stderr)
        assert "Traceback" not in self.stderr, self.stderr
        assert self.stderr.startswith("error: "), self.stderr
        for phrase in phrases:
            assert phrase in self.stderr, (phrase, self.stderr)
        return self


def trace(
    root: Path | None, out: Path, *extra: str, timeout: float = 300, cwd: Path = REPO, env: dict | None = None
) -> Run:
    """`callchain trace [--root ROOT] --out OUT EXTRA...` in a subprocess, as a user runs it
    (no --root: the embedded demo), with `env` added to this environment."""
    where = ("--root", str(root)) if root is not None else ()
    return Run(callchain("trace", *where, "--out", str(out), *extra, timeout=timeout, cwd=cwd, env=env), out)


def start(root: Path, out: Path, *extra: str) -> subprocess.Popen:
    """The same command, left running: `stop` signals it and gives its `Run`."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "trace", "--root", str(root), "--out", str(out), *extra],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(out: Path, pattern: str, text: str, seconds: float = 30) -> Path:
    """The first file under `out` matching `pattern` once it holds `text` (the run got that far)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = list(out.glob(pattern))
        if found and text in found[0].read_text():
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {out}/{pattern} within {seconds} s")


def stop(process: subprocess.Popen, signum: int, out: Path) -> Run:
    """Send `signum` to a run `start` began and wait for it to finish."""
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    return Run(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), out)
