"""Is an imported scenario well-formed? Each problem named with the file and line that causes it.

The checks read the imported object (what runs) and, for line numbers only, the file's
syntax tree (where it was written): `PHASES` and `FRESH_PHASES` are (name, function) pairs
with unique, unreserved word names and one-argument functions; `ROLES`, `CHAINS` name only
phases of the scenario; `STATE` is a dict of attribute names that can be copied per
process. A file that passes is a `Scenario`.

Runs where a scenario file is loaded (loader.py): standard library only, Python 3.10+.
"""

from __future__ import annotations

import ast
import copy
import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any

from .contract import PHASE_NAME, RESERVED, Scenario, ScenarioFileError, names_of


def checked_scenario(source: str, file: str, obj: Any, attribute: str | None) -> Scenario:
    """The scenario `obj` declares (imported from `file`), checked; else ScenarioFileError."""
    tree = _tree(file)
    phases = _phases(obj, "PHASES", file, tree, attribute, required=True)
    fresh = _phases(obj, "FRESH_PHASES", file, tree, attribute, required=False)
    _check_unique(file, tree, attribute, phases, fresh)
    scenario = Scenario(source, file, obj, phases, fresh)
    _check_metadata(scenario, tree, attribute)
    return scenario


def _check_unique(
    file: str,
    tree: ast.Module | None,
    attribute: str | None,
    phases: list[tuple[str, Callable[..., Any]]],
    fresh: list[tuple[str, Callable[..., Any]]],
) -> None:
    """Phase names are unique across both processes (a phase is run and reported by name)."""
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


def _tree(file: str) -> ast.Module | None:
    """The file's syntax tree, for line numbers only (None when it cannot be read)."""
    try:
        with open(file, "rb") as handle:
            return ast.parse(handle.read(), file)
    except (OSError, SyntaxError, ValueError):
        return None


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
            unknown = [p for p in names_of(phases) if p not in names]
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
    _check_torch_fields(scenario, tree, attribute)
    chains = scenario.get("CHAINS")
    if chains is not None:
        for chain in chains:
            if (
                not (isinstance(chain, (tuple, list)) and len(chain) == 2 and isinstance(chain[0], str))
                or isinstance(chain[1], str)
                or any(p not in names for p in names_of(chain[1]))
            ):
                raise ScenarioFileError(
                    scenario.file,
                    _assign_line(tree, "CHAINS", attribute),
                    f"CHAINS entries must be (title, [phase names of this scenario]), got {chain!r:.80}",
                )


_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_REQUIREMENT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


def _check_torch_fields(scenario: Scenario, tree: ast.Module | None, attribute: str | None) -> None:
    """`ALLOWS_TORCH` is a bool (True or False, nothing truthy by accident: it lifts the torch
    guard); `REQUIRES` a list of `module:name`; `NAMESPACE` a module name or a list of them."""
    allows = scenario.get("ALLOWS_TORCH")
    if allows is not None and type(allows) is not bool:
        raise ScenarioFileError(
            scenario.file,
            _assign_line(tree, "ALLOWS_TORCH", attribute),
            f"ALLOWS_TORCH must be True or False, not {allows!r:.40}",
        )
    requires = scenario.get("REQUIRES")
    if requires is not None and (
        isinstance(requires, str)
        or not isinstance(requires, (list, tuple))
        or not all(isinstance(r, str) and _REQUIREMENT.match(r) for r in requires)
    ):
        raise ScenarioFileError(
            scenario.file,
            _assign_line(tree, "REQUIRES", attribute),
            f"REQUIRES must be a list of 'module:name' entry points, got {requires!r:.80}",
        )
    namespace = scenario.get("NAMESPACE")
    if namespace is None:
        return
    names = [namespace] if isinstance(namespace, str) else namespace
    if (
        not isinstance(names, (list, tuple))
        or not names
        or not all(isinstance(n, str) and _MODULE_NAME.match(n) for n in names)
    ):
        raise ScenarioFileError(
            scenario.file,
            _assign_line(tree, "NAMESPACE", attribute),
            f"NAMESPACE must be a module name or a list of them (e.g. ['ptycho_torch', 'ptycho']), got {namespace!r:.80}",
        )


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
