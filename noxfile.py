"""The interpreter matrix: the fast test layer on every Python callchain supports.

PtychoPINN's users run Python 3.10/3.11 (its `requires-python` is `>=3.10,<3.12`), callchain's
own default is 3.12: `nox -s fast-3.10 fast-3.11 fast-3.12 fast-3.13` runs the fast layer
(`-m "not slow"`, no TensorFlow needed) on each; `nox -s full` runs the whole suite on the
default interpreter, as `make test` does. `.ci/run` runs `make lint`, `make test` and the
3.10/3.11 fast sessions (`make matrix`).
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

VERSIONS = ["3.10", "3.11", "3.12", "3.13"]


def _pyenv_interpreters_on_path() -> None:
    """pyenv's shims for inactive versions refuse to run, so nox would call those interpreters
    missing: put each installed version's own bin folder on PATH instead."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for version in VERSIONS:
        folders = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin")))
        if folders and os.path.exists(os.path.join(folders[-1], f"python{version}")):
            found.append(folders[-1])
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_pyenv_interpreters_on_path()


@nox.session(python=VERSIONS)
def fast(session: nox.Session) -> None:
    """The fast layer: recorder backends in-process, the record, views, templates, inspect, static passes."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-n", "2", "-m", "not slow", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def full(session: nox.Session) -> None:
    """The whole suite on the default interpreter (what `make test` runs)."""
    session.install("-e", ".[test,demo]")
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)
