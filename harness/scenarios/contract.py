"""The scenario file contract: what a scenario is, how it is loaded, checked and described.

A scenario is a plain Python file (or `module:attribute`) that defines `PHASES`, an ordered
list of `(name, function)`. Each function takes one argument, `ctx` (a `Context`): `ctx.out`
(a scratch folder for the scenario's outputs), `ctx.root` (the target root, on `sys.path`),
`ctx.gap(phase, missing, used)`, and free attributes to carry state between phases.
Optionally `FRESH_PHASES` (run in a second, fresh process), `STATE` (initial attributes of
`ctx`) and the metadata the renderers use — `ROLES`, `CHAINS`, `PROCESS_TITLES`, `ORDER`,
`WHY`, `TAPS`, `CONTRACT`, `CONFIG_GLOBAL`, `VARIANTS` —
each with a default for a file that does not declare it (`describe`).

This module runs in three places: the probe subprocess that checks a file before anything
is traced, the traced process (which loads the checked file before the recorder starts),
and the harness process (which only ever reads the probe's JSON, never the file itself:
a scenario file may import the target). Standard library only, Python 3.10+.
"""

from __future__ import annotations

import ast
import copy
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .. import frames

PHASE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
RESERVED = ("start", "end")  # the recorder's marks before the first phase and after the last
# Roles the renderers place phases by; a file may add others (they are carried, not used).
KNOWN_ROLES = ("entry", "build", "data", "train", "save", "load", "fresh-load", "import")
DEFAULT_TITLES = ("In the traced process", "In a fresh process")
MODULE_NAME = "callchain_scenario"


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


def initial_state(scenario: Scenario) -> dict[str, Any]:
    """A fresh copy of the scenario's `STATE`, made before the recorder starts (copying runs code)."""
    return copy.deepcopy(dict(scenario.get("STATE") or {}))


# -- loading ----------------------------------------------------------------------------


def load(source: str) -> Scenario:
    """Import a scenario (`path/to/file.py`, `module`, or `module:attribute`) and check it."""
    file, obj = _import(source)
    tree = _tree(file)
    attribute = source.rsplit(":", 1)[1] if is_module_ref(source) and ":" in source else None
    phases = _phases(obj, "PHASES", file, tree, attribute, required=True)
    fresh = _phases(obj, "FRESH_PHASES", file, tree, attribute, required=False)
    seen: dict[str, str] = {}
    for list_name, entries in (("PHASES", phases), ("FRESH_PHASES", fresh)):
        for index, (name, _) in enumerate(entries):
            if name in seen:
                raise ScenarioFileError(
                    file,
                    _element_line(tree, list_name, index, attribute),
                    f"duplicate phase name {name!r} (already in {seen[name]}); "
                    "phase names must be unique across PHASES and FRESH_PHASES",
                )
            seen[name] = list_name
    scenario = Scenario(source, file, obj, phases, fresh)
    _check_metadata(scenario, tree, attribute)
    return scenario


def is_module_ref(source: str) -> bool:
    """`pkg.module` or `pkg.module:attr` (not a path to a .py file)."""
    head = source.split(":", 1)[0] if not os.path.exists(source) else source
    return not head.endswith(".py") and "/" not in head and os.sep not in head and bool(re.fullmatch(r"[\w.]+", head))


