"""Static map of the PyTorch side's persistence surfaces (`ptycho_torch`), by `path:line`.

The PyTorch package imports torch, Lightning and MLflow at import time, and the traced
machine does not need (and may not have) them, so this module never imports the target:
every file is parsed with `ast` and matched against the declarative rules in
`tap_points/torch_persistence.toml` (schema documented at the top of that file). Line
numbers differ between branches, so anchors are always computed here, never remembered.

Result of `scan()` (plain data, deterministic, sorted by path, line, kind):

    {"package": "ptycho_torch", "present": True, "files_scanned": 74,
     "surfaces": [{"kind": "lightning-checkpoint",
                   "anchor": "ptycho_torch/train.py:257", "path": "ptycho_torch/train.py",
                   "line": 257, "function": "train_model",  # qualname or "<module>"
                   "callee": "ModelCheckpoint",   # calls: the callee as written ...
                   "resolved": "lightning.pytorch.callbacks.ModelCheckpoint",  # ... via imports
                   # literals carry "literal" (source text), definitions carry "defines"
                   "detail": "dirpath=str(checkpoint_dir), filename='best-checkpoint', ...",
                   "describe": "Lightning ModelCheckpoint callback: ..."}],
     "parse_errors": [{"path": "ptycho_torch/bad.py", "line": 3, "message": "..."}]}

`function` follows Python's `__qualname__` (`Class.method`, `outer.<locals>.inner`), the
same spelling a runtime trace reports, so static and dynamic evidence can be joined.

The rules are read by `torchpatterns` and applied to each file's syntax tree by `torchmatch`;
this module walks the package, reads each file and orders what the rules found.
`python -m harness.static.torchscan ROOT [--json]` prints the scan alone: a documented aid for
writing new rules (`callchain trace` runs the same scan for its reports); it is the package's
only entry point besides `callchain`.

Standard library only, Python 3.10+.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import sys
import tokenize
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .bounded import Budget, files_under
from .torchmatch import SurfaceVisitor
from .torchpatterns import DEFAULT_PATTERNS, Pattern, load_patterns

DEFAULT_PACKAGE = "ptycho_torch"


def scan(
    root: Path | str,
    package: str = DEFAULT_PACKAGE,
    patterns: Sequence[Pattern] | None = None,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """List every persistence surface under `<root>/<package>` without importing it.

    A missing package is a normal answer (`present: False`): not every branch has a
    PyTorch side. A file that does not parse is recorded and skipped, because one broken
    file must not hide the surfaces of the others. Reading is bounded (`harness.static.bounded`):
    time linear in the size of the package, non-regular, oversized files and whatever is
    left when the time budget is used up are listed under `skipped`.
    """
    root = Path(root)
    budget = budget or Budget()
    rules = list(load_patterns(DEFAULT_PATTERNS) if patterns is None else patterns)
    package_dir = root / package
    result: dict[str, Any] = {
        "package": package,
        "present": package_dir.is_dir(),
        "files_scanned": 0,
        "surfaces": [],
        "parse_errors": [],
    }
    if not result["present"]:
        return result
    result["skipped"] = []
    first_skip = len(budget.skipped)
    found: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for file in _python_files(package_dir, budget, root):
        rel = file.relative_to(root).as_posix()
        data = budget.read_bytes(file, rel, "PyTorch scan")
        if data is None:
            continue
        result["files_scanned"] += 1
        found.extend(_scan_file(data, rel, rules, result["parse_errors"]))
    found.sort(key=lambda item: item[0])
    result["surfaces"] = [surface for _, surface in found]
    result["skipped"] = [dict(item) for item in budget.skipped[first_skip:] if item["pass"] == "PyTorch scan"]
    return result


def _scan_file(
    data: bytes, rel: str, rules: Sequence[Pattern], parse_errors: list[dict[str, Any]]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The (sort key, surface) pairs of one file; a file that does not parse adds to
    `parse_errors` and gives none, so it cannot hide the surfaces of the others."""
    try:
        source = _decode_source(data)
        tree = _parse(source, rel)
        visitor = SurfaceVisitor(source, rel, _module_name(rel), tree, rules)
        visitor.visit(tree)
    except SyntaxError as exc:
        parse_errors.append(_parse_error(rel, exc.lineno, exc.msg))
        return []
    except (UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        parse_errors.append(_parse_error(rel, None, f"{type(exc).__name__}: {exc}"[:200]))
        return []
    return visitor.found


def group_by_kind(scan_result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Surfaces per kind (kinds sorted, scan order kept inside each) for rendering."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for surface in scan_result.get("surfaces", []):
        groups.setdefault(surface["kind"], []).append(surface)
    return {kind: groups[kind] for kind in sorted(groups)}


def _python_files(package_dir: Path, budget: Budget, root: Path) -> list[Path]:
    """All `.py` files below the package, in a stable (path) order, folder symlinks not followed."""
    return files_under(package_dir, ".py", budget, root, "PyTorch scan")


def _decode_source(data: bytes) -> str:
    """Decode like Python does (PEP 263 coding cookie, BOM), so columns stay right."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def _parse(source: str, rel: str) -> ast.Module:
    """Parse quietly: the target's invalid escape sequences are not our warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, filename=rel)


def _parse_error(rel: str, line: int | None, message: str) -> dict[str, Any]:
    where = f"{rel}:{line}" if line else rel
    return {"path": rel, "line": line, "message": f"{where}: {message}"}


def _module_name(rel: str) -> str:
    """`ptycho_torch/api/x.py` -> `ptycho_torch.api.x` (packages keep `__init__`)."""
    return rel[:-3].replace("/", ".") if rel.endswith(".py") else rel.replace("/", ".")


# --------------------------------------------------------------------------- CLI


def format_text(scan_result: dict[str, Any]) -> str:
    """Plain listing, one surface per line, grouped by kind: for eyeballing a branch."""
    lines = [
        f"{scan_result['package']}: present={scan_result['present']} "
        f"files={scan_result['files_scanned']} "
        f"surfaces={len(scan_result['surfaces'])} "
        f"parse_errors={len(scan_result['parse_errors'])}"
    ]
    for kind, surfaces in group_by_kind(scan_result).items():
        lines.append(f"[{kind}] {len(surfaces)}")
        for s in surfaces:
            what = s.get("callee") or s.get("literal") or s.get("defines")
            lines.append(f"  {s['anchor']}  {s['function']}  {what}  {s['detail']}".rstrip())
    lines += [f"! {e['message']}" for e in scan_result["parse_errors"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m harness.static.torchscan ROOT [--package P] [--patterns F] [--json]`."""
    parser = argparse.ArgumentParser(prog="harness.static.torchscan", description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="target checkout root (holds ptycho_torch/)")
    parser.add_argument("--package", default=DEFAULT_PACKAGE)
    parser.add_argument("--patterns", type=Path, default=DEFAULT_PATTERNS)
    parser.add_argument("--json", action="store_true", help="print the scan as JSON")
    args = parser.parse_args(argv)
    try:
        result = scan(args.root, args.package, load_patterns(args.patterns))
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
