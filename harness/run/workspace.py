"""Where one run writes: its report and scratch folders, and the traced process's environment.

A run never reuses a report folder and writes nothing outside `--out`; the traced process
runs in the scratch folder with TMPDIR, KERAS_HOME and MPLCONFIGDIR inside it, so the
target's import-time side effects and temporary archives land there and nowhere else.
"""

from __future__ import annotations

import os
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


def child_env(run: Run) -> dict[str, str]:
    """The traced process's environment: ours, with its side effects pointed into scratch."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [harness_path(run), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = env.get("PYTHONHASHSEED", "0")
    env["TMPDIR"] = str(run.scratch / "tmp")
    env["KERAS_HOME"] = str(run.scratch / "keras_home")
    env["MPLCONFIGDIR"] = str(run.scratch / "mplconfig")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("PYTHONHUNTER", None)
    return env


def recorded_env(env: dict[str, str]) -> dict[str, str]:
    """The part of the environment a report records: an allow-list, secrets never valued (privacy.py)."""
    return report_environment(env)
