"""Entry point of the traced process: `python -m harness.trace.child CONFIG.json`.

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
import platform
import signal
import sys
import time
import traceback
from typing import Any

from .. import frames
from ..scenarios.contract import Context, Scenario, ScenarioError, ScenarioFileError, initial_state
from ..scenarios.contract import run as run_scenario
from ..scenarios.loader import load as load_scenario
from ..summarize import PathScrubber, set_scrubber
from .anchors import AnchorIndex
from .backends import BACKENDS
from .configflow import ConfigWatch
from .eventstream import EventStream, mark_done, read_key, spawn_key
from .guard import BLOCKED, TorchBlocker
from .recorder import Recorder
from .sinks import SinkWatch
from .taps import TapSet

EXIT_SCENARIO_FAILED = 3
# The versions env/trace_env.json records (torch and its stack when the scenario runs them).
PACKAGES: tuple[str, ...] = ("tensorflow", "tensorflow-cpu", "keras", "h5py", "numpy", "dill", "hunter", "jinja2")
PACKAGES += ("torch", "lightning", "mlflow-skinny", "mlflow")


def guarded(config: dict[str, Any]) -> tuple[str, ...]:
    """The modules the torch guard refuses: all of BLOCKED, or none for a scenario that declares
    `ALLOWS_TORCH = True` (the harness passes `allows_torch`; the report says so)."""
    return () if config.get("allows_torch") is True else BLOCKED


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["tensorflow"] = found["tensorflow"] or found.pop("tensorflow-cpu")
    found.pop("tensorflow-cpu", None)
    return found


def _devices() -> dict[str, Any]:
    """Visible devices, only if the target already imported TensorFlow (never import it here)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return {"tensorflow_imported": False}
    try:
        return {
            "tensorflow_imported": True,
            "physical": sorted(f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()),
            "gpus": len(tf.config.list_physical_devices("GPU")),
        }
    except Exception as error:  # noqa: BLE001
        return {"tensorflow_imported": True, "error": str(error)}


def _peak_rss_kb() -> int | None:
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _text_of(error: BaseException) -> str:
    """str(error), which runs the target's code: a failing __str__ must not lose the report."""
    try:
        return str(error)
    except Exception as inner:  # noqa: BLE001
        return f"<str() of the exception failed: {type(inner).__name__}>"


def _missing_module(error: BaseException) -> str | None:
    """The module a ModuleNotFoundError names (the harness words the fix), read without running
    the target's code: only a str stored on the exception itself counts."""
    if not isinstance(error, ModuleNotFoundError):
        return None
    try:
        name = vars(ImportError)["name"].__get__(error)  # the slot itself: no property of a subclass runs
    except Exception:  # noqa: BLE001 - never raise on the way to reporting the target's error
        return None
    return name[:200] if type(name) is str else None


def _traceback_text() -> str:
    try:
        return traceback.format_exc()
    except Exception as inner:  # noqa: BLE001
        return f"<the traceback could not be formatted: {type(inner).__name__}>"


def _failure_site(error: BaseException, anchors: AnchorIndex, recorder: Recorder) -> dict[str, Any]:
    """Where it failed: the innermost frame of the namespace in the traceback, and any frame."""
    located = frames.from_traceback(error.__traceback__)

    def where(found: frames.Located | None) -> str | None:
        return (
            None
            if found is None
            else f"{anchors.relpath(found[0].f_code.co_filename) or found[0].f_code.co_filename}:{found[1]}"
        )

    in_namespace = frames.innermost(located, lambda frame: recorder.in_namespace(frames.module_of(frame)))
    return {"namespace_frame": where(in_namespace), "innermost_frame": where(located[0] if located else None)}


def _finish(recorder: Recorder, stream: EventStream, backend, guard: TorchBlocker) -> None:
    """Check the evidence of the whole process before the end marker is written."""
    recorder.verify(final=True)
    for name, current in recorder.renamed_modules():
        stream.emit(
            "note", text=f"module {name} renamed itself (__name__ = {current!r}); its calls are reported as {name}"
        )
    for name in guard.imported():
        if name not in recorder.torch_executed:
            recorder.torch_executed[name] = "<unknown>"
            stream.emit(
                "torch", module=name, importer="<unknown> (found in sys.modules)", ph=recorder.phase, t=stream.now()
            )


BOOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "boot")


