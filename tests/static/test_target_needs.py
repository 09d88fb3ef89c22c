"""What the target tree holds and what the demo target needs: the namespace's module found by
path, and the one message for an interpreter that cannot run the embedded demo."""

from __future__ import annotations

import ast
import sys

import pytest
from conftest import REPO

from harness.run.interpreter import missing_modules
from harness.static.target import DEMO_NEEDS, demo_unrunnable, module_found

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def test_module_found_by_the_path_its_dots_spell(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("")
    (tmp_path / "pkg" / "sub" / "leaf.py").write_text("")  # a namespace package
    (tmp_path / "empty").mkdir()
    for dotted in ("pkg", "pkg.mod", "pkg.sub", "pkg.sub.leaf"):
        assert module_found(tmp_path, dotted), dotted
    for dotted in ("pkgg", "pkg.nothing", "empty", "", "pkg..mod", "../pkg", "pkg/mod", "pkg.sub.leaf.x"):
        assert not module_found(tmp_path, dotted), dotted


def test_the_demo_needs_are_what_the_demo_extra_and_the_core_install():
    """One list of the demo's needs (target.DEMO_NEEDS); pyproject's extra must provide each."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    provided = {req.split(">")[0].split(";")[0].strip() for req in project["optional-dependencies"]["demo"]}
    provided |= {req.split(">")[0].split(";")[0].strip() for req in project["dependencies"]}
    assert set(DEMO_NEEDS.values()) <= provided
    imported = set()
    for path in (REPO / "harness" / "demo" / "ptycho").rglob("*.py"):  # ptycho_torch is only ever read
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                imported.add((node.module or "").split(".")[0])
    assert imported - set(sys.stdlib_module_names) - {"keras", "ptycho"} == set(DEMO_NEEDS)


@pytest.mark.parametrize(
    "missing, own, fix",
    [
        (["tensorflow", "dill"], True, "pip install 'callchain[demo]'"),
        (["dill"], True, "pip install dill;"),  # never a second TensorFlow beside the one it has
        (["tensorflow", "numpy"], False, "/envs/x/bin/python -m pip install tensorflow-cpu numpy;"),
    ],
)
def test_one_plain_message_names_what_is_missing_and_the_fix(missing, own, fix):
    error = demo_unrunnable("/envs/x/bin/python", missing, own)
    assert error.exit_code == 2 and "ModuleNotFoundError" not in error.message()
    assert f"lacks {', '.join(missing)}" in error.problem and "/envs/x/bin/python" in error.problem
    assert fix in error.fix and "--python an environment that has TensorFlow" in error.fix
    assert ("callchain[demo]" in error.fix) == (own and "tensorflow" in missing)


def test_missing_modules_are_located_never_imported():
    assert missing_modules(sys.executable, ["json", "no_such_module_xyz"]) == ["no_such_module_xyz"]
    assert missing_modules("/no/such/python", ["json"]) == []
