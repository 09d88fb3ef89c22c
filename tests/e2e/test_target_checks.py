"""Evidence-only and the user's own interpreter, on small targets the tests write."""

from __future__ import annotations

import venv
from pathlib import Path

import pytest
from helpers import commit_all, git, tiny_target
from tracing import trace

pytestmark = pytest.mark.slow  # every test here traces in a subprocess


@pytest.fixture()
def git_target(tmp_path):
    return commit_all(tiny_target(tmp_path / "target"))


def test_git_commit_and_clean_state_recorded(git_target, tmp_path):
    run = trace(git_target, tmp_path / "out").ok()
    env, commit = run.env, git(git_target, "rev-parse", "HEAD").strip()
    assert env["target"]["commit"] == commit
    assert env["target"]["dirty"] is False
    assert env["target"]["revision"] == f"git commit {commit}, clean"
    assert f"— git commit {commit}, clean." in run.text("summary.md")
    assert env["evidence_only"]["before"] == env["evidence_only"]["after"]
    assert env["evidence_only"]["changes"] == []
    assert git(git_target, "status", "--porcelain") == ""


def test_dirty_tree_is_recorded(git_target, tmp_path):
    (git_target / "ptycho" / "params.py").write_text((git_target / "ptycho" / "params.py").read_text() + "\n# edited\n")
    assert trace(git_target, tmp_path / "out").ok().record["target"]["dirty"] is True


def test_a_target_that_writes_into_its_own_tree_fails_loudly(tmp_path):
    root = tiny_target(
        tmp_path / "target",
        {
            "ptycho/model.py": """
        import os

        def create_model_with_gridsize(gridsize, N):
            with open(os.path.join(os.path.dirname(__file__), 'cache.txt'), 'w') as f:
                f.write('x')
            return 'a', 'd'
    """
        },
    )
    trace(root, tmp_path / "out").fails(4, "the target tree changed during the run", "added: ptycho/cache.txt")


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """An interpreter with nothing installed: the harness's child needs only the standard library."""
    folder = tmp_path_factory.mktemp("bare-venv")
    venv.EnvBuilder(with_pip=False).create(folder)
    return folder / "bin" / "python"


def test_another_interpreter_runs_the_scenario(bare_python, tmp_path):
    root = tiny_target(tmp_path / "target")
    run = trace(root, tmp_path / "out", "--python", str(bare_python))
    assert run.ok().env["executable"] == str(bare_python)


def test_interpreter_without_hunter_is_told_what_to_install(bare_python, tmp_path):
    root = tiny_target(tmp_path / "target")
    run = trace(root, tmp_path / "out", "--python", str(bare_python), "--backend", "hunter")
    assert run.code == 2
    assert f"install it there: {bare_python} -m pip install hunter" in run.stderr
    assert not (tmp_path / "out").exists()


def test_interpreter_that_does_not_exist(tmp_path):
    run = trace(None, tmp_path / "out", "--python", str(tmp_path / "nope" / "python"))
    assert run.code == 2 and "cannot run the interpreter" in run.stderr and "Traceback" not in run.stderr


def test_output_folder_inside_the_target_is_refused(tmp_path):
    root = tiny_target(tmp_path / "target")
    run = trace(root, root / "artifacts")
    assert run.code == 2 and "is inside the target" in run.stderr
    assert not (root / "artifacts").exists()


def test_a_write_into_an_ignored_path_of_a_git_target_still_fails(git_target, tmp_path):
    (git_target / ".gitignore").write_text("outputs/\n")
    (git_target / "ptycho" / "model.py").write_text(
        "import os\n\n\ndef create_model_with_gridsize(gridsize, N):\n"
        "    os.makedirs(os.path.join(os.path.dirname(__file__), '..', 'outputs'), exist_ok=True)\n"
        "    return 'a', 'd'\n"
    )
    commit_all(git_target, "writes outputs/")
    run = trace(git_target, tmp_path / "out")
    assert run.code == 4, run.stderr
    assert "written: <root>/outputs" in run.stderr