def _offer_to_spawned(config_path: str, key: bytes | None) -> None:
    """Python processes started from here load harness/trace/boot/sitecustomize.py: guarded and
    traced, their streams signed with a key derived from the run's (it travels in their
    environment, where the target can read it: their lines are less certain than ours)."""
    os.environ["CALLCHAIN_CHILD_CONFIG"] = config_path
    if key is not None:
        os.environ["CALLCHAIN_STREAM_KEY"] = spawn_key(key).hex()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [BOOT, os.environ.get("PYTHONPATH")]))


def start_spawned(config_path: str) -> None:
    """In a spawned interpreter: the torch guard and the recorder, into `events-<label>.spawn<pid>.jsonl`.

    Its end marker is written at interpreter exit; a worker killed by its pool has none,
    which is not counted as a loss (the parent's evidence does not depend on it)."""
    import atexit

    try:
        recorder, stream, backend, guard = _start_spawned(config_path)
    except Exception:  # noqa: BLE001 - never stop the target's interpreter from starting
        return
    atexit.register(_end_spawned, recorder, stream, backend, guard)


def _start_spawned(config_path: str) -> tuple[Recorder, EventStream, Any, TorchBlocker]:
    """The guard, then the recorder with file operations watched and its backend started; `start`."""
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    root = config["root"]
    base = config["events"][: -len(".jsonl")] if config["events"].endswith(".jsonl") else config["events"]
    key = bytes.fromhex(os.environ.get("CALLCHAIN_STREAM_KEY", "")) or None
    stream = EventStream(f"{base}.spawn{os.getpid()}.jsonl", key)
    anchors = AnchorIndex(root)
    set_scrubber(PathScrubber(config["scratch"], root))
    describe = lambda filename, line: f"{anchors.relpath(filename) or filename}:{line}"  # noqa: E731
    guard = TorchBlocker(describe, blocked=guarded(config)).install()
    recorder = Recorder(config["namespace"], anchors, stream, describe=describe)
    recorder.guarded = guarded(config)
    recorder.phase = "spawned"
    recorder.sinks = SinkWatch(stream, recorder.in_namespace, describe).install()
    backend = BACKENDS[config["backend"]](recorder)
    backend.start()
    recorder.backend_check = backend.check
    recorder.install_fork_handlers()
    recorder.watch_process_starts()
    stream.emit(
        "start",
        pid=os.getpid(),
        spawn=True,
        wall=time.time(),
        python=sys.version.split()[0],
        backend=config["backend"],
        ph="spawned",
        t=stream.now(),
    )
    return recorder, stream, backend, guard


def _end_spawned(recorder: Recorder, stream: EventStream, backend, guard: TorchBlocker) -> None:
    """At the spawned interpreter's exit: check its evidence, stop the backend, write `end`."""
    recorder.busy = True
    _finish(recorder, stream, backend, guard)
    backend.stop()
    stream.emit(
        "end",
        seen=recorder.seen,
        kept=recorder.kept,
        gaps=[],
        blocked_imports=guard.attempts,
        torch_imported=guard.imported(),
        exit=0,
        t=stream.now(),
    )


def _stacks_on_request(path: str | None) -> None:
    """On SIGUSR1 (sent by the harness when --timeout expires), write every thread's stack."""
    if not path or not hasattr(signal, "SIGUSR1"):
        return
    handle = open(path, "w", encoding="utf-8")  # kept open for the life of the process
    faulthandler.register(signal.SIGUSR1, file=handle, all_threads=True, chain=False)


def _scenario_out(folder: str) -> None:
    """`ctx.out` exists before the first phase of every process (in scratch, outside the target),
    made before the recorder starts, so it is not one of the target's file operations. Should it
    fail, the phase that writes there fails with the reason."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        pass


def main(config_path: str) -> int:
    """Run the scenario's phases under the recorder; every observation goes to the stream."""
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    root = config["root"]
    sys.dont_write_bytecode = True
    sys.path.insert(0, root)
    _scenario_out(config["scenario_out"])
    stream = EventStream(config["events"], read_key(config.get("key_fd")))
    _stacks_on_request(config.get("stacks"))
    anchors = AnchorIndex(root)
    set_scrubber(PathScrubber(config["scratch"], root))
    describe = lambda filename, line: f"{anchors.relpath(filename) or filename}:{line}"  # noqa: E731
    guard = TorchBlocker(describe, blocked=guarded(config)).install()
    try:  # checked by the probe already; loaded (and its STATE copied) before anything is recorded
        loaded: Scenario | ScenarioFileError = load_scenario(config["scenario"])
        state = initial_state(loaded)  # type: ignore[arg-type]  # load() returns a Scenario or raises
    except ScenarioFileError as error:
        loaded, state = error, {}
    recorder = _recorder(config, stream, anchors, describe)
    backend, start_error = _start(config, config_path, recorder, stream)
    ctx = Context(
        root,
        config["scenario_out"],
        config["package"],
        config["namespace"],
        config["variant"],
        recorder.set_phase,
        state,
    )
    started = time.perf_counter()
    code = _run(loaded, ctx, config["phases"], start_error, recorder, stream, anchors)
    _end(config, recorder, stream, backend, guard, ctx, code, time.perf_counter() - started)
    mark_done(config.get("done"))  # outside the stream: the harness knows an `end` missing from it was lost
    return code


