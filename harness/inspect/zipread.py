"""The zip layer of ``callchain inspect``: open, list and read members, never extract.

Names are judged as ``zipfile.extractall`` (what PtychoPINN's loader calls) would write them:
``./manifest.dill``, ``autoencoder//params.dill`` and ``autoencoder/params.dill/`` all land on
the file ``autoencoder/params.dill``. Two members that land on one file let an attacker show
the report one copy and the loader another, so that is hostile, like absolute paths, ``..``,
backslashes (folder separators on Windows) and symbolic links. Members are read into memory,
streaming, never more than a cap.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import zipfile
import zlib
from typing import Any

from .. import contract

MiB = 1 << 20
GiB = 1 << 30
PICKLE_CAP = 64 * MiB  # pickles are small (params.dill is ~35 KB); more is not a params file
MEMBER_CAP = 256 * MiB  # model.keras holds the weights (~10 MB for the reference model)
BOMB_RATIO = 100  # deflate rarely beats 100:1 on real data; zero-filled bombs reach 1000:1
BOMB_MIN_SIZE = 1 * MiB  # small members may compress well (config.json) and cost nothing
TOTAL_CAP = 2 * GiB
STREAM_CAP = 512 * MiB  # an archive read from a pipe or device (/dev/stdin, a FIFO) is held in memory
MAX_MEMBERS = 10_000
MAX_PROBLEMS = 200  # listed; more are counted
HINT = f"pass the path of a {contract.ARCHIVE_NAME} written by ModelManager.save_multiple_models"
REFUSE = "refusing to read this archive; do not extract or load it"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    zlib.error,
)


class Problems:
    """Ordered ``{kind, clause, member, message}`` found while describing one archive; linear."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._seen: set[tuple[str, str | None, str]] = set()
        self.more = 0

    def add(self, kind: str, member: str | None, message: str, clause: str | None = None) -> None:
        key = (kind, member, message)
        if key in self._seen:
            return
        if len(self.items) >= MAX_PROBLEMS:
            self.more += 1
            return
        self._seen.add(key)
        self.items.append(
            {"kind": kind, "clause": clause or CLAUSE_OF_KIND.get(kind), "member": member, "message": message}
        )

    def kinds(self) -> set[str]:
        return {p["kind"] for p in self.items}


CLAUSE_OF_KIND = {
    "unsafe_path": "archive.member-names",
    "duplicate": "archive.member-names",
    "symlink": "archive.no-links",
    "bomb": "archive.bounded",
    "too_large": "archive.bounded",
    "exhausted": "archive.bounded",
    "executes_code": "archive.pickle-allowlist",
    "loader_cost": "archive.loader-cost",
    "loader_fallback": "archive.loader-fallback",
    "unverifiable": "archive.pickle-readable",
    "keras_code": "archive.keras-config",
    "keras_unknown": "archive.keras-config",
    "unsafe_model_name": "archive.manifest-models",
    "not_found": "archive.basename",
    "not_a_file": "archive.basename",
    "io_error": "archive.readable",
    "empty": "archive.readable",
    "not_zip": "archive.readable",
    "truncated": "archive.readable",
    "corrupt_member": "archive.readable",
    "encrypted": "archive.readable",
    "undecodable": "archive.readable",
}


class MemberError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def landing(name: str) -> str:
    """Where ``extractall`` writes a member, relative to its folder (both separator styles)."""
    parts = re.split(r"[/\\]", name)
    if parts and re.match(r"^[A-Za-z]:$", parts[0]):
        parts = parts[1:]
    return "/".join(p for p in parts if p not in ("", ".", ".."))


