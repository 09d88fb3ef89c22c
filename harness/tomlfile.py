"""Strict reading of the project's TOML input files (tap points, PyTorch surface patterns).

One reader so that both kinds of file fail the same way: a file that cannot be read, or
TOML that does not parse, raises `TomlFileError` naming the file, the line (the parser's
own "at line L, column C") and the fix. Schema checks stay with each file's owner.
Standard library only: `tomllib` (3.11+) or `tomli`, its 3.10 install (a dependency there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
