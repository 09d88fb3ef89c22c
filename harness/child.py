"""Entry point of the traced process: `python -m harness.child CONFIG.json`.

The harness process starts this in the scratch folder (so the target's import-time side
effects land there), with the target root first on `sys.path`. It installs the torch guard,
the audit hook and the recorder, runs the scenario's phases, and streams every observation
to the events file; the harness process turns that stream into the run record. Nothing
here may import anything the traced interpreter might lack beyond the chosen backend.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import platform
import sys
import time
import traceback
from typing import Any, Dict, Optional

from . import scenario
from .anchors import AnchorIndex
from .configflow import ConfigWatch
from .guard import TorchBlocker
from .recorder import EventStream, Recorder
from .sinks import SinkWatch
from .summarize import PathScrubber, set_scrubber
from .taps import TapSet
from .tracer import BACKENDS

EXIT_SCENARIO_FAILED = 3
PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "h5py", "numpy", "dill", "hunter", "jinja2")


def _versions() -> Dict[str, Optional[str]]:
    from importlib import metadata

    found: Dict[str, Optional[str]] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["tensorflow"] = found["tensorflow"] or found.pop("tensorflow-cpu")
    found.pop("tensorflow-cpu", None)
    return found


def _devices() -> Dict[str, Any]:
    """Visible devices, only if the target already imported TensorFlow (never import it here)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return {"tensorflow_imported": False}
    try:
        return {"tensorflow_imported": True,
                "physical": sorted(f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()),
                "gpus": len(tf.config.list_physical_devices("GPU"))}
    except Exception as error:  # noqa: BLE001
        return {"tensorflow_imported": True, "error": str(error)}


def _local_prefixes(root: str, namespace: str, package: str):
    """File prefixes the namespace's code can come from: the target root, and generated code.

    Only valid when the namespace is the package found under the root (it is first on
    sys.path); for any other namespace every frame is looked at."""
    if namespace.split(".")[0] != package:
        return None
    roots = {os.path.join(root, ""), os.path.join(os.path.realpath(root), "")}
    return tuple(sorted(roots)) + ("<",)


def _peak_rss_kb() -> Optional[int]:
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _failure_site(error: BaseException, anchors: AnchorIndex, recorder: Recorder) -> Dict[str, Any]:
    """Where it failed: the innermost frame of the namespace in the traceback, and any frame."""
    inner_ns, innermost = None, None
    for frame, line in traceback.walk_tb(error.__traceback__):
        where = f"{anchors.relpath(frame.f_code.co_filename) or frame.f_code.co_filename}:{line}"
        innermost = where
        if recorder.in_namespace(frame.f_globals.get("__name__")):
            inner_ns = where
    return {"namespace_frame": inner_ns, "innermost_frame": innermost}


def _stacks_on_request(path: Optional[str]) -> None:
    """On SIGUSR1 (sent by the harness when --timeout expires), write every thread's stack."""
    if not path or not hasattr(signal, "SIGUSR1"):
        return
    handle = open(path, "w", encoding="utf-8")  # kept open for the life of the process
    faulthandler.register(signal.SIGUSR1, file=handle, all_threads=True, chain=False)


def main(config_path: str) -> int:
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    root = config["root"]
    sys.dont_write_bytecode = True
    sys.path.insert(0, root)
    stream = EventStream(config["events"])
    _stacks_on_request(config.get("stacks"))
    anchors = AnchorIndex(root)
    set_scrubber(PathScrubber(config["scratch"], root))
    describe = lambda filename, line: f"{anchors.relpath(filename) or filename}:{line}"  # noqa: E731
    guard = TorchBlocker(describe).install()
    traced = not config.get("untraced")
    namespace = config["namespace"]
    recorder = Recorder(namespace, anchors, stream, local_prefixes=_local_prefixes(root, namespace, config["package"]))
    if traced:
        recorder.taps = TapSet(config.get("taps", []), stream)
        recorder.config = ConfigWatch(config["config_global"], stream)
        recorder.sinks = SinkWatch(stream, recorder.in_namespace, describe).install()
    stream.emit("start", pid=os.getpid(), python=sys.version.split()[0], executable=sys.executable,
                implementation=platform.python_implementation(), platform=platform.platform(),
                backend=config["backend"] if traced else None, t=stream.now())
    ctx = scenario.Context(config["package"], config["scenario_out"], config["variant"], recorder.set_phase)
    backend = BACKENDS[config["backend"]](recorder) if traced else None
    started = time.perf_counter()
    code = 0
    if backend is not None:
        backend.start()
    try:
        scenario.run(ctx, config["phases"])
    except BaseException as error:  # noqa: BLE001 - every failure becomes evidence
        if backend is not None:
            backend.stop()
            backend = None
        code = EXIT_SCENARIO_FAILED
        stream.emit("error", phase=recorder.phase, type=type(error).__name__, message=str(error)[:2000],
                    scenario_error=isinstance(error, scenario.ScenarioError),
                    last_call=recorder.current(), traceback=traceback.format_exc()[-8000:],
                    **_failure_site(error, anchors, recorder))
    finally:
        if backend is not None:
            backend.stop()
    total = time.perf_counter() - started
    recorder.busy = True
    if recorder.sinks is not None:
        recorder.sinks.sweep(None)
        recorder.sinks.active = False
    if recorder.config is not None:
        recorder.config.check(None, recorder.phase)
        recorder.config.snapshot("end")
    stream.emit("end", seen=recorder.seen, kept=recorder.kept, scenario_seconds=round(total, 6),
                peak_rss_kb=_peak_rss_kb(),
                gaps=ctx.gaps, blocked_imports=guard.attempts, torch_imported=guard.imported(),
                packages=_versions(), devices=_devices(), exit=code, t=stream.now())
    stream.close()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