def _import(source: str) -> tuple[str, Any]:
    if is_module_ref(source):
        return _import_module(source)
    path = os.path.abspath(os.path.expanduser(source))
    if not os.path.isfile(path):
        raise ScenarioFileError(
            source, None, "no such scenario file (pass a .py file, module:attribute, or a shipped name)"
        )
    _compile(path)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ScenarioFileError(path, None, "cannot be loaded as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module  # dataclasses and pickling look their module up here
    _execute(lambda: spec.loader.exec_module(module), path)  # type: ignore[union-attr]
    return path, module


def _import_module(source: str) -> tuple[str, Any]:
    name, _, attribute = source.partition(":")
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.origin or not os.path.isfile(found.origin):
        raise ScenarioFileError(source, None, f"no module {name!r} to load the scenario from")
    _compile(found.origin)
    module = _execute(lambda: importlib.import_module(name), found.origin)
    if not attribute:
        return found.origin, module
    if not hasattr(module, attribute):
        raise ScenarioFileError(found.origin, None, f"defines no {attribute!r}")
    return found.origin, getattr(module, attribute)


def _compile(path: str) -> None:
    try:
        with open(path, "rb") as handle:
            compile(handle.read(), path, "exec", dont_inherit=True)
    except SyntaxError as error:
        raise ScenarioFileError(path, error.lineno, f"syntax error: {error.msg}") from None
    except (OSError, ValueError) as error:
        raise ScenarioFileError(path, None, f"cannot be read: {error}") from None


def _execute(run: Callable[[], Any], path: str) -> Any:
    """Run the file's top level; an exception there names the file's line that raised it."""
    try:
        return run()
    except ScenarioFileError:
        raise
    except BaseException as error:  # noqa: BLE001 - any failure of a user file is bad input
        found = frames.innermost(
            frames.from_traceback(error.__traceback__),
            lambda frame: os.path.abspath(frame.f_code.co_filename) == os.path.abspath(path),
        )
        line = found[1] if found else None
        raise ScenarioFileError(path, line, f"raised {type(error).__name__} when loaded: {error}") from None


def _tree(file: str) -> ast.Module | None:
    try:
        with open(file, "rb") as handle:
            return ast.parse(handle.read(), file)
    except (OSError, SyntaxError, ValueError):
        return None


# -- checking ---------------------------------------------------------------------------


def _phases(
    obj: Any, list_name: str, file: str, tree: ast.Module | None, attribute: str | None, required: bool
) -> list[tuple[str, Callable[..., Any]]]:
    """`PHASES` / `FRESH_PHASES` as checked `(name, function)` pairs."""
    value = getattr(obj, list_name, None)
    line = _assign_line(tree, list_name, attribute)
    if value is None:
        if required:
            raise ScenarioFileError(file, None, "defines no PHASES (an ordered list of (name, function) pairs)")
        return []
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Sequence):
        raise ScenarioFileError(
            file, line, f"{list_name} must be a list of (name, function) pairs, not {type(value).__name__}"
        )
    if required and not value:
        raise ScenarioFileError(file, line, "PHASES is empty: a scenario needs at least one phase")
    checked = []
    for index, entry in enumerate(value):
        where = _element_line(tree, list_name, index, attribute) or line
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise ScenarioFileError(
                file, where, f"{list_name}[{index}] must be a (name, function) pair, got {entry!r:.80}"
            )
        name, function = entry
        if not isinstance(name, str) or not PHASE_NAME.match(name):
            raise ScenarioFileError(file, where, f"phase name {name!r} must be a word (letters, digits, _ . -)")
        if name in RESERVED:
            raise ScenarioFileError(file, where, f"phase name {name!r} is reserved; choose another name")
        if not callable(function):
            raise ScenarioFileError(
                file,
                where,
                f"phase {name!r} is not callable ({type(function).__name__}); give a function that takes ctx",
            )
        if not _takes_one(function):
            raise ScenarioFileError(file, where, f"phase {name!r} must take exactly one argument, ctx")
        checked.append((name, function))
    return checked


def _takes_one(function: Callable[..., Any]) -> bool:
    try:
        inspect.signature(function).bind(object())
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): trust it
        return True
    return True


