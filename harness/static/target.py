"""The traced codebase: checking the root, naming its revision, proving it was not touched.

Evidence-only means nothing under the root is created, removed, written, renamed or
re-moded by a run. The proof is a listing of every entry under the root, git-ignored ones,
`.git` and `__pycache__` included, taken before and after the run: its type, permission
bits, size, modification and change times, inode and, for symlinks, the target. The
change time (ctime) cannot be set back from user space, so an entry whose metadata is
identical was not written; content digests are only needed to say whether a touched file
still holds the same bytes, so they are taken up front within a byte budget and again only
for entries whose metadata moved.

Non-regular entries (FIFOs, sockets, devices) are listed by their metadata and never
opened: opening a FIFO blocks. Entries that cannot be read, and names that are not UTF-8,
are compared by what can be read and noted, never a crash.
"""

from __future__ import annotations

import ast
import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HarnessError

DEMO_ROOT = Path(__file__).resolve().parents[1] / "demo"
DIGEST_BUDGET = 256 * 1024 * 1024  # bytes hashed before the run; beyond it files are compared by metadata
_CHUNK = 1024 * 1024
_KINDS = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "folder",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char device",
    stat.S_IFBLK: "block device",
}
# git must never write into the target's .git (e.g. refresh a stale index during `git status`).
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0"}


@dataclass
class Target:
    root: Path
    package: str

    @property
    def is_demo(self) -> bool:
        return self.root == DEMO_ROOT


def check_root(root: str | None, package: str) -> Target:
    """Resolve and validate the target root; raise a HarnessError that says what to pass."""
    path = Path(root).expanduser().resolve() if root else DEMO_ROOT
    if not path.exists():
        raise HarnessError(
            f"target root {path} does not exist", "pass --root (or PTYCHO_ROOT) the folder of your PtychoPINN checkout"
        )
    if not path.is_dir():
        raise HarnessError(
            f"target root {path} is not a folder", "pass the checkout's top folder, the one that contains ptycho/"
        )
    top = package
    if not module_found(path, top):
        hint = f"the folder that contains {top}/__init__.py"
        nested = [p.parent.parent for p in path.glob(f"*/{top}/__init__.py")]
        if nested:
            hint += f" (found one at {nested[0]})"
        raise HarnessError(
            f"no '{top}' package under {path}", f"pass --root {hint}, or --package for another package name"
        )
    return Target(path, package)


def module_found(root: Path, dotted: str) -> bool:
    """Whether `dotted` names a module of the tree under `root`: a folder holding `.py` files
    (a regular or namespace package) or a `.py` file, at the path its dots spell."""
    parts = dotted.split(".")
    if not all(part.isidentifier() for part in parts):
        return False
    where = Path(root).joinpath(*parts)
    return (where.is_dir() and any(where.glob("*.py"))) or where.with_name(where.name + ".py").is_file()


def defines(root: Path, ref: str) -> bool:
    """Whether `module:name` is defined at the top level of that module's source under `root`
    (a `def`, `class` or assignment), read with `ast`: never imported."""
    module, _, name = ref.partition(":")
    where = Path(root).joinpath(*module.split("."))
    for source in (where.with_name(where.name + ".py"), where / "__init__.py"):
        try:
            tree = ast.parse(source.read_bytes(), str(source))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                return True
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return False


def check_scenario_needs(root: Path, name: str, described: dict[str, Any]) -> None:
    """A scenario that declares its namespaces (`NAMESPACE`) or entry points (`REQUIRES`) needs each
    of them under the root: a revision without one (e.g. no `ptycho_torch.model_manager.save_torch_bundle`
    for torch-persistence) is said in one line, exit 2, before anything runs."""
    missing = [f"'{n}' package" for n in described.get("namespace") or [] if not module_found(root, n)]
    if not missing:
        missing = [f"`{r.replace(':', '.')}`" for r in described.get("requires") or [] if not defines(root, r)]
    if missing:
        raise HarnessError(
            f"the target {root} has no {' and no '.join(missing)}: the scenario {name} needs it, "
            "so this revision cannot run it",
            "trace a revision that has it (e.g. PtychoPINN main or torchapi-devel for the PyTorch side), or another scenario",
        )


# What the embedded demo target imports beyond the standard library, and the distribution that
# provides each: pyproject.toml's `demo` extra (tensorflow-cpu, dill, numpy) and h5py, a core
# dependency of callchain but not of another interpreter given with --python.
DEMO_NEEDS = {"tensorflow": "tensorflow-cpu", "numpy": "numpy", "dill": "dill", "h5py": "h5py"}


