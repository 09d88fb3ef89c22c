"""Small readers of the deliverables and writers of throwaway targets, shared by tests."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

from conftest import FIXTURES

CALL_LINE = re.compile(
    r"^(?P<indent> *)(?P<function>\S+:\S+)  (?P<anchor>\S+:\d+|\(no source file\))(?:  <- (?P<site>\S+:\d+))?  => (?P<returned>.*?)(?:  ×(?P<count>\d+))?$"
)


def body(text: str) -> list[str]:
    """dynamic.txt without its '#' header lines."""
    return [line for line in text.splitlines() if not line.startswith("#")]


def call_lines(text: str) -> list[re.Match]:
    return [m for m in (CALL_LINE.match(line) for line in body(text)) if m]


def delimiters(row: str) -> int:
    """Cell delimiters of a GFM table row: `|` not escaped by a backslash (a backslash escapes
    the character after it, a backslash included)."""
    count, escaped = 0, False
    for char in row:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            count += 1
    return count


def markdown_tables(text: str) -> list[list[str]]:
    """The tables of a Markdown text: each a list of its consecutive lines that start with `|`."""
    tables: list[list[str]] = []
    previous = False
    for line in text.split("\n"):
        row = line.startswith("|")
        if row and not previous:
            tables.append([])
        if row:
            tables[-1].append(line)
        previous = row
    return tables


def def_lines(path: Path) -> dict[int, str]:
    """Line → name of every def/class/lambda `def` line in a source file."""
    found = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.lineno] = node.name
        elif isinstance(node, ast.Lambda):
            found[node.lineno] = "<lambda>"
    return found


def write_target(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def manager_source(after_save: str = "") -> str:
    """ptycho/model_manager.py of the miniature: the save writes a one-member archive, then
    runs the statement `after_save`; the load returns no models."""
    then = f"\n        {after_save}" if after_save else ""
    return (
        "import os, zipfile\n\n"
        "class ModelManager:\n"
        "    @staticmethod\n"
        "    def save_multiple_models(models, base_path, custom_objects, intensity_scale):\n"
        "        with zipfile.ZipFile(base_path + '.zip', 'w') as zf:\n"
        f"            zf.writestr('manifest.dill', b''){then}\n\n"
        "    @staticmethod\n"
        "    def load_multiple_models(base_path, model_names=None):\n"
        "        return {}\n"
    )


# A ptycho-like target without TensorFlow: fast, for the error paths of the harness.
TINY_TARGET = {
    "ptycho/__init__.py": "",
    "ptycho/params.py": """
        cfg = {'N': 128, 'gridsize': 2, 'nphotons': 1e9}

        def get(key):
            return cfg[key]

        def set(key, value):
            cfg[key] = value
    """,
    "ptycho/model.py": """
        def create_model_with_gridsize(gridsize, N):
            return ('autoencoder', 'diffraction_to_obj')
    """,
    "ptycho/model_manager.py": manager_source(),
}


def tiny_target(root: Path, overrides: dict[str, str] = None) -> Path:
    files = dict(TINY_TARGET)
    files.update(overrides or {})
    return write_target(root, files)


def anchors_in(text: str) -> list[tuple[str, int]]:
    return [(m.group(1), int(m.group(2))) for m in re.finditer(r"((?:ptycho|ptycho_torch)/[\w/]+\.py):(\d+)", text)]


def hostile_target(root: Path, build: str, imports: str = "", extra: dict[str, str] = None) -> Path:
    """The TF-free miniature whose `create_model_with_gridsize` (phase build, first process
    only) runs `build` (a block of statements, any indentation) with `ROOT` (the target
    root) and `HERE` (its ptycho/ folder) defined, after `imports`: one hostile change per target."""
    model = (
        f"import os\n{imports}\n\nHERE = os.path.dirname(os.path.abspath(__file__))\n"
        "ROOT = os.path.dirname(HERE)\n\n\ndef create_model_with_gridsize(gridsize, N):\n"
        + textwrap.indent(textwrap.dedent(build).strip("\n"), "    ")
        + "\n    return 'autoencoder', 'diffraction_to_obj'\n"
    )
    files = dict(TINY_TARGET)
    files.update(extra or {})
    tree = write_target(root, files)
    (tree / "ptycho" / "model.py").write_text(model)
    return tree


# git with no user configuration: an author, and a HOME that holds none.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout


def commit_all(root: Path, message: str = "init") -> Path:
    """`root` as a git checkout with everything in it committed (a repository made if needed)."""
    if not (root / ".git").exists():
        git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return root


def jsonstore_target(where: Path) -> tuple[Path, Path]:
    """The JSON-backed store of fixtures/ (a target that has nothing to do with ptycho) copied
    into `where`: its root (package `jsonstore`), and its scenario file with the tap file it names."""
    root = shutil.copytree(FIXTURES / "jsonstore_root", where / "root")
    scenario = shutil.copy(FIXTURES / "jsonstore_scenario.py", where / "scenario.py")
    shutil.copy(FIXTURES / "jsonstore_taps.toml", where / "jsonstore_taps.toml")
    return Path(root), Path(scenario)


# The threaded miniature: `main_work(steps)` calls `step` `steps` times on the main thread while
# a daemon thread ("spinner-7") calls `tick` as fast as it can, then `in_pool` -> `step` once in
# a one-worker ThreadPoolExecutor. Traced in-process (trace/test_unit_threads.py) and through the
# command line as ptycho/model.py (e2e/test_hostile_recorder.py).
THREADED = textwrap.dedent(
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    STOP = threading.Event()

    def tick(n):
        return n

    def spin():
        n = 0
        while not STOP.is_set():
            tick(n)
            n += 1

    def step(n):
        return n + 1

    def in_pool(n):
        return step(n)

    def main_work(steps=200):
        STOP.clear()
        worker = threading.Thread(target=spin, name="spinner-7", daemon=True)
        worker.start()
        total = sum(step(i) for i in range(steps))
        with ThreadPoolExecutor(max_workers=1) as pool:
            total += pool.submit(in_pool, 1).result()
        STOP.set()
        worker.join()
        return total
    """
)


def real_files(variable: str, reason: str):
    """Parametrize a test over the paths in ``$variable`` (os.pathsep-separated); skip with ``reason`` without it."""
    import pytest

    paths = [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
    if paths:
        return pytest.mark.parametrize("path", paths)
    return pytest.mark.parametrize(
        "path", [pytest.param(None, marks=pytest.mark.skip(reason=f"set {variable} to {reason}"))]
    )
