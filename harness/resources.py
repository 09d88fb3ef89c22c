"""Where callchain's own data lives: the Jinja templates and the shipped tap-point files.

The repository keeps one copy of each, in the top-level `templates/` and `tap_points/`
folders. A wheel (`pip install .`) carries them inside the package as `harness/templates`
and `harness/tap_points` (pyproject maps them at build time), so they are found with
`importlib.resources`; a clone used in place (editable install, or `PYTHONPATH`) has them
next to the package instead. Both layouts resolve here, and nowhere else.

The data is TOML (tap points, PyTorch surface patterns) and users bring their own tap files,
so the one strict reader of TOML input lives here too: a file that cannot be read, or TOML
that does not parse, raises `TomlFileError` naming the file, the line (the parser's own "at
line L, column C") and the fix; schema checks stay with each file's owner. Standard library
only: `tomllib` (3.11+) or `tomli`, its 3.10 install (a dependency there).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

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


# -- the one strict reader of TOML input --------------------------------------------------


class TomlFileError(ValueError):
    """A TOML input file that cannot be used; the message names the file, the line and the fix."""


def _parser() -> Any:
    try:
        import tomllib

        return tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, installed as `tomli`
        try:
            import tomli

            return tomli
        except ModuleNotFoundError:
            raise TomlFileError("reading TOML on Python 3.10 needs the 'tomli' package; pip install tomli") from None


def read_toml(path: str | Path, what: str, read_fix: str, syntax_fix: str) -> tuple[str, dict[str, Any]]:
    """`(text, data)` of a TOML file; the text is returned so callers can point at lines."""
    parser = _parser()
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as error:
        raise TomlFileError(f"{path}: cannot read {what} ({error.strerror}); {read_fix}") from error
    except UnicodeDecodeError as error:
        raise TomlFileError(f"{path}: {what} is not UTF-8 text ({error.reason}); {read_fix}") from error
    try:
        return text, parser.loads(text)
    except parser.TOMLDecodeError as error:  # its message carries "(at line L, column C)"
        raise TomlFileError(f"{path}: invalid TOML: {error}; {syntax_fix}") from error
