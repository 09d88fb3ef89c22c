"""The interpreter that runs the scenario: ours, or the engineer's own PtychoPINN environment.

Before any run, ask that interpreter (in a subprocess) what it can do: its version, and
which recorder backends it can load. A missing piece is said once, with the exact command
that installs it, instead of surfacing later as a traceback from inside the traced process.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import NamedTuple

from ..errors import HarnessError

_PROBE = r"""
import json, sys
info = {"version": list(sys.version_info[:3]), "monitoring": hasattr(sys, "monitoring")}
try:
    import hunter
    info["hunter"] = hunter.__version__
except Exception:
    info["hunter"] = None
print(json.dumps(info))
"""


def cannot_run(python: str, error: OSError) -> HarnessError:
    """The one message for an interpreter that cannot be started (the probe, the scenario check)."""
    return HarnessError(
        f"cannot run the interpreter {python} ({error.strerror})",
        "pass --python the path of a working python executable",
    )


def probe(python: str) -> dict:
    try:
        done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    except OSError as error:
        raise cannot_run(python, error) from None
    except subprocess.TimeoutExpired:
        raise HarnessError(
            f"the interpreter {python} did not answer within 120 s", "check that it starts: run it with -c pass"
        ) from None
    if done.returncode != 0:
        raise HarnessError(
            f"the interpreter {python} failed to start: {done.stderr.strip()[-300:]}",
            "pass --python a working python executable",
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


_FIND = "import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"


def missing_modules(python: str, modules: list[str]) -> list[str]:
    """Which of the top-level `modules` `python` cannot find (located, never imported)."""
    try:
        done = subprocess.run(
            [python, "-c", _FIND, *modules], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return []  # the interpreter probe already said what is wrong with it
    return done.stdout.split() if done.returncode == 0 else []


def supported_backends(info: dict) -> list[str]:
    """The one rule for which recorder backends an interpreter can run, fastest first:
    `monitoring` needs sys.monitoring (3.12+), `ctrace` needs its C part built for that
    interpreter (`info["ctrace"]`, see `accelerate`), `hunter` needs hunter, `settrace` always works."""
    return (
        (["monitoring"] if info["monitoring"] else [])
        + (["ctrace"] if info.get("ctrace") else [])
        + ["settrace"]
        + (["hunter"] if info["hunter"] else [])
    )


def check_interpreter(python: str, wanted: str | None) -> str:
    """The backend to use with `python`: the one asked for, else the fastest it supports."""
    info = probe(python)
    version = tuple(info["version"])
    if version < (3, 10):
        raise HarnessError(
            f"{python} is Python {'.'.join(map(str, version))}; the recorder needs 3.10 or newer",
            "pass --python a Python 3.10+ interpreter",
        )
    supported = supported_backends(info)
    if wanted is None:
        return supported[0]
    if wanted in supported or wanted == "ctrace":  # ctrace: whether it builds is `accelerate`'s question
        return wanted
    if wanted == "hunter":
        raise HarnessError(
            f"the hunter backend needs hunter in {python}", f"install it there: {python} -m pip install hunter"
        )
    if wanted == "monitoring":
        raise HarnessError(
            f"the monitoring backend needs Python 3.12+ ({python} is {'.'.join(map(str, version))})",
            "use --backend settrace or hunter, or a Python 3.12+ interpreter",
        )
    raise HarnessError(f"unknown backend {wanted!r}", "use --backend monitoring, ctrace, settrace or hunter")


class Accelerator(NamedTuple):
    """What will record: the backend, the built C tracer it loads (ctrace), and why (not)."""

    backend: str
    path: str | None
    accelerated: str  # "yes (...)" or "no (reason)"


_NOT_ACCELERATED = {
    "monitoring": "no (not needed: sys.monitoring switches foreign code off)",
    "hunter": "no (hunter is the reference recorder)",
    "settrace": "no (--backend settrace asks for the pure-Python recorder)",
}


def accelerate(python: str, backend: str, wanted: str | None, cache: Path) -> Accelerator:
    """Swap the default `settrace` for `ctrace` when the C tracer builds for `python`.

    The build runs in `python` itself (its headers, its compiler, its ABI), once per
    interpreter and source version, into `cache` (under the run's --out, never the target).
    Asked for by name (`--backend ctrace`) a failed build is an error with the fix; as the
    default it falls back to `settrace` and the reason goes into the run record.
    """
    if backend != "ctrace" and not (backend == "settrace" and wanted is None):
        return Accelerator(backend, None, _NOT_ACCELERATED.get(backend, "no"))
    path, reason = build_for(python, cache)
    if path is not None:
        return Accelerator("ctrace", path, f"yes (compiled filter built for this interpreter: {Path(path).name})")
    if wanted == "ctrace":
        raise HarnessError(
            f"the ctrace backend cannot be built for {python}: {reason}",
            "install a C compiler (e.g. gcc) and this Python's development headers, or use --backend settrace",
        )
    return Accelerator("settrace", None, f"no ({reason})")


def build_for(python: str, cache: Path) -> tuple[str | None, str | None]:
    """(path, None) after building and loading the C tracer in `python`; else (None, reason)."""
    from .workspace import harness_only_path

    try:
        Path(cache).mkdir(parents=True, exist_ok=True)
        harness = harness_only_path(Path(cache))  # `harness` alone: no site-packages of another interpreter
    except OSError as error:
        return None, f"cannot prepare the build folder {cache} ({error.strerror})"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [harness, os.environ.get("PYTHONPATH")])))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        done = subprocess.run(
            [python, "-m", "harness.trace.accel", str(cache)], capture_output=True, text=True, timeout=300, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"the build did not run ({error})"
    answer = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode == 0 and answer:
        return answer, None
    if answer.startswith("no (") and answer.endswith(")"):
        return None, answer[4:-1]
    return None, f"the build failed: {(done.stderr.strip().splitlines() or ['no message'])[-1][:300]}"
