"""The traced codebase: checking the root, naming its revision, proving it was not touched.

Evidence-only means the target's files are byte-identical before and after a run and
nothing new appears in its tree. The proof is a digest of every file (git's tracked and
untracked-but-not-ignored files when the root is a git work tree, else every file under
the root), taken before and after.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from .errors import HarnessError

DEMO_ROOT = Path(__file__).resolve().parent / "demo"
_SKIP_DIRS = {".git", "__pycache__"}


@dataclass
class Target:
    root: Path
    package: str

    @property
    def is_demo(self) -> bool:
        return self.root == DEMO_ROOT


def check_root(root: Optional[str], package: str) -> Target:
    """Resolve and validate the target root; raise a HarnessError that says what to pass."""
    path = Path(root).expanduser().resolve() if root else DEMO_ROOT
    if not path.exists():
        raise HarnessError(f"target root {path} does not exist", "pass --root (or PTYCHO_ROOT) the folder of your PtychoPINN checkout")
    if not path.is_dir():
        raise HarnessError(f"target root {path} is not a folder", "pass the checkout's top folder, the one that contains ptycho/")
    top = package
    package_dir = path / top
    is_package = package_dir.is_dir() and any(package_dir.glob("*.py"))  # regular or namespace package
    if not is_package and not (path / f"{top}.py").is_file():
        hint = f"the folder that contains {top}/__init__.py"
        nested = [p.parent.parent for p in path.glob(f"*/{top}/__init__.py")]
        if nested:
            hint += f" (found one at {nested[0]})"
        raise HarnessError(f"no '{top}' package under {path}", f"pass --root {hint}, or --package for another package name")
    return Target(path, package)


def _git(root: Path, *args: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def is_git_root(root: Path) -> bool:
    top = _git(root, "rev-parse", "--show-toplevel")
    return top is not None and Path(top.strip()).resolve() == root


def revision(root: Path) -> Dict[str, object]:
    """Commit and dirty state when the root is a git work tree; nulls otherwise."""
    if not is_git_root(root):
        return {"git": False, "commit": None, "branch": None, "dirty": None}
    commit = (_git(root, "rev-parse", "HEAD") or "").strip() or None
    branch = (_git(root, "rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"git": True, "commit": commit, "branch": branch, "dirty": bool(status.strip()) if status is not None else None}


def _files(root: Path) -> List[str]:
    if is_git_root(root):
        listing = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        if listing is not None:
            return sorted(name for name in listing.split("\0") if name)
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        found.extend(os.path.relpath(os.path.join(folder, n), root).replace(os.sep, "/") for n in names)
    return sorted(found)


def fingerprint(root: Path) -> Dict[str, object]:
    """Per-file SHA-256 digests and one digest over all of them."""
    digests: Dict[str, str] = {}
    for name in _files(root):
        path = root / name
        if path.is_symlink():
            digests[name] = "symlink:" + os.readlink(path)
        elif path.is_file():
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    overall = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in digests.items()).encode()).hexdigest()
    return {"files": len(digests), "sha256": overall, "digests": digests}


def compare(before: Dict[str, object], after: Dict[str, object]) -> List[str]:
    """Human lines for each file added, removed or changed between two fingerprints."""
    old, new = before["digests"], after["digests"]
    lines = [f"added: {n}" for n in sorted(set(new) - set(old))]
    lines += [f"removed: {n}" for n in sorted(set(old) - set(new))]
    lines += [f"changed: {n}" for n in sorted(set(old) & set(new)) if old[n] != new[n]]
    return lines
