"""The scenario file contract: what a scenario is, what a phase gets, how it is described and run.

A scenario is a plain Python file (or `module:attribute`) that defines `PHASES`, an ordered
list of `(name, function)`. Each function takes one argument, `ctx` (a `Context`): `ctx.out`
(a scratch folder for the scenario's outputs, made before the first phase of each process),
`ctx.root` (the target root, on `sys.path`), `ctx.gap(phase, missing, used)`, and free
attributes to carry state between phases.
Optionally `FRESH_PHASES` (run in a second, fresh process), `STATE` (initial attributes of
`ctx`) and the metadata the renderers use — `ROLES`, `CHAINS`, `PROCESS_TITLES`, `ORDER`,
`WHY`, `TAPS`, `CONTRACT`, `CONFIG_GLOBAL`, `VARIANTS`, `NAMESPACE` (the namespaces kept, when
`--namespace` is not given), `REQUIRES` (`module:name` entry points the target must define, checked
statically before the run) and `ALLOWS_TORCH` (False: the torch guard refuses torch, lightning
and mlflow; True lifts it for this scenario only, and the report says so) —
each with a default for a file that does not declare it (`describe`).

How a file is imported is loader.py's job, and what makes it well-formed checks.py's. This
module runs in the probe subprocess (which describes a checked file) and in the traced
process (which runs its phases); the harness process only ever reads the probe's JSON,
never the file itself: a scenario file may import the target. Standard library only,
Python 3.10+.
"""

from __future__ import annotations

import copy
import inspect
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

PHASE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
RESERVED = ("start", "end")  # the recorder's marks before the first phase and after the last
# Roles the renderers place phases by; a file may add others (they are carried, not used).
KNOWN_ROLES = ("entry", "build", "data", "train", "save", "load", "fresh-load", "import")
DEFAULT_TITLES = ("In the traced process", "In a fresh process")


class ScenarioError(Exception):
    """The target does not offer what the scenario needs; the message says what to do."""


class ScenarioFileError(Exception):
    """A scenario file that cannot be run: where (file, line) and what is wrong."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        super().__init__(f"{file}{f':{line}' if line else ''}: {problem}")
        self.file, self.line, self.problem = file, line, problem

    def as_data(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "problem": self.problem}


class Context:
    """What a phase gets: where to write, the target, gap notes, and room for its own state.

    Any attribute may be set on it to carry state from one phase to the next (in the same
    process; a fresh process starts with a fresh context)."""

    def __init__(
        self,
        root: str,
        out: str,
        package: str,
        namespace: str,
        variant: str,
        set_phase: Callable[[str], None],
        state: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.out = out
        self.package = package
        self.namespace = namespace
        self.variant = variant
        self.set_phase = set_phase  # start a sub-phase: the calls after it are grouped under `name`
        self.phase = ""  # the phase running (set before each phase function is called)
        self.gaps: list[dict[str, str]] = []
        self.findings: list[dict[str, Any]] = []
        for name, value in (state or {}).items():  # no call here: the recorder may be running
            setattr(self, name, value)

    def start(self, scenario: Scenario) -> Context:
        """Give the context the scenario's `STATE` (initial attributes, a fresh copy per process)."""
        for name, value in initial_state(scenario).items():
            setattr(self, name, value)
        return self

    def gap(self, phase: str, missing: str, used: str) -> None:
        """Note that the target lacks `missing` and the scenario used `used` instead."""
        self.gaps.append({"phase": str(phase), "missing": str(missing), "used": str(used)})

    def finding(self, kind: str, **facts: Any) -> None:
        """A fact the scenario established (e.g. what a loader did with another backend's archive),
        kept in the run record (`findings`) for the verdicts; `facts` are plain JSON values."""
        self.findings.append(dict(facts, kind=str(kind), phase=str(self.phase)))