def _check_metadata(scenario: Scenario, tree: ast.Module | None, attribute: str | None) -> None:
    """Roles and chains may only name phases the scenario has."""
    names = set(scenario.functions)
    roles = scenario.get("ROLES")
    if roles is not None:
        if not isinstance(roles, dict):
            raise ScenarioFileError(
                scenario.file,
                _assign_line(tree, "ROLES", attribute),
                "ROLES must be a dict: role → list of phase names",
            )
        for role, phases in roles.items():
            unknown = [p for p in _names(phases) if p not in names]
            if unknown or isinstance(phases, str):
                raise ScenarioFileError(
                    scenario.file,
                    _assign_line(tree, "ROLES", attribute),
                    f"ROLES[{role!r}] must list phase names of this scenario; unknown: {unknown or phases!r}",
                )
    state = scenario.get("STATE")
    if state is not None and not (
        isinstance(state, dict) and all(isinstance(k, str) and k.isidentifier() for k in state)
    ):
        raise ScenarioFileError(
            scenario.file,
            _assign_line(tree, "STATE", attribute),
            "STATE must be a dict of attribute name → initial value",
        )
    try:
        copy.deepcopy(state)
    except Exception as error:  # noqa: BLE001 - every process gets its own copy, so it must copy
        raise ScenarioFileError(
            scenario.file, _assign_line(tree, "STATE", attribute), f"STATE cannot be copied for each process: {error}"
        ) from None
    chains = scenario.get("CHAINS")
    if chains is not None:
        for chain in chains:
            if (
                not (isinstance(chain, (tuple, list)) and len(chain) == 2 and isinstance(chain[0], str))
                or isinstance(chain[1], str)
                or any(p not in names for p in _names(chain[1]))
            ):
                raise ScenarioFileError(
                    scenario.file,
                    _assign_line(tree, "CHAINS", attribute),
                    f"CHAINS entries must be (title, [phase names of this scenario]), got {chain!r:.80}",
                )


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _assign_node(tree: ast.Module | None, name: str, attribute: str | None) -> ast.AST | None:
    """The top-level (or, for `module:attribute`, the class body's) assignment of `name`."""
    if tree is None:
        return None
    bodies: list[list[ast.stmt]] = [tree.body]
    if attribute:
        bodies = [n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == attribute] + bodies
    for body in bodies:
        found = None
        for node in body:
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found = node  # the last assignment wins, as at run time
        if found is not None:
            return found
    return None


def _assign_line(tree: ast.Module | None, name: str, attribute: str | None) -> int | None:
    node = _assign_node(tree, name, attribute)
    return getattr(node, "lineno", None)


def _element_line(tree: ast.Module | None, name: str, index: int, attribute: str | None) -> int | None:
    """The line of element `index` of a literal list assigned to `name` (else the assignment's)."""
    node = _assign_node(tree, name, attribute)
    value = getattr(node, "value", None)
    if isinstance(value, (ast.List, ast.Tuple)) and index < len(value.elts):
        return value.elts[index].lineno
    return getattr(node, "lineno", None)


# -- describing -------------------------------------------------------------------------


def describe(scenario: Scenario) -> dict[str, Any]:
    """Everything the harness and the renderers need, as plain data, defaults filled in.

    No save/load roles unless the file declares them (those report sections then say "not
    applicable"); every phase is an entry phase; one chain per phase; the order is the phase
    order; the why is the file's docstring."""
    names = [name for name, _ in scenario.phases + scenario.fresh]
    roles = scenario.get("ROLES")
    roles = {str(k): _names(v) for k, v in roles.items()} if roles is not None else {"entry": list(names)}
    chains = scenario.get("CHAINS")
    chains = [(str(t), _names(p)) for t, p in chains] if chains is not None else [(n, [n]) for n in names]
    declared = [str(t) for t in scenario.get("PROCESS_TITLES") or ()]
    titles = declared + list(DEFAULT_TITLES[len(declared) :])
    processes = [{"label": "cycle", "title": titles[0], "phases": [n for n, _ in scenario.phases]}]
    if scenario.fresh:
        processes.append({"label": "fresh", "title": titles[1], "phases": [n for n, _ in scenario.fresh]})
    order = scenario.get("ORDER") or ", ".join(roles.get("entry") or names)
    variants = scenario.get("VARIANTS")
    config_global = scenario.get("CONFIG_GLOBAL")
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
    }


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
