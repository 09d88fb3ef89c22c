"""Text and JSON output of ``callchain inspect``, and its command line.

Output cannot be turned against the reader's terminal or break on odd input: every string is
escaped (control, bidi and other non-printable characters; non-UTF-8 paths), ``--json`` is pure
ASCII, and a closed pipe (``| head``) ends quietly with the verdict's exit code.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..printable import printable as _safe  # hostile member names cannot drive the terminal
from .sandbox import Limits, describe_archive


def _fmt(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def to_json(description: dict[str, Any]) -> str:
    """The description as ASCII JSON: every non-ASCII, control and bidi character escaped."""
    return json.dumps(description, indent=2, ensure_ascii=True).replace("\x7f", "\\u007f")


def _model_lines(name: str, m: dict[str, Any]) -> list[str]:
    lines = [f"  {_safe(name)}: {len(m['members'])} members"]
    if m["keras_members"] is not None:
        lines.append(f"    model.keras: {_safe(', '.join(m['keras_members']))}")
    if m["h5_attrs"] is not None:
        lines.append(f"    model.h5 attrs: {_safe(_fmt(m['h5_attrs']))}")
    if m["params_keys"] is not None:
        lines.append(f"    params.dill: {len(m['params_keys'])} keys; {_safe(_fmt(m['params_values']))}")
    if m["custom_objects_refs"] is not None:
        refs = ", ".join(f"{k} -> {v}" for k, v in m["custom_objects_refs"].items())
        lines.append(f"    custom_objects.dill: {_safe(refs)}")
    if m["checkpoints"]:
        lines.append(f"    checkpoints: {_safe(', '.join(m['checkpoints']))}")
    return lines


def render_text(description: dict[str, Any]) -> str:
    """A readable report of :func:`describe_archive`'s result."""
    d = description
    lines = [
        f"archive: {_safe(d['archive'] or d['path'])}",
        f"status:  {d['status']} (exit {d['exit_code']}): {_safe(d['summary'])}",
    ]
    if d["backend"]:
        lines.append(f"backend: {_safe(d['backend'])} ({_safe(d['backend_source'])})")
    if d["manifest"] is not None:
        lines.append(f"manifest: {_safe(_fmt(d['manifest']))}")
    if d["members"]:
        lines += [
            "",
            f"members ({len(d['members'])}; {d['total_size']} bytes, {d['total_compressed_size']} compressed)",
            f"  {'size':>12}  {'compressed':>12}  name",
        ]
        lines += [f"  {m['size']:>12}  {m['compressed_size']:>12}  {_safe(m['name'])}" for m in d["members"]]
    if d["models"]:
        lines += ["", "models"]
        for name, m in d["models"].items():
            lines += _model_lines(name, m)
    if d["pickles"]:
        lines += ["", "pickles (decoded without unpickling; names they would import)"]
        for name, p in d["pickles"].items():
            lines.append(
                f"  {_safe(name)} [{p.get('kind', 'data')}]: {_safe(', '.join(p['globals']) or 'plain data only')}"
            )
            if p["error"]:
                lines.append(f"    error: {_safe(p['error'])}")
    lines += ["", "contract" + (f" (spec: {d['spec_source']})" if d.get("spec_source") else "")]
    for c in d["clauses"]:
        lines.append(f"  {c['status'].upper():<4}  {_safe(c['id'])}: {_safe(c['detail'])}")
        lines += [f"        {_safe(_spec_line(s))}" for s in c.get("spec") or [] if c["status"] == "fail"]
    for title, rows in (
        ("warnings", d.get("warnings") or []),
        ("problems", [f"[{p['kind']}] {p['message']}" for p in d["problems"]]),
    ):
        if rows:
            lines += ["", title] + [f"  {_safe(r)}" for r in rows]
    return "\n".join(lines) + "\n"


def _spec_line(clause: dict[str, Any]) -> str:
    text = clause["text"] if len(clause["text"]) <= 110 else clause["text"][:107] + "..."
    return f"spec {clause['anchor'] or '(built-in contract)'}: {text}"