class Scenario:
    """A loaded, checked scenario: its phases by process, and the object that declared them."""

    def __init__(
        self,
        source: str,
        file: str,
        obj: Any,
        phases: list[tuple[str, Callable[..., Any]]],
        fresh: list[tuple[str, Callable[..., Any]]],
    ) -> None:
        self.source, self.file, self.obj = source, file, obj
        self.phases, self.fresh = phases, fresh
        self.functions = dict(phases + fresh)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self.obj, name, default)


def names_of(value: Any) -> list[str]:
    """Phase names as declared (one name or a list of them), as strings."""
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def initial_state(scenario: Scenario) -> dict[str, Any]:
    """A fresh copy of the scenario's `STATE`, made before the recorder starts (copying runs code)."""
    return copy.deepcopy(dict(scenario.get("STATE") or {}))


# -- describing -------------------------------------------------------------------------


def describe(scenario: Scenario) -> dict[str, Any]:
    """Everything the harness and the renderers need, as plain data, defaults filled in.

    No save/load roles unless the file declares them (those report sections then say "not
    applicable"); every phase is an entry phase; one chain per phase; the order is the phase
    order; the why is the file's docstring."""
    names = [name for name, _ in scenario.phases + scenario.fresh]
    roles = scenario.get("ROLES")
    roles = {str(k): names_of(v) for k, v in roles.items()} if roles is not None else {"entry": list(names)}
    chains = scenario.get("CHAINS")
    chains = [(str(t), names_of(p)) for t, p in chains] if chains is not None else [(n, [n]) for n in names]
    declared = [str(t) for t in scenario.get("PROCESS_TITLES") or ()]
    titles = declared + list(DEFAULT_TITLES[len(declared) :])
    processes = [{"label": "cycle", "title": titles[0], "phases": [n for n, _ in scenario.phases]}]
    if scenario.fresh:
        processes.append({"label": "fresh", "title": titles[1], "phases": [n for n, _ in scenario.fresh]})
    order = scenario.get("ORDER") or ", ".join(roles.get("entry") or names)
    variants = scenario.get("VARIANTS")
    config_global = scenario.get("CONFIG_GLOBAL")
    namespace = scenario.get("NAMESPACE")
    return {
        "source": scenario.source,
        "file": scenario.file,
        "roles": roles,
        "chains": [{"title": t, "phases": p} for t, p in chains],
        "processes": processes,
        "order": str(order),
        "why": str(
            scenario.get("WHY")
            or _docstring(scenario)
            or f"these are the phases the scenario `{os.path.basename(scenario.file)}` declares."
        ),
        "taps": _taps(scenario),
        "contract": bool(scenario.get("CONTRACT", False)),
        "variants": [str(v) for v in variants] if variants is not None else None,
        "config_global": str(config_global) if config_global is not None else None,
        "allows_torch": scenario.get("ALLOWS_TORCH", False) is True,
        "namespace": namespaces_of(namespace) if namespace is not None else None,
        "requires": [str(r) for r in scenario.get("REQUIRES") or ()],
    }


def namespaces_of(value: Any) -> list[str]:
    """`NAMESPACE` (one module name or a list) as a list; `--namespace a,b` is the same list."""
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    return [str(v) for v in value]


def _docstring(scenario: Scenario) -> str:
    """The first paragraph of the module's (or class's) own docstring."""
    obj = scenario.obj
    text = inspect.cleandoc(obj.__doc__) if (inspect.ismodule(obj) or inspect.isclass(obj)) and obj.__doc__ else ""
    first = text.strip().split("\n\n", 1)[0]
    return " ".join(first.split())


def _taps(scenario: Scenario) -> list[str]:
    """`TAPS`: tap files, relative to the scenario file."""
    base = os.path.dirname(scenario.file)
    return [os.path.normpath(os.path.join(base, os.path.expanduser(str(p)))) for p in scenario.get("TAPS") or ()]


# -- running ----------------------------------------------------------------------------


def run(scenario: Scenario, ctx: Context, phases: Sequence[str]) -> None:
    """Run the named phases in order; the first that raises ends the run (the caller records it)."""
    for name in phases:
        ctx.phase = name
        ctx.set_phase(name)
        scenario.functions[name](ctx)
