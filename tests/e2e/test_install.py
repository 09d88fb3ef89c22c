"""Install it anywhere: a wheel that carries its templates and tap points, run from any folder,
and a traced child that works on Python 3.10 to 3.13 through `--python`."""

from __future__ import annotations

import email.parser
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, callchain, load_run, other_python, report_of
from helpers import tiny_target

from harness import __version__
from harness.resources import data_dir

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def _clean_env(**extra: str) -> dict:
    """The environment of a user's shell: no PYTHONPATH pointing into this clone, and no
    PTYCHO_ROOT (the plugin would trace that checkout, whose dependencies this venv lacks)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PTYCHO_ROOT")}
    env.update(extra)
    return env


def test_data_folders_are_the_repository_folders_in_a_clone():
    assert data_dir("templates") == REPO / "templates"
    assert data_dir("tap_points") == REPO / "tap_points"


def test_the_build_maps_the_single_copy_of_templates_and_tap_points_into_the_package():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"harness.templates": "templates", "harness.tap_points": "tap_points"}
    assert not (REPO / "harness" / "templates").exists() and not (REPO / "harness" / "tap_points").exists()


def test_version_option_prints_the_version(tmp_path):
    done = callchain("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"callchain {__version__}"


# -- the wheel ---------------------------------------------------------------------------


def _sources(tmp: Path) -> Path:
    """This clone's files (tracked, or new and not ignored), copied: the build writes nothing here."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0:
        pytest.skip("not a git clone: cannot tell the project's files from build leftovers")
    src = tmp / "src"
    for name in filter(None, listing.stdout.split("\0")):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    return src


def _venv_reusing_our_dependencies(tmp: Path) -> Path:
    """A fresh venv that sees this environment's TensorFlow, h5py, … but not its callchain.

    A `.pth` line adds our site-packages as a plain path: its own `.pth` files (the editable
    install's finder) are not run, so `harness` can only come from the wheel."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "zz_reuse_callchain_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def _wheel(tmp: Path) -> Path:
    """callchain's wheel, built offline from a copy of this clone's files."""
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools in this environment")
    src = _sources(tmp)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"), src],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    return next((tmp / "dist").glob("callchain-*.whl"))


@pytest.mark.slow
def test_wheel_installs_and_runs_from_a_folder_outside_the_clone(tmp_path):
    wheel = _wheel(tmp_path)
    python = _venv_reusing_our_dependencies(tmp_path)
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env()
    bin_dir = python.parent

    def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=elsewhere, env=env, capture_output=True, text=True, timeout=timeout)

    where = run(
        str(python),
        "-c",
        "import harness, harness.resources as r; print(harness.__file__); print(r.require_dir('templates'))",
    )
    package, templates = where.stdout.split()
    assert Path(package).is_relative_to(tmp_path / "venv") and Path(templates).is_relative_to(tmp_path / "venv"), (
        where.stdout
    )
    assert run(str(bin_dir / "callchain"), "--version").stdout.strip() == f"callchain {__version__}"

    traced = run(str(bin_dir / "callchain"), "trace", "--out", "out")
    assert traced.returncode == 0, traced.stderr
    report = Path(traced.stdout.strip().splitlines()[-1])
    assert report.is_relative_to(elsewhere)
    record = load_run(report)
    assert record["status"] == "ok" and record["calls"] and len(record["taps_declared"]) >= 5
    assert record["torch_delta"]["present"] and record["torch_delta"]["surfaces"]  # the shipped PyTorch rules were read
    assert (
        "ptycho.model_manager:ModelManager.save_multiple_models" in (report / "callgraph" / "dynamic.txt").read_text()
    )

    inspected = run(str(bin_dir / "callchain"), "inspect", record["archive"], "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["status"] == "ok"
    assert run(str(bin_dir / "callchain"), "render", str(report)).returncode == 0
    assert run(str(bin_dir / "callchain"), "diff", str(report), str(report)).returncode == 0

    (elsewhere / "test_user.py").write_text(
        "def test_run(callchain_run):\n    assert callchain_run.status == 'ok' and callchain_run.functions()\n"
    )
    plugin = run(
        str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py", "--callchain-out", "plugin-out"
    )
    assert plugin.returncode == 0, plugin.stdout + plugin.stderr


# -- into the user's environment, without disturbing it -----------------------------------


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    """This environment's pip acting on the venv of `python`, offline (`--no-index`)."""
    command = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", *args]
    return subprocess.run(command, capture_output=True, text=True, env=_clean_env(PIP_NO_INDEX="1"))


