"""Evidence-only and the user's own interpreter, on small targets the tests write."""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest
from conftest import callchain, load_run, report_of
from helpers import tiny_target

pytestmark = pytest.mark.slow  # every test here traces in a subprocess


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "PATH": "/usr/bin:/bin",
            "HOME": str(root),
        },
    )


@pytest.fixture()
def git_target(tmp_path):
    root = tiny_target(tmp_path / "target")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    return root


def test_git_commit_and_clean_state_recorded(git_target, tmp_path):
    done = callchain("trace", "--root", str(git_target), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    env = json.loads((report_of(done) / "env" / "trace_env.json").read_text())
    head = subprocess.run(
        ["git", "-C", str(git_target), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert env["target"]["commit"] == head
    assert env["target"]["dirty"] is False
    assert env["evidence_only"]["before"] == env["evidence_only"]["after"]
    assert env["evidence_only"]["changes"] == []
    assert (
        subprocess.run(["git", "-C", str(git_target), "status", "--porcelain"], capture_output=True, text=True).stdout
        == ""
    )


def test_dirty_tree_is_recorded(git_target, tmp_path):
    (git_target / "ptycho" / "params.py").write_text((git_target / "ptycho" / "params.py").read_text() + "\n# edited\n")
    done = callchain("trace", "--root", str(git_target), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert load_run(report_of(done))["target"]["dirty"] is True


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
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"))
    assert done.returncode == 4, done.stderr
    assert "the target tree changed during the run" in done.stderr and "added: ptycho/cache.txt" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """An interpreter with nothing installed: the harness's child needs only the standard library."""
    folder = tmp_path_factory.mktemp("bare-venv")
    venv.EnvBuilder(with_pip=False).create(folder)
    return folder / "bin" / "python"


def test_another_interpreter_runs_the_scenario(bare_python, tmp_path):
    root = tiny_target(tmp_path / "target")
    done = callchain("trace", "--root", str(root), "--out", str(tmp_path / "out"), "--python", str(bare_python))
    assert done.returncode == 0, done.stderr
    env = json.loads((report_of(done) / "env" / "trace_env.json").read_text())
    assert env["executable"] == str(bare_python)


def test_interpreter_without_hunter_is_told_what_to_install(bare_python, tmp_path):
    root = tiny_target(tmp_path / "target")
    done = callchain(
        "trace",
        "--root",
        str(root),
        "--out",
        str(tmp_path / "out"),
        "--python",
        str(bare_python),
        "--backend",
        "hunter",
    )
    assert done.returncode == 2
    assert f"install it there: {bare_python} -m pip install hunter" in done.stderr
    assert not (tmp_path / "out").exists()


def test_interpreter_that_does_not_exist(tmp_path):
    done = callchain("trace", "--python", str(tmp_path / "nope" / "python"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "cannot run the interpreter" in done.stderr and "Traceback" not in done.stderr


def test_output_folder_inside_the_target_is_refused(tmp_path):
    root = tiny_target(tmp_path / "target")
    done = callchain("trace", "--root", str(root), "--out", str(root / "artifacts"))
    assert done.returncode == 2 and "is inside the target" in done.stderr
    assert not (root / "artifacts").exists()


def test_a_write_into_an_ignored_path_of_a_git_target_still_fails(git_target, tmp_path):
    (git_target / ".gitignore").write_text("outputs/\n")
    (git_target / "ptycho" / "model.py").write_text(
        "import os\n\n\ndef create_model_with_gridsize(gridsize, N):\n"
        "    os.makedirs(os.path.join(os.path.dirname(__file__), '..', 'outputs'), exist_ok=True)\n"
        "    return 'a', 'd'\n"
    )
    _git(git_target, "add", "-A")
    _git(git_target, "commit", "-qm", "writes outputs/")
    done = callchain("trace", "--root", str(git_target), "--out", str(tmp_path / "out"))
    assert done.returncode == 4, done.stderr
    assert "written: <root>/outputs" in done.stderr
