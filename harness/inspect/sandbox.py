"""Run one archive inspection in a child process with CPU, wall and memory limits.

The reader is careful, but it parses hostile bytes with h5py (C code) and zlib: a 2-byte
mutation of an HDF5 image can crash or hang the process that reads it. So the whole inspection
runs in a fresh interpreter (``python -I``: no user site, no PYTHON* variables) under
``setrlimit`` (address space, CPU seconds, no file writes, no core dumps), killed at a wall-clock
deadline. The child prints the description as one ASCII JSON document; anything else it does
(a signal, a non-zero exit, no output, a timeout) becomes a hostile verdict with a plain message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .safepickle import DEFAULT_MAX_OPS

ROOT = str(Path(__file__).resolve().parents[2])
OOM_EXIT = 3  # the child ran out of memory and said so
MAX_OUTPUT = 64 << 20
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from harness.inspect.sandbox import child_main; sys.exit(child_main(sys.argv[2:]))"
)


@dataclass(frozen=True)
class Limits:
    """What one inspection may use; defaults fit a real 17 MB archive (~1 s, ~300 MB) with room."""

    seconds: float = 30.0  # wall clock
    cpu_seconds: int = 30
    memory_mb: int = 2048  # address space: numpy and h5py alone reserve a few hundred MB
    max_ops: int = DEFAULT_MAX_OPS  # pickle opcodes, all members together


def _limit_self(memory_mb: int, cpu_seconds: int) -> None:
    """In the child, before the archive is opened: no preexec_fn, which is unsafe with threads."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX: the wall limit still holds
        return
    mem = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _failed(path: str, kind: str, message: str) -> dict[str, Any]:
    """The description of an inspection that did not finish: hostile, contents unknown."""
    summary = f"{message}: treat it as hostile; do not extract or load it"
    return {
        "path": path,
        "archive": None,
        "status": "hostile",
        "exit_code": 2,
        "summary": summary,
        "backend": None,
        "backend_source": None,
        "members": [],
        "total_size": 0,
        "total_compressed_size": 0,
        "manifest": None,
        "models": {},
        "pickles": {},
        "payload": None,
        "payloads": {},
        "params": {},
        "clauses": [],
        "problems": [{"kind": kind, "clause": "archive.bounded", "member": None, "message": summary}],
        "warnings": [],
    }


def _why(returncode: int, limits: Limits) -> tuple[str, str]:
    if returncode == OOM_EXIT:
        return (
            "exhausted",
            f"the archive exhausted the reader's memory ({limits.memory_mb} MB; raise it with --max-memory)",
        )
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return (
            "exhausted",
            f"the archive exhausted the reader's CPU time ({limits.cpu_seconds} s; raise it with --max-seconds)",
        )
    if returncode < 0:
        return "crashed", f"the archive crashed the reader ({signal.Signals(-returncode).name})"
    return "crashed", f"the reader stopped with exit code {returncode}"


def describe_archive(path: str | os.PathLike[str], limits: Limits | None = None) -> dict[str, Any]:
    """Describe the archive at ``path`` in a bounded child process; never raises for bad input.

    ``path`` may be the zip, the ``wts.h5`` base name callers pass, or the output folder;
    the defaults of ``limits`` fit a real 17 MB archive.
    """
    return run_sandboxed(path, limits or Limits())


def run_sandboxed(path: str | os.PathLike[str], limits: Limits) -> dict[str, Any]:
    """Describe ``path`` in a bounded child; a failed child is a hostile verdict, never an exception."""
    shown = os.fspath(path)
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "SYSTEMROOT", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HDF5_USE_FILE_LOCKING="FALSE")
    argv: list[str | bytes] = [
        sys.executable,
        "-I",
        "-c",
        _CHILD,
        ROOT,
        str(limits.memory_mb),
        str(limits.cpu_seconds),
        str(limits.max_ops),
        os.fsencode(shown),
    ]
    try:
        # stdin is inherited: an archive piped in is read through /dev/stdin (or '-') by the child
        proc = subprocess.run(argv, env=env, capture_output=True, timeout=limits.seconds)
    except subprocess.TimeoutExpired:
        return _failed(
            shown,
            "exhausted",
            f"the archive kept the reader busy past its wall limit ({limits.seconds:g} s; raise it with --max-seconds)",
        )
    if proc.returncode != 0 or len(proc.stdout) > MAX_OUTPUT:
        kind, message = _why(proc.returncode, limits)
        last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] if proc.returncode > 0 else []
        return _failed(shown, kind, message + (f" ({last[0][:200]!r})" if last and proc.returncode != OOM_EXIT else ""))
    try:
        description = json.loads(proc.stdout)
    except ValueError:
        return _failed(shown, "crashed", "the reader produced no readable result")
    description["path"] = shown
    return description


def child_main(argv: list[str]) -> int:
    """Entry point of the child: limit itself, describe one archive, print its JSON on stdout."""
    memory_mb, cpu_seconds, max_ops, path = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    _limit_self(memory_mb, cpu_seconds)
    try:
        from .reader import describe_in_process

        description = describe_in_process(path, max_ops=max_ops)
        text = json.dumps(description, ensure_ascii=True)
    except MemoryError:
        return OOM_EXIT
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0