def _recorder(config: dict[str, Any], stream: EventStream, anchors: AnchorIndex, describe) -> Recorder:
    """The recorder with its watchers (taps, the config global, file operations) when traced."""
    recorder = Recorder(config["namespace"], anchors, stream, describe=describe)
    recorder.guarded = guarded(config)
    if not config.get("untraced"):
        recorder.taps = TapSet(config.get("taps", []), stream)
        recorder.config = ConfigWatch(config["config_global"], stream) if config["config_global"] else None
        recorder.sinks = SinkWatch(stream, recorder.in_namespace, describe).install()
    return recorder


def _start(config: dict[str, Any], config_path: str, recorder: Recorder, stream: EventStream):
    """Start the backend (a failure to start is the run's first error), then say `start`."""
    traced = not config.get("untraced")
    if traced and config["backend"] == "ctrace":
        from .accel import load

        load(config["accel"])  # built and loaded by the harness in this interpreter moments ago
    backend = BACKENDS[config["backend"]](recorder) if traced else None
    start_error = None
    if backend is not None:
        try:
            backend.start()
            recorder.backend_check = backend.check
        except Exception as error:  # noqa: BLE001 - e.g. both monitoring tool ids taken
            start_error, backend = error, None
    if traced:
        recorder.install_fork_handlers()
        _offer_to_spawned(config_path, stream.key)
    stream.emit(
        "start",
        pid=os.getpid(),
        python=sys.version.split()[0],
        executable=sys.executable,
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        backend=config["backend"] if traced else None,
        t=stream.now(),
        **(dict(backend.details) if backend is not None else {}),
    )
    if traced:
        recorder.watch_process_starts()  # after platform.platform(), which may run `uname` itself
    return backend, start_error


def _run(
    loaded,
    ctx: Context,
    phases: list[str],
    start_error: BaseException | None,
    recorder: Recorder,
    stream: EventStream,
    anchors: AnchorIndex,
) -> int:
    """The phases; any failure becomes an `error` event and the exit code, never a traceback."""
    try:
        if start_error is not None:
            raise start_error
        if isinstance(loaded, ScenarioFileError):
            raise loaded
        run_scenario(loaded, ctx, phases)
    except BaseException as error:  # noqa: BLE001 - every failure becomes evidence
        recorder.busy = True  # the target's __str__ may run: not evidence
        stream.emit(
            "error",
            phase=recorder.phase,
            type=type(error).__name__,
            message=_text_of(error)[:2000],
            scenario_error=isinstance(error, ScenarioError),
            last_call=recorder.current(),
            traceback=_traceback_text()[-8000:],
            missing_module=_missing_module(error),
            **_failure_site(error, anchors, recorder),
        )
        return EXIT_SCENARIO_FAILED
    return 0


def _end(
    config: dict[str, Any],
    recorder: Recorder,
    stream: EventStream,
    backend,
    guard: TorchBlocker,
    ctx: Context,
    code: int,
    seconds: float,
) -> None:
    """Check the evidence, stop the backend, take the last observations, write `end`."""
    recorder.busy = True
    if not config.get("untraced"):
        _finish(recorder, stream, backend, guard)
    if backend is not None:
        backend.stop()
    if recorder.sinks is not None:
        recorder.sinks.sweep(None)
        recorder.sinks.active = False
    if recorder.config is not None:
        recorder.config.check(None, recorder.phase)
        recorder.config.snapshot("end")
    stream.emit(
        "end",
        seen=recorder.seen,
        kept=recorder.kept,
        scenario_seconds=round(seconds, 6),
        peak_rss_kb=_peak_rss_kb(),
        cpu_seconds=round(sum(os.times()[:2]), 3),
        gaps=ctx.gaps,
        findings=ctx.findings,
        blocked_imports=guard.attempts,
        torch_imported=guard.imported(),
        packages=_versions(),
        devices=_devices(),
        exit=code,
        t=stream.now(),
    )
    stream.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
