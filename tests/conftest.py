"""Shared fixtures: one pair of traced demo runs serves every test that only reads output.

The tests live in rooms that mirror the package (trace/, scenarios/, record/, report/,
inspect/, static/) and e2e/ for whole runs of the command line; the shared helpers
(this file, helpers.py, inprocess.py, archive_builders.py, fixtures/) stay here, importable
by name from every room (`from helpers import ...`). Test file names are unique across rooms.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DEMO = REPO / "harness" / "demo"
FIXTURES = TESTS / "fixtures"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(TESTS))  # the shared helpers, whatever pytest's import mode

from harness.static.target import fingerprint  # noqa: E402


def callchain(*args: str, cwd: Path = REPO, timeout: float = 900, env=None) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess, as a user would."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=full_env
    )


def report_of(done: subprocess.CompletedProcess) -> Path:
    return Path(done.stdout.strip().splitlines()[-1])


def load_run(report: Path) -> dict:
    return json.loads((report / "trace" / "run.json").read_text())


def traced_demo(out: Path, *extra: str) -> SimpleNamespace:
    done = callchain("trace", "--out", str(out), *extra)
    assert done.returncode == 0, done.stderr
    report = report_of(done)
    return SimpleNamespace(done=done, report=report, record=load_run(report), out=out)


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory) -> SimpleNamespace:
    """Two default runs of `callchain trace` on the demo, with the demo's fingerprint around them."""
    before = fingerprint(DEMO)
    out = tmp_path_factory.mktemp("demo-out")
    first = traced_demo(out)
    second = traced_demo(out)
    after = fingerprint(DEMO)
    return SimpleNamespace(first=first, second=second, before=before, after=after, out=out)


@pytest.fixture(scope="session")
def demo_run(demo_runs) -> SimpleNamespace:
    return demo_runs.first


def other_python(version: str) -> str | None:
    """A working Python `version` on this machine (pyenv shims of inactive versions do not run)."""
    home = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for candidate in [shutil.which(f"python{version}")] + sorted(glob.glob(f"{home}/versions/{version}.*/bin/python3")):
        if (
            candidate
            and subprocess.run(
                [candidate, "-c", f"import sys; assert sys.version.startswith('{version}.')"], capture_output=True
            ).returncode
            == 0
        ):
            return candidate
    return None