def annotate(description: dict[str, Any], link: Callable[[str], list[dict[str, Any]]], source: str) -> None:
    """Tie each check to the spec sentences it proves (``link``: check id → clauses, from the target's docs)."""
    description["spec_source"] = source
    for clause in description["clauses"]:
        clause["spec"] = link(clause["id"])
    failed = [c for c in description["clauses"] if c["status"] == "fail"]
    if description["exit_code"] == 1 and failed:
        named = [c["id"] + "".join(f" ({s['anchor']})" for s in c["spec"] if s["anchor"]) for c in failed]
        description["summary"] = f"{len(failed)} contract clause(s) failed: " + ", ".join(named)


def _write(stream: Any, text: str) -> bool:
    """Write and flush; False when the reader has gone (closed pipe), which is not an error."""
    try:
        try:
            stream.write(text)
        except UnicodeEncodeError:  # a terminal that cannot show every character
            encoding = stream.encoding or "ascii"
            stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        stream.flush()
        return True
    except BrokenPipeError:
        try:  # keep the interpreter's final flush from complaining about the same pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        except (OSError, ValueError):
            pass
        return False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callchain inspect",
        description="Describe a wts.h5.zip model archive without extracting or unpickling it, "
        "and check it against the persistence contract (in a bounded child process).",
    )
    parser.add_argument("path", metavar="PATH", help="wts.h5.zip, its base name wts.h5, or the folder holding it")
    parser.add_argument("--json", action="store_true", help="print the description as one JSON document")
    add_limit_flags(parser)
    return parser


def _bounded(kind: type, low: float, high: float, unit: str) -> Any:
    """An argparse type: a finite number of ``kind`` within [low, high], else one plain usage message."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of {unit}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: give {unit} from {low:,} to {high:,}")
        return value

    return parse


LIMITS = {  # flag: (type, lowest, highest, unit): what setrlimit and a wall-clock timer can take
    "--max-seconds": (float, 1, 86_400, "seconds"),
    "--max-memory": (int, 128, 1 << 20, "megabytes"),
    "--max-ops": (int, 1, 10**10, "opcodes"),
}


def add_limit_flags(parser: argparse.ArgumentParser) -> None:
    d = Limits()
    helps = {
        "--max-seconds": (d.seconds, None, "wall-clock and CPU seconds the inspection may take"),
        "--max-memory": (d.memory_mb, "MB", "memory (address space) the inspection may use"),
        "--max-ops": (d.max_ops, None, "pickle opcodes decoded, all members together"),
    }
    for flag, (kind, low, high, unit) in LIMITS.items():
        default, metavar, text = helps[flag]
        parser.add_argument(
            flag,
            type=_bounded(kind, low, high, unit),
            default=default,
            metavar=metavar,
            help=f"{text} (default {default:,}; {low:,} to {high:,})",
        )


def limits_from(args: argparse.Namespace) -> Limits:
    seconds = float(args.max_seconds)
    return Limits(
        seconds=seconds,
        cpu_seconds=max(int(seconds), 1),
        memory_mb=int(args.max_memory),
        max_ops=int(args.max_ops),
    )


def main(argv: Sequence[str] | None = None, spec: tuple[Callable[[str], Any], str] | None = None) -> int:
    """``callchain inspect PATH [--json]``: exit 0 meets the contract, 1 violates, 2 unreadable/hostile.

    ``spec``: (check id → spec clauses, their source), when the caller read the target's spec (``--root``).
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage; keep main() returning an int
        return exc.code if isinstance(exc.code, int) else 2
    try:
        description = describe_archive(args.path, limits_from(args))
    except Exception as exc:  # a bug, not bad input; still no traceback for the user
        _write(
            sys.stderr,
            f"error: internal error while inspecting {_safe(args.path)} "
            f"({type(exc).__name__}: {_safe(exc)}); please report it with the archive\n",
        )
        return 2
    if spec is not None:
        annotate(description, *spec)
    if args.json:
        _write(sys.stdout, to_json(description) + "\n")
    elif description["status"] != "unreadable":
        _write(sys.stdout, render_text(description))
    if description["exit_code"] == 2:
        _write(sys.stderr, f"error: {_safe(description['summary'])}\n")
    return int(description["exit_code"])