def _stub(site: Path, name: str, version: str, metadata: str | None = None) -> None:
    """An installed distribution as pip sees one: a `.dist-info` with its METADATA (and RECORD)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(metadata or f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("")
    (info / "INSTALLER").write_text("test-stub\n")


TENSORFLOW = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "tensorflow-macos", "tf-nightly")


def _closure(requirements: list[str]) -> dict[str, importlib.metadata.Distribution]:
    """The distributions of this environment that `requirements` need, transitively (markers
    evaluated for this interpreter, no extras), TensorFlow's never: what a user's environment
    holds besides its own TensorFlow."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, importlib.metadata.Distribution] = {}
    pending = list(requirements)
    while pending:
        requirement = Requirement(pending.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in found and name not in TENSORFLOW:
            found[name] = importlib.metadata.distribution(requirement.name)
            pending += found[name].requires or []
    return found


def _users_env_with_tensorflow(tmp: Path, wheel: Path) -> tuple[Path, Path]:
    """A fresh venv (no system site-packages) that already holds `tensorflow` 2.16.1 and what
    callchain needs: each as its metadata only, copied from this environment."""
    venv = tmp / "users-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    _stub(site, "tensorflow", "2.16.1")  # PtychoPINN's own: `tensorflow`, not tensorflow-cpu
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        ours = email.parser.Parser().parsestr(archive.read(metadata).decode())
    for name, dist in _closure(ours.get_all("Requires-Dist") or []).items():
        _stub(site, name, dist.version, dist.read_text("METADATA"))
    return python, site


def _distributions(python: Path) -> dict[str, str]:
    listing = "import importlib.metadata as m; print('\\n'.join(f\"{d.metadata['Name']}={d.version}\" for d in m.distributions()))"
    done = subprocess.run(
        [str(python), "-c", listing], capture_output=True, text=True, check=True, cwd=python.parent, env=_clean_env()
    )
    return {
        name.lower().replace("_", "-"): version
        for name, version in (line.split("=", 1) for line in done.stdout.split())
    }


@pytest.mark.slow
def test_installing_the_wheel_beside_tensorflow_adds_no_tensorflow_distribution(tmp_path):
    """`pip install callchain` into a PtychoPINN environment (which has `tensorflow`, often
    `tensorflow[and-cuda]`) must not add `tensorflow-cpu`: both own the same `tensorflow/`
    files, and removing either breaks TensorFlow.

    Why a metadata stub is a faithful stand-in here: what pip installs is decided by its
    resolver from requirement metadata alone -- the `Requires-Dist` lines of the wheel, and
    the name and version in each installed distribution's `.dist-info/METADATA`. It never
    imports a package to decide. So a venv whose site-packages holds `tensorflow-2.16.1.dist-info`
    is, to pip, exactly an environment with TensorFlow 2.16.1 installed; the ~600 MB of
    `tensorflow/` files would change nothing in the answer. callchain's own dependencies are
    stubbed the same way (their real metadata, copied from this environment), so pip works
    offline (`--no-index`): a requirement nothing installed satisfies fails the install
    instead of being fetched, which the control below shows with the `demo` extra."""
    wheel = _wheel(tmp_path)
    python, _ = _users_env_with_tensorflow(tmp_path, wheel)
    before = _distributions(python)
    report = tmp_path / "report.json"
    planned = _pip(python, "install", "--dry-run", "--report", str(report), str(wheel))
    assert planned.returncode == 0, planned.stderr
    assert [item["metadata"]["name"] for item in json.loads(report.read_text())["install"]] == ["callchain"]
    installed = _pip(python, "install", str(wheel))  # dependencies resolved, offline: none is missing
    assert installed.returncode == 0, installed.stderr
    after = _distributions(python)
    assert set(after) - set(before) == {"callchain"} and after["tensorflow"] == "2.16.1"
    assert [name for name in after if name in TENSORFLOW] == ["tensorflow"]
    assert _pip(python, "check").returncode == 0  # every requirement met by what was there
    # Control: the demo extra asks for tensorflow-cpu, which the environment lacks: pip would add it.
    demo = _pip(python, "install", "--dry-run", f"{wheel}[demo]")
    assert demo.returncode != 0 and "tensorflow-cpu" in demo.stderr.lower() + demo.stdout.lower()


# -- other interpreters ------------------------------------------------------------------


@pytest.mark.slow
# 3.10: the compiled ctrace where a compiler and the interpreter's headers exist (they do on
# this kind of machine), its pure-Python fallback settrace otherwise; 3.13: monitoring.
@pytest.mark.parametrize("version, backends", [("3.10", ("ctrace", "settrace")), ("3.13", ("monitoring",))])
def test_traced_child_runs_on_another_python_without_callchain_installed(tmp_path, version, backends):
    """The child needs only the harness package (put on its path alone) and the standard library."""
    python = other_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine")
    if (
        subprocess.run([python, "-c", "import harness"], capture_output=True, cwd=tmp_path, env=_clean_env()).returncode
        == 0
    ):
        pytest.skip(f"{python} already has a harness package; the test needs one without callchain")
    root = tiny_target(tmp_path / "target")  # no TensorFlow: the bare interpreter can run it
    done = callchain("trace", "--root", str(root), "--python", python, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = load_run(report_of(done))
    assert record["processes"][0]["start"]["python"].startswith(version + ".")
    assert record["recorder"]["backend"] in backends
    assert "ptycho.model_manager:ModelManager.save_multiple_models" in {call["function"] for call in record["calls"]}


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.10", "3.13"])
def test_demo_on_another_python_with_its_dependencies(tmp_path, version):
    """The demo needs TensorFlow in that interpreter: CALLCHAIN_PYTHON_<3_10> names one that has it."""
    python = os.environ.get(f"CALLCHAIN_PYTHON_{version.replace('.', '_')}")
    if not python:
        pytest.skip(
            f"set CALLCHAIN_PYTHON_{version.replace('.', '_')} to a Python {version} with numpy, h5py, "
            "tensorflow-cpu and dill installed (building one downloads ~300 MB)"
        )
    done = callchain("trace", "--python", python, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = load_run(report_of(done))
    assert record["status"] == "ok" and record["processes"][0]["start"]["python"].startswith(version + ".")
    assert record["archive_description"]["status"] == "ok"


@pytest.mark.slow
def test_the_demo_with_an_interpreter_without_tensorflow_is_one_plain_message(tmp_path):
    """Not a ModuleNotFoundError from inside the traced process: exit 2 before anything runs."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    done = callchain("trace", "--python", str(venv / "bin" / "python"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: the embedded demo target imports tensorflow")
    assert "lacks tensorflow, numpy, dill, h5py" in done.stderr and "ModuleNotFound" not in done.stderr
    assert f"{venv / 'bin' / 'python'} -m pip install tensorflow-cpu numpy dill h5py" in done.stderr
    assert "--python an environment that has TensorFlow" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