def demo_unrunnable(python: str, missing: list[str], own: bool) -> HarnessError:
    """The one message for an interpreter that lacks what the embedded demo imports (`missing`):
    the `demo` extra when TensorFlow is missing from callchain's own environment, never a
    second TensorFlow distribution beside one it already has."""
    lacking = ", ".join(missing)
    problem = (
        f"the embedded demo target imports {', '.join(DEMO_NEEDS)}, and the interpreter that runs it "
        f"({python}) lacks {lacking}"
    )
    other = "or pass --python an environment that has TensorFlow (e.g. your PtychoPINN one), or --root your checkout"
    names = " ".join(dict.fromkeys(DEMO_NEEDS.get(module, module) for module in missing))
    if own and "tensorflow" in missing:
        fix = f"install callchain's demo extra: pip install 'callchain[demo]' (in a clone: make install); {other}"
    elif own:
        fix = f"install what it lacks: pip install {names}; {other}"
    else:
        fix = f"install what it lacks into that interpreter: {python} -m pip install {names}; {other}"
    return HarnessError(problem, fix, exit_code=2)


def _git(root: Path, *args: str) -> str | None:
    """Run a read-only git command; `--no-optional-locks` keeps git from rewriting `.git/index`."""
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(root), *args],
            capture_output=True,
            timeout=60,
            env=dict(os.environ, **_GIT_ENV),
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


def is_git_root(root: Path) -> bool:
    top = _git(root, "rev-parse", "--show-toplevel")
    return top is not None and Path(top.strip()).resolve() == root


