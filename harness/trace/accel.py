"""The compiled per-frame filter (`_ctrace.c`), built on demand for the interpreter that runs it.

The traced process runs in the user's own interpreter (`--python`), where callchain is not
installed and no wheel was built for it: so the C source ships with the package and is
compiled here, once per interpreter and source version, with that interpreter's own
headers (`sysconfig`) and the C compiler it was built with, into a cache folder outside
the target (a run uses `<out>/.cache/ctrace/`). When there is no compiler, no headers, or
the build fails, `build` says why in one line and the `settrace` backend (pure Python)
runs instead; the run record says which one ran and why (`recorder.accelerated`).

Runs inside the traced process too: standard library only, Python 3.10+.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

SOURCE = Path(__file__).resolve().parent / "_ctrace.c"
MODULE = "_ctrace"
BUILD_TIMEOUT_S = 120

_loaded: ModuleType | None = None


class BuildError(RuntimeError):
    """The accelerator cannot be built or loaded here; the message is the reason, in one line."""


def default_cache() -> Path:
    """Where the harness's own interpreter keeps its build (a run passes `<out>/.cache` instead)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "callchain"


def build_key() -> str:
    """One build per source text and interpreter ABI: a changed source or Python rebuilds it."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    for part in (sys.version, sys.implementation.cache_tag, sysconfig.get_config_var("EXT_SUFFIX"), platform.machine()):
        digest.update(str(part).encode())
    return digest.hexdigest()[:16]


def target_path(cache: Path) -> Path:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or importlib.machinery.EXTENSION_SUFFIXES[0]
    return Path(cache) / "ctrace" / f"{MODULE}-{build_key()}{suffix}"


def _compiler() -> list:
    """The compiler command this interpreter was built with (CC), if it is on PATH."""
    configured = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    for candidate in (configured, ["cc"], ["gcc"], ["clang"]):
        if candidate and shutil.which(candidate[0]):
            return candidate
    raise BuildError(f"no C compiler found (tried {configured[0] if configured else 'cc'}, cc, gcc, clang)")


def _command(source: Path, output: Path) -> list:
    if sys.implementation.name != "cpython":
        raise BuildError(f"the C tracer is for CPython ({sys.implementation.name} here)")
    if os.name != "posix":
        raise BuildError(f"building the C tracer is supported on POSIX systems only ({os.name} here)")
    include = sysconfig.get_paths().get("include") or ""
    if not os.path.isfile(os.path.join(include, "Python.h")):
        raise BuildError(f"no Python headers for this interpreter (Python.h not in {include or 'sysconfig include'})")
    link = ["-bundle", "-undefined", "dynamic_lookup"] if sys.platform == "darwin" else ["-shared"]
    includes = {include, sysconfig.get_paths().get("platinclude") or include}
    return [
        *_compiler(),
        "-O2",
        "-fPIC",
        "-w",
        *[f"-I{path}" for path in sorted(includes)],
        *link,
        str(source),
        "-o",
        str(output),
    ]


def build(cache: Path) -> Path:
    """The path of the built extension for this interpreter, compiling it on first use."""
    output = target_path(cache)
    if output.is_file():
        return output
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildError(f"cannot create the build folder {output.parent} ({error.strerror})") from None
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".build-") as work:
        partial = Path(work) / output.name
        try:
            done = subprocess.run(_command(SOURCE, partial), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise BuildError(f"the C compiler did not finish within {BUILD_TIMEOUT_S} s") from None
        except OSError as error:
            raise BuildError(f"cannot run the C compiler ({error.strerror})") from None
        if done.returncode != 0 or not partial.is_file():
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise BuildError(f"the C compiler failed: {last[:300]}")
        os.replace(partial, output)  # atomic: concurrent runs never load a half-written file
    return output


def load(path: Path) -> ModuleType:
    """Import the built extension from `path` (it is not on sys.path); the module once per process."""
    global _loaded
    if _loaded is not None:
        return _loaded
    try:
        loader = importlib.machinery.ExtensionFileLoader(MODULE, str(path))
        spec = importlib.util.spec_from_file_location(MODULE, str(path), loader=loader)
        if spec is None:
            raise BuildError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except ImportError as error:
        raise BuildError(f"the built C tracer does not load: {error}") from None
    _loaded = module
    return module


def loaded() -> ModuleType | None:
    return _loaded


def ensure(cache: Path | None = None) -> tuple[ModuleType | None, str]:
    """(module, "yes") when the accelerator is usable in this process, else (None, "no (reason)")."""
    try:
        return load(build(cache or default_cache())), "yes"
    except BuildError as error:
        return None, f"no ({error})"


def main(argv: list) -> int:
    """`python -m harness.trace.accel CACHE`: build for this interpreter; print the path or the reason."""
    try:
        path = build(Path(argv[0]) if argv else default_cache())
        load(path)
    except BuildError as error:
        print(f"no ({error})")
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
