"""Where callchain's own data lives: the Jinja templates and the shipped tap-point files.

The repository keeps one copy of each, in the top-level `templates/` and `tap_points/`
folders. A wheel (`pip install .`) carries them inside the package as `harness/templates`
and `harness/tap_points` (pyproject maps them at build time), so they are found with
`importlib.resources`; a clone used in place (editable install, or `PYTHONPATH`) has them
next to the package instead. Both layouts resolve here, and nowhere else.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .errors import HarnessError

DATA_FOLDERS = ("templates", "tap_points")


def _candidates(name: str) -> tuple:
    if name not in DATA_FOLDERS:
        raise ValueError(f"unknown data folder {name!r}")
    packaged = files(__package__).joinpath(name)
    clone = Path(__file__).resolve().parent.parent / name
    return (Path(str(packaged)), clone)


def data_dir(name: str) -> Path:
    """The folder holding callchain's `templates` or `tap_points`, installed or in a clone.

    Never raises: when neither exists the packaged location is returned, and reading from
    it fails with its path; `require_dir` says so plainly instead."""
    packaged, clone = _candidates(name)
    if packaged.is_dir() or not clone.is_dir():
        return packaged
    return clone


def require_dir(name: str) -> Path:
    """`data_dir`, or one plain error when this installation lacks the folder."""
    folder = data_dir(name)
    if not folder.is_dir():
        looked = " and ".join(map(str, _candidates(name)))
        raise HarnessError(
            f"callchain is installed without its {name}/ folder (looked in {looked})",
            "reinstall it from a clone or a wheel: pip install --force-reinstall callchain",
        )
    return folder


def package_dir() -> Path:
    """The folder of the `harness` package itself (what a traced child must import)."""
    return Path(__file__).resolve().parent