def revision(root: Path) -> dict[str, Any]:
    """Commit and dirty state when the root is a git work tree; nulls otherwise."""
    if not is_git_root(root):
        return {"git": False, "commit": None, "branch": None, "dirty": None}
    commit = (_git(root, "rev-parse", "HEAD") or "").strip() or None
    branch = (_git(root, "rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {
        "git": True,
        "commit": commit,
        "branch": branch,
        "dirty": bool(status.strip()) if status is not None else None,
    }


def display_name(raw: bytes) -> str:
    """A path as text that survives JSON: bytes that are not UTF-8 are shown as `\\xNN`."""
    return raw.decode("utf-8", "backslashreplace")


def _walk(root: bytes, notes: list[str]) -> Iterator[tuple[bytes, os.stat_result]]:
    """Every entry under `root` (the root itself as '.'), never following symlinks."""
    try:
        yield b".", os.lstat(root)
    except OSError as error:
        notes.append(f"cannot read the target root ({error.strerror})")
        return
    stack = [b""]
    while stack:
        rel = stack.pop()
        folder = os.path.join(root, rel) if rel else root
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as error:
            notes.append(
                f"unreadable folder {_short(display_name(rel))} ({error.strerror}): compared by its own metadata only"
            )
            continue
        for entry in entries:
            name = os.path.join(rel, entry.name) if rel else entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as error:
                notes.append(f"unreadable entry {_short(display_name(name))} ({error.strerror}): not compared")
                continue
            yield name, info
            if stat.S_ISDIR(info.st_mode):
                stack.append(name)


def _short(name: str, limit: int = 160) -> str:
    return name if len(name) <= limit else f"{name[:80]}…{name[-60:]}"


def _capped(notes: list[str], limit: int = 50) -> list[str]:
    return notes if len(notes) <= limit else notes[:limit] + [f"… and {len(notes) - limit} more notes like these"]


def _digest(path: bytes) -> tuple[str | None, str | None]:
    """SHA-256 of a regular file, or (None, reason). Never blocks: O_NONBLOCK and a re-check."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        return None, error.strerror or "cannot open"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, "no longer a regular file"
        digest = hashlib.sha256()
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return digest.hexdigest(), None
            digest.update(chunk)
    except OSError as error:
        return None, error.strerror or "cannot read"
    finally:
        os.close(fd)


def _entry(root: bytes, name: bytes, info: os.stat_result) -> dict[str, Any]:
    kind = _KINDS.get(stat.S_IFMT(info.st_mode), "other")
    entry: dict[str, Any] = {
        "kind": kind,
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "mtime_ns": info.st_mtime_ns,
        "ctime_ns": info.st_ctime_ns,
        "inode": info.st_ino,
    }
    if kind in ("file", "symlink"):
        entry["size"] = info.st_size
    if kind == "symlink":
        try:
            entry["link"] = display_name(os.readlink(os.path.join(root, name)))
        except OSError as error:
            entry["link"] = None
            entry["unreadable"] = error.strerror
    return entry


def fingerprint(root: Path, digest_budget: int = DIGEST_BUDGET) -> dict[str, Any]:
    """Every entry under the root with its metadata, digests of files within the budget.

    Returns {"files": regular files, "entries": count, "sha256": one digest over all
    metadata, "digests": name -> one-line signature, "listing": name -> entry, "notes": [...]}.
    """
    raw_root = os.fsencode(str(root))
    notes: list[str] = []
    listing: dict[str, dict[str, Any]] = {}
    budget = digest_budget
    for name, info in _walk(raw_root, notes):
        shown = display_name(name)
        if shown != os.fsdecode(name):
            notes.append(f"name is not UTF-8: {_short(shown)} (compared as shown)")
        entry = _entry(raw_root, name, info)
        if entry["kind"] == "file":
            if info.st_size <= budget:
                entry["sha256"], problem = _digest(os.path.join(raw_root, name))
                budget -= info.st_size if problem is None else 0
                if problem:
                    notes.append(f"unreadable file {_short(shown)} ({problem}): compared by metadata only")
            else:
                entry["sha256"] = None
        entry["raw"] = name  # the name as bytes, to hash it again; never serialised
        listing[shown] = entry
    skipped = sum(1 for e in listing.values() if e["kind"] == "file" and e.get("sha256") is None)
    if skipped:
        notes.append(
            f"{skipped} file(s) not hashed before the run (over the {digest_budget >> 20} MiB budget or unreadable): "
            "compared by size, times and inode"
        )
    signatures = {name: _signature(entry) for name, entry in listing.items()}
    overall = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(signatures.items())).encode()).hexdigest()
    return {
        "files": sum(1 for e in listing.values() if e["kind"] == "file"),
        "entries": len(listing),
        "sha256": overall,
        "digests": signatures,
        "listing": listing,
        "notes": _capped(notes),
        "root": str(root),
    }


def _signature(entry: dict[str, Any]) -> str:
    """One comparable line per entry: everything but the digest, which is taken only sometimes."""
    return " ".join(
        f"{k}={entry[k]}" for k in ("kind", "mode", "size", "mtime_ns", "ctime_ns", "inode", "link") if k in entry
    )


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Human lines for each entry added, removed, replaced, changed, re-moded or touched.

    A folder's times move whenever an entry inside it is added, removed or replaced; that
    entry is the news, so the folder itself is reported only when nothing else explains it
    (a file created and deleted again during the run)."""
    old, new = before["listing"], after["listing"]
    root = os.fsencode(str(after.get("root") or before.get("root") or ""))
    added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    lines = [f"added: {_label(n, new[n])}" for n in added] + [f"removed: {_label(n, old[n])}" for n in removed]
    explained = {os.path.dirname(n) or "." for n in added + removed}
    explained |= {os.path.dirname(n) or "." for n in set(old) & set(new) if old[n]["inode"] != new[n]["inode"]}
    for name in sorted(set(old) & set(new)):
        if new[name]["kind"] == "folder" and name in explained and old[name]["mode"] == new[name]["mode"]:
            continue
        line = _difference(name, old[name], new[name], root)
        if line:
            lines.append(line)
    return lines


def _label(name: str, entry: dict[str, Any]) -> str:
    if entry["kind"] == "file":
        return name
    if entry["kind"] == "symlink":
        return f"{name} (symlink -> {entry.get('link')})"
    if entry["kind"] == "folder":
        return f"{name}/ (folder)"
    return f"{name} ({entry['kind']})"


def _difference(name: str, old: dict[str, Any], new: dict[str, Any], root: bytes) -> str | None:
    """The one line that says how an entry present before and after differs, or None."""
    if old["kind"] != new["kind"]:
        return f"changed: {name} ({old['kind']} -> {new['kind']})"
    if old.get("link") != new.get("link"):
        return f"changed: {_label(name, old)} now -> {new.get('link')}"
    if old["inode"] != new["inode"]:
        return f"replaced: {name} (a new {new['kind']} under the same name)"
    if old["mode"] != new["mode"]:
        return f"mode changed: {_label(name, new)} ({old['mode']} -> {new['mode']})"
    if old.get("size") != new.get("size"):
        return f"changed: {name} (size {old.get('size')} -> {new.get('size')})"
    moved = ", ".join(k[:-3] for k in ("mtime_ns", "ctime_ns") if old[k] != new[k])
    if not moved:
        return None
    same = ""
    if new["kind"] == "file" and old.get("sha256"):
        digest, _ = _digest(os.path.join(root, new["raw"]))
        if digest is not None and digest != old["sha256"]:
            return f"changed: {name} (content)"
        same = "same content; " if digest == old["sha256"] else ""
    if moved == "ctime":  # only the time user space cannot set back moved
        why = "written with its mtime set back, or its metadata changed"
        return f"touched: {_label(name, new)} ({same}ctime moved: {why})"
    what = "entries created or removed inside" if new["kind"] == "folder" else "written"
    return f"touched: {_label(name, new)} ({what}; {same}{moved} moved)"
