"""What the REAL loader does with an archive, reproduced in a bounded child process (slow tests only).

The child follows the archive-reading steps of PtychoPINN's ``ModelManager.load_multiple_models``
and ``load_model`` (main ``ptycho/model_manager.py`` 364-405 and 90-124; torchapi-devel and
refactor read the same way): ``zipfile.ZipFile(zip).extractall(tmp)``; ``dill.load`` of
``manifest.dill`` from a file; for every name in ``manifest['models']``: ``dill.load`` of
``params.dill``, ``.pop('_version')``, ``.get('gridsize')``/``.get('N')``, ``cfg.update``, and
``dill.load`` of ``custom_objects.dill``. Real dill, the real C unpickler, real files; only the
target's classes (``ptycho.*``) are stand-ins. It runs under ``RLIMIT_AS``, ``RLIMIT_CPU``, no
core dumps, in its own session, killed at a wall-clock deadline.

Outcomes: ``ran-code`` (the payload's marker appeared), ``MemoryError``, ``killed`` (CPU limit),
``crashed`` (a signal: SIGSEGV), ``timeout``, ``error`` (the load raised), ``fine``; ``seen`` holds
what the loader's dicts held (N, gridsize, intensity_scale, the model names).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHILD = r"""
import json, os, resource, sys, tempfile, zipfile
archive, memory, cpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
import importlib.abc, importlib.util

class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("ptycho", "ptycho_torch"):
            return importlib.util.spec_from_loader(name, self, is_package=True)
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        def __getattr__(attr, name=module.__name__):
            if attr.startswith("__"):
                raise AttributeError(attr)
            cls = type(attr, (), {"__module__": name, "__qualname__": attr, "__init__": lambda self, *a, **k: None})
            setattr(sys.modules[name], attr, cls)
            return cls
        module.__getattr__ = __getattr__

sys.meta_path.insert(0, Finder())
import dill

def say(**kw):
    print(json.dumps(kw, default=repr), flush=True)

def short(v):
    try:
        return repr(v)[:80]
    except BaseException as exc:
        return type(exc).__name__

try:
    tmp = tempfile.mkdtemp(prefix="extract-")
    zipfile.ZipFile(archive).extractall(tmp)
    with open(os.path.join(tmp, "manifest.dill"), "rb") as f:
        manifest = dill.load(f)
    say(seen="models", value=short(list(manifest["models"])))
    cfg = {}
    for name in manifest["models"]:
        folder = os.path.join(tmp, name)
        with open(os.path.join(folder, "params.dill"), "rb") as f:
            params = dill.load(f)
        params.pop("_version", "1.0")
        say(seen="params", model=name, N=short(params.get("N")), gridsize=short(params.get("gridsize")),
            intensity_scale=short(params.get("intensity_scale")))
        cfg.update(params)
        with open(os.path.join(folder, "custom_objects.dill"), "rb") as f:
            dill.load(f)
    say(outcome="fine")
except MemoryError as exc:
    say(outcome="MemoryError", detail=str(exc)[:200])
except BaseException as exc:
    say(outcome="error", detail=(type(exc).__name__ + ": " + str(exc))[:200])
"""


@dataclass
class Loaded:
    outcome: str
    detail: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)

    def params(self, model: str = "autoencoder") -> dict[str, Any]:
        return next((s for s in self.seen if s.get("seen") == "params" and s.get("model") == model), {})


def real_load(
    archive: Path, marker: Path | None = None, memory_mb: int = 1024, cpu: int = 4, wall: float = 30
) -> Loaded:
    """Load ``archive`` as PtychoPINN's loader does, in a bounded child; say what happened."""
    work = archive.parent / "real-load"
    work.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "TMPDIR": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [sys.executable, "-I", "-c", CHILD, str(archive), str(memory_mb << 20), str(cpu)]
    proc = subprocess.Popen(
        argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=wall)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Loaded("timeout", f"still running after {wall:g} s")
    seen = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    if marker is not None and marker.exists():
        return Loaded("ran-code", f"{marker.name} created", seen)
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return Loaded("killed", f"CPU limit ({cpu} s)", seen)
    if proc.returncode < 0:
        return Loaded("crashed", signal.Signals(-proc.returncode).name, seen)
    result = next((s for s in reversed(seen) if "outcome" in s), {"outcome": "error", "detail": err.decode()[-200:]})
    return Loaded(result["outcome"], result.get("detail", ""), seen)