def _name_problems(info: zipfile.ZipInfo, label: str, problems: Problems) -> None:
    name = info.filename
    parts = re.split(r"[/\\]", name)
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        problems.add("unsafe_path", label, f"member {label!r} has an absolute path: {REFUSE}")
    if ".." in parts:
        problems.add("unsafe_path", label, f"member {label!r} escapes the archive root ('..' component): {REFUSE}")
    if "\\" in name:
        problems.add(
            "unsafe_path", label, f"member {label!r} contains a backslash, a folder separator on Windows: {REFUSE}"
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        problems.add(
            "symlink",
            label,
            f"member {label!r} is a symbolic link: extracting it could write outside the target: {REFUSE}",
        )
    if info.flag_bits & 0x1:
        problems.add("encrypted", label, f"member {label!r} is encrypted: {HINT}")
    if info.file_size > BOMB_MIN_SIZE and info.file_size > BOMB_RATIO * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        problems.add(
            "bomb",
            label,
            f"member {label!r} expands {ratio}x ({info.file_size} bytes from "
            f"{info.compress_size}): looks like a zip bomb; {REFUSE}",
        )


def check_infos(infos: list[zipfile.ZipInfo], where: str, problems: Problems) -> None:
    """Flag what a careless extractor would get wrong, from the central directory alone.

    ``where`` prefixes member names for nested zips (``autoencoder/model.keras::...``).
    """
    if len(infos) > MAX_MEMBERS:
        problems.add("bomb", None, f"{where or 'archive'} lists {len(infos)} members (> {MAX_MEMBERS}): {REFUSE}")
    files: dict[str, list[str]] = {}
    folded: dict[str, str] = {}
    folders: set[str] = set()
    total = 0
    for info in infos:
        total += info.file_size
        _name_problems(info, where + info.filename, problems)
        spot = landing(info.filename)
        parts = spot.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if info.is_dir():
            folders.add(spot)
        elif spot:
            files.setdefault(spot, []).append(info.filename)
            other = folded.setdefault(spot.casefold(), spot)
            if other != spot:
                problems.add(
                    "duplicate",
                    where + spot,
                    f"members {where + other!r} and {where + spot!r} differ only "
                    f"in case: they are one file on Windows and macOS; {REFUSE}",
                )
    for spot, names in files.items():
        if len(names) > 1 or spot in folders:
            shown = where + spot
            if len(set(names)) == 1 and spot not in folders:
                message = f"member name {where + names[0]!r} appears {len(names)} times"
            else:
                message = f"members {', '.join(repr(where + n) for n in names[:4])} all extract to {shown!r}" + (
                    " (also a folder)" if spot in folders else ""
                )
            problems.add("duplicate", shown, f"{message}: tools disagree on which copy wins; {REFUSE}")
    if total > TOTAL_CAP:
        problems.add("bomb", None, f"{where or 'archive'} members expand to {total} bytes (> 2 GiB): {REFUSE}")


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """Read one member into memory, never more than ``cap`` bytes (zipfile stops at the declared size)."""
    if info.file_size > cap:
        raise MemberError("too_large", f"member {info.filename!r} is {info.file_size} bytes (> {cap}): not read")
    try:
        with zf.open(info) as fh:
            data = fh.read(cap)
    except zipfile.BadZipFile as exc:
        kind = "bomb" if "overlap" in str(exc).lower() else "corrupt_member"
        raise MemberError(
            kind, f"member {info.filename!r} is corrupt ({exc}): the archive is damaged; {HINT}"
        ) from None
    except ZIP_ERRORS as exc:
        raise MemberError(
            "corrupt_member", f"member {info.filename!r} cannot be read ({type(exc).__name__}: {exc}); {HINT}"
        ) from None
    return data


def resolve(path: str, problems: Problems) -> str | None:
    """The archive file to open: ``path``, ``path/wts.h5.zip``, or ``path + '.zip'``."""
    name = contract.ARCHIVE_NAME
    if os.path.isdir(path):
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
        problems.add(
            "not_found", None, f"{path} is a directory without {name}: pass the archive or the output folder holding it"
        )
        return None
    if path == "-" and not os.path.exists(path):
        return "/dev/stdin"
    if os.path.exists(path):
        return path  # a regular file, or a pipe or device read as a stream (open_zip)
    if not path.endswith(".zip") and os.path.isfile(path + ".zip"):
        return path + ".zip"
    problems.add("not_found", None, f"{path} does not exist (nor {path}.zip): {HINT}")
    return None


def note_prefix(warnings: list[str], label: str, data: bytes, infos: list[zipfile.ZipInfo]) -> None:
    """A zip that does not start with its own header: zipfile (the loader, Keras) reads it from its end."""
    if data[:4] not in ZIP_MAGIC and infos:
        start = min(i.header_offset for i in infos)
        warnings.append(
            f"{label}: {start} bytes precede its zip data (a stub or another file): zipfile, and so the "
            "loader, reads the zip found from its end, which is what was judged"
        )


def _source(path: str, problems: Problems) -> tuple[Any, bytes] | None:
    """(what zipfile opens, its first bytes): a regular file by path; a pipe or device read into memory."""
    try:
        with open(path, "rb") as fh:
            if os.path.isfile(path):
                return path, fh.read(4)
            if fh.isatty():
                problems.add("not_a_file", None, f"{path} is a terminal: pipe the archive in (inspect - < wts.h5.zip)")
                return None
            data = fh.read(STREAM_CAP + 1)  # /dev/stdin, a FIFO: zipfile needs to seek
    except OSError as exc:
        problems.add("io_error", None, f"cannot read {path}: {exc.strerror or exc}")
        return None
    if len(data) > STREAM_CAP:
        problems.add(
            "too_large", None, f"{path} streams more than {STREAM_CAP} bytes (a wts.h5.zip is ~17 MB): {REFUSE}"
        )
        return None
    return io.BytesIO(data), data[:4]


def open_zip(path: str, problems: Problems) -> tuple[zipfile.ZipFile, bytes] | None:
    """The zip opened as ``zipfile`` (the loader's extractall) opens it, and its first bytes; or None, recorded why."""
    found = _source(path, problems)
    if found is None:
        return None
    source, magic = found
    if not magic:
        problems.add("empty", None, f"{path} is empty (0 bytes): the save did not finish; {HINT}")
        return None
    if magic not in ZIP_MAGIC and not zipfile.is_zipfile(source):
        problems.add("not_zip", None, f"{path} is not a zip file (no zip end record): {HINT}")
        return None
    try:
        return zipfile.ZipFile(source), magic
    except zipfile.BadZipFile as exc:
        problems.add("truncated", None, f"{path} is truncated or corrupt ({exc}): re-save the model; {HINT}")
    except ZIP_ERRORS as exc:
        problems.add(
            "truncated",
            None,
            f"{path} cannot be opened as a zip ({type(exc).__name__}: {exc}): re-save the model; {HINT}",
        )
    return None
