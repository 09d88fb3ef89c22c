"""The interpreter that runs the scenario: ours, or the engineer's own PtychoPINN environment.

Before any run, ask that interpreter (in a subprocess) what it can do: its version, and
which recorder backends it can load. A missing piece is said once, with the exact command
that installs it, instead of surfacing later as a traceback from inside the traced process.
"""

from __future__ import annotations

import json
import subprocess
from typing import List, Optional

from .errors import HarnessError

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


def probe(python: str) -> dict:
    try:
        done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    except OSError as error:
        raise HarnessError(f"cannot run the interpreter {python} ({error.strerror})", "pass --python the path of a working python executable")
    except subprocess.TimeoutExpired:
        raise HarnessError(f"the interpreter {python} did not answer within 120 s", "check that it starts: run it with -c pass")
    if done.returncode != 0:
        raise HarnessError(f"the interpreter {python} failed to start: {done.stderr.strip()[-300:]}", "pass --python a working python executable")
    return json.loads(done.stdout.strip().splitlines()[-1])


def supported_backends(info: dict) -> List[str]:
    """The one rule for which recorder backends an interpreter can run, fastest first:
    `monitoring` needs sys.monitoring (3.12+), `hunter` needs hunter, `settrace` always works."""
    return (["monitoring"] if info["monitoring"] else []) + ["settrace"] + (["hunter"] if info["hunter"] else [])


def check_interpreter(python: str, wanted: Optional[str]) -> str:
    """The backend to use with `python`: the one asked for, else the fastest it supports."""
    info = probe(python)
    version = tuple(info["version"])
    if version < (3, 10):
        raise HarnessError(f"{python} is Python {'.'.join(map(str, version))}; the recorder needs 3.10 or newer",
                           "pass --python a Python 3.10+ interpreter")
    supported = supported_backends(info)
    if wanted is None:
        return supported[0]
    if wanted in supported:
        return wanted
    if wanted == "hunter":
        raise HarnessError(f"the hunter backend needs hunter in {python}", f"install it there: {python} -m pip install hunter")
    if wanted == "monitoring":
        raise HarnessError(f"the monitoring backend needs Python 3.12+ ({python} is {'.'.join(map(str, version))})",
                           "use --backend settrace or hunter, or a Python 3.12+ interpreter")
    raise HarnessError(f"unknown backend {wanted!r}", "use --backend monitoring, settrace or hunter")
