"""The harness side of a scenario: which one `--scenario` names, checked in a probe subprocess.

The harness process never imports a scenario file (it may import the target, which must only
ever run traced, in the scratch folder): `probe.py` loads and checks it in a subprocess run
in a throwaway folder, and this module reads back the plain-data description. A bad file is
bad input (exit 2) before any folder is made or anything traced.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import HarnessError
from ..scenarios import SHIPPED, shipped_source
from ..scenarios.loader import is_module_ref
from .interpreter import cannot_run
from .workspace import harness_only_path

PROBE_TIMEOUT = 120.0
FIX = (
    "--scenario takes a shipped name (" + ", ".join(SHIPPED) + "), a .py file or module:attribute that defines "
    "PHASES = [(name, function), ...]; see README, 'Ask your own question'"
)


def source_of(name: str, variant: str) -> str:
    """What the probe and the traced process load for `--scenario NAME --variant V`."""
    source = shipped_source(name, variant)
    if source == "":
        raise HarnessError(
            f"unknown variant {variant!r} of scenario {name!r}", f"use one of: {', '.join(SHIPPED[name])}"
        )
    return source if source is not None else name


def is_shipped(name: str) -> bool:
    return name in SHIPPED


def probe(name: str, variant: str, root: str, python: str) -> dict[str, Any]:
    """Check the scenario and describe it (contract.describe), or raise a HarnessError naming file and line."""
    source = source_of(name, variant)
    if shipped_source(name, variant) is None and not is_module_ref(source):
        source = os.path.abspath(os.path.expanduser(source))
    with tempfile.TemporaryDirectory(prefix="callchain-probe-") as folder:
        result = os.path.join(folder, "result.json")
        probe_env = _env(folder)
        try:
            completed = subprocess.run(
                [python, "-m", "harness.scenarios.probe", source, root, result],
                cwd=folder,
                env=probe_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=PROBE_TIMEOUT,
            )
        except OSError as error:
            raise cannot_run(python, error) from None
        except subprocess.TimeoutExpired:
            raise HarnessError(
                f"the scenario {name} did not finish loading within {PROBE_TIMEOUT:g} s",
                "a scenario file's top level must only define phases; do the work inside them",
            ) from None
        try:
            with open(result, encoding="utf-8") as handle:
                answer = json.load(handle)
        except (OSError, ValueError):
            tail = completed.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise HarnessError(f"the scenario {name} could not be checked: {tail[0]}", FIX) from None
    if "error" in answer:
        problem = answer["error"]
        where = problem["file"] + (f":{problem['line']}" if problem.get("line") else "")
        raise HarnessError(f"bad scenario {where}: {problem['problem']}", FIX)
    described: dict[str, Any] = answer["scenario"]
    variants: list[str] | None = described.get("variants")
    if variants is not None and variant not in variants:
        raise HarnessError(f"the scenario {name} has no variant {variant!r}", f"use one of: {', '.join(variants)}")
    described["load"] = source  # what the traced process loads (a module, or an absolute path)
    return described


def record_info(described: dict[str, Any], name: str, variant: str, ran: list[str]) -> dict[str, Any]:
    """The scenario as the run record carries it (runrecord.ScenarioInfo): every phase name a renderer may need."""
    return {
        "name": name,
        "variant": variant,
        "phases": ran,
        "roles": described["roles"],
        "order": described["order"],
        "why": described["why"],
        "chains": described["chains"],
        "processes": described["processes"],
        "source": described["load"] if is_shipped(name) else name,
        "contract": described["contract"],
        "allows_torch": bool(described.get("allows_torch")),
    }


def _env(folder: str) -> dict[str, str]:
    """The probe's environment: the harness importable, bytecode and temporary files kept out of the way."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", TMPDIR=folder)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [harness_only_path(Path(folder)), env.get("PYTHONPATH")]))
    env.pop("PYTHONHUNTER", None)
    return env
