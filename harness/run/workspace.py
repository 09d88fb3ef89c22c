"""Where one run writes: its report and scratch folders, and the traced process's environment.

A run never reuses a report folder and writes nothing outside `--out`; the traced process
runs in the scratch folder with TMPDIR, KERAS_HOME and MPLCONFIGDIR inside it, so the
target's import-time side effects and temporary archives land there and nowhere else.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import HarnessError
from ..privacy import report_environment
from ..resources import package_dir


@dataclass
class Run:
    """Where one run writes: the report folder and the scratch folder, both under `out`."""

    report: Path
    scratch: Path

    @property
    def trace_dir(self) -> Path:
        return self.report / "trace"


def utc_stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H%M%SZ")


def allocate(out_dir: str, initiative: str, plan_phase: str) -> Run:
    """Create fresh report and scratch folders; never reuse an earlier run's."""
    out = Path(out_dir).expanduser().resolve()
    base = out / initiative
    try:
        base.mkdir(parents=True, exist_ok=True)
        probe = base / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise HarnessError(
            f"cannot write to the output folder {out} ({error.strerror})",
            "pass --out (or OUT=) a folder you can write to",
        ) from None
    stamp = utc_stamp()
    for attempt in range(1000):
        name = stamp if attempt == 0 else f"{stamp}-{attempt + 1}"
        report_root = base / "reports" / name
        try:
            report_root.mkdir(parents=True)
        except FileExistsError:
            continue
        report = report_root / plan_phase
        scratch = base / "scratch" / name
        for folder in (report / "trace", scratch / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        return Run(report, scratch)
    raise HarnessError(
        f"could not allocate a new report folder under {base / 'reports'}", "remove stale report folders"
    )


def harness_path(run: Run) -> str:
    """The traced process's sys.path entry for `harness` (see `harness_only_path`)."""
    return harness_only_path(run.scratch)


def harness_only_path(where: Path) -> str:
    """A sys.path entry for the traced process holding the `harness` package and nothing else.

    The package's own parent folder will not do: in a clone it also holds tests/ and
    benchmarks/, and in an installed callchain it is site-packages, whose numpy, h5py and
    TensorFlow — built for this interpreter — would shadow those of a `--python` interpreter
    of another version. The child needs only `harness` (standard library only)."""
    folder = Path(where) / "callchain-path"
    folder.mkdir(exist_ok=True)
    try:
        (folder / "harness").symlink_to(package_dir(), target_is_directory=True)
    except OSError:  # no symlinks here (some Windows setups): fall back to the parent folder
        return str(package_dir().parent)
    return str(folder)


TEMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")  # where Python's tempfile, gcc, git and most tools put temporaries
_SYSTEM_TEMP = ("/tmp", "/var/tmp", "/usr/tmp")


def _within(path: str, root: Path) -> bool:
    resolved = Path(path).expanduser().resolve()
    return resolved == root or root in resolved.parents


@contextmanager
def harness_tempdir(root: Path, out: Path) -> Iterator[list[str]]:
    """callchain's own temporary files (the scenario check, the C tracer build, git, anything
    its process or helpers make) never inside the target: while the run lasts, a TMPDIR (or
    TEMP, TMP) inside the root is replaced by a fresh folder of the system's temporary folder
    (else under `out`), removed afterwards. Yields the notes the report keeps (empty when
    nothing was replaced); the traced processes get `<scratch>/tmp` whatever the caller set."""
    inside = [name for name in TEMP_VARIABLES if os.environ.get(name) and _within(os.environ[name], root)]
    cached = tempfile.tempdir  # never tempfile.gettempdir() here: it writes a probe file where it looks
    if not inside and not (cached and _within(cached, root)):
        yield []
        return
    base = next((d for d in _SYSTEM_TEMP if os.access(d, os.W_OK | os.X_OK) and not _within(d, root)), None)
    if base is None:
        out.mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="callchain-", dir=base or out)
    saved = {name: os.environ.get(name) for name in TEMP_VARIABLES}
    shown = ", ".join(f"{name}={_shown(os.environ[name], root)}" for name in inside) or "the temporary folder"
    os.environ.update(dict.fromkeys(inside or ["TMPDIR"], folder))
    tempfile.tempdir = folder
    try:
        yield [
            f"{shown} {'are' if len(inside) > 1 else 'is'} inside the target: callchain's own temporary files "
            "went to a folder outside it "
            "for this run (the traced processes use <scratch>/tmp as always)"
        ]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        tempfile.tempdir = cached
        shutil.rmtree(folder, ignore_errors=True)


def _shown(path: str, root: Path) -> str:
    """A path inside the root as `<root>/…` (a report names no machine path it need not)."""
    resolved = Path(path).expanduser().resolve()
    return "<root>" + ("/" + resolved.relative_to(root).as_posix() if resolved != root else "")


def child_env(run: Run, torch: bool = False) -> dict[str, str]:
    """The traced process's environment: ours, with its side effects pointed into scratch. For a
    scenario that runs torch (`ALLOWS_TORCH`), torch's and MLflow's own folders too, and no GPU."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [harness_path(run), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = env.get("PYTHONHASHSEED", "0")
    env["TMPDIR"] = str(run.scratch / "tmp")
    env.update({name: env["TMPDIR"] for name in TEMP_VARIABLES[1:] if name in env})  # never one inside the target
    env["KERAS_HOME"] = str(run.scratch / "keras_home")
    env["MPLCONFIGDIR"] = str(run.scratch / "mplconfig")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("PYTHONHUNTER", None)
    if torch:
        env["TORCH_HOME"] = str(run.scratch / "torch_home")
        env["MLFLOW_TRACKING_URI"] = (run.scratch / "mlruns").as_uri()  # a file store in scratch, never ./mlruns
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def recorded_env(env: dict[str, str]) -> dict[str, str]:
    """The part of the environment a report records: an allow-list, secrets never valued (privacy.py)."""
    return report_environment(env)
