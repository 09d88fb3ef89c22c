"""Record a tiny package in this process: the fast way to test the recorder and the views.

The package is real code written to a temp folder and imported for real; a real backend
feeds the real `Recorder`, which streams real events; `record.build` turns them into a run
record exactly as after a traced subprocess. Only the subprocess is left out, so a test
takes milliseconds instead of starting TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import write_target

from harness.record import build as record
from harness.run.interpreter import supported_backends
from harness.trace import accel
from harness.trace.anchors import AnchorIndex
from harness.trace.backends import BACKENDS
from harness.trace.configflow import ConfigWatch
from harness.trace.eventstream import EventStream
from harness.trace.recorder import Recorder
from harness.trace.sinks import SinkWatch

PACKAGE = "minipkg"
# The tiny package most in-process tests record: namespace `minipkg`, with a sibling
# `minipkg_torch` (outside the namespace) and `foreignlib`, a library it calls into.
MINIPKG = {
    "minipkg/__init__.py": "",
    "minipkg/params.py": """
        cfg = {'N': 128}

        def set(key, value):
            cfg[key] = value
    """,
    "minipkg/core.py": """
        import functools
        import foreignlib
        from minipkg import params


        def traced(function):
            @functools.wraps(function)
            def wrapper(*args):
                return function(*args)
            return wrapper


        @traced
        def decorated(x):
            return x + 1


        def leaf(x):
            return x * 2


        def outer(x):
            y = leaf(x)
            return decorated(y)


        def numbers(n):
            for k in range(n):
                yield k


        def consume():
            return sum(numbers(3))


        def fails():
            raise ValueError('no')


        def catches():
            try:
                fails()
            except ValueError:
                return 'caught'


        def callback(item):
            return item * 10


        def via_foreign():
            return foreignlib.apply(callback, [1, 2])


        def configure():
            params.set('N', 64)
            params.set('gridsize', 1)


        def configure_inline(loaded):
            size = loaded.get('N', 0)
            params.cfg.update(loaded)
            params.cfg['offset'] = size
            foreignlib.write_config(params.cfg, 'probe', 'helper')
            return size


        class Layer:
            def __init__(self, size):
                self.size = size

            def get_config(self):
                return {'size': self.size}
    """,
    "minipkg/store.py": """
        import os

        import h5py


        def save(folder):
            os.mkdir(folder)
            path = os.path.join(folder, 'model.h5')
            with h5py.File(path, 'a') as handle:
                handle.attrs['scale'] = 1.0
            return path


        def roundtrip(folder):
            os.mkdir(folder)
            path = os.path.join(folder, 'params.txt')
            with open(path, 'w') as handle:
                handle.write('x')
            with open(path) as handle:
                text = handle.read()
            with open(__file__) as handle:
                handle.read()
            return text
    """,
    "minipkg/uses.py": """
        import functools
        import json

        import foreignlib


        class Box:
            def __len__(self):
                return 1

            @property
            def size(self):
                return 2


        def uses(path):
            foreignlib.apply(str, [1])
            for _ in range(2):
                json.dumps({'a': 1})
            handle = foreignlib.Handle(path)
            with handle:
                pass
            box = Box()
            n = len(box) + box.size
            helper = functools.partial(foreignlib.write_config, {}, 'k')
            helper(1)
            items = list(foreignlib.numbers(2))
            made = foreignlib.Made(1)
            plain = foreignlib.Made()
            unpacked = foreignlib.apply(*(str, [2]))
            return n, items, len([1]), made, plain, unpacked
    """,
    "minipkg_torch/__init__.py": """
        def save():
            return 'not ours'
    """,
    "foreignlib.py": """
        def apply(function, items):
            return [function(item) for item in items]


        def write_config(cfg, key, value):
            cfg[key] = value


        def numbers(n):
            yield from range(n)


        class Made:
            def __new__(cls, *args):
                return super().__new__(Other if args else cls)

            def __init__(self, *args):
                self.args = args


        class Other(Made):
            def __init__(self, *args):
                self.other = args


        class Handle:
            def __init__(self, path):
                self.path = path

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False
    """,
}
# Every backend this interpreter can record with in-process, the default first.
AVAILABLE = supported_backends(
    {
        "monitoring": hasattr(sys, "monitoring"),
        "hunter": importlib.util.find_spec("hunter"),
        "ctrace": accel.ensure()[0] is not None,
    }
)


def _forget(prefixes: tuple) -> None:
    for name in [n for n in sys.modules if n in prefixes or n.startswith(tuple(p + "." for p in prefixes))]:
        del sys.modules[name]


def record_package(
    tmp: Path,
    files: dict[str, str],
    drive: Callable[[Callable[[str], Any]], Any],
    backend: str,
    config_global: str | None = None,
    phase: str = "run",
    sinks: bool = False,
    namespace: str = PACKAGE,
) -> dict[str, Any]:
    """Trace `drive(import_module)` over the package written from `files`; the run record."""
    root = write_target(tmp / "root", files)
    tops = tuple(sorted({name.split("/", 1)[0].removesuffix(".py") for name in files}))
    _forget(tops)
    sys.path.insert(0, str(root))
    events = tmp / f"events-{backend}.jsonl"
    stream = EventStream(str(events))
    recorder = Recorder(namespace, AnchorIndex(str(root)), stream)
    if config_global:
        recorder.config = ConfigWatch(config_global, stream)
    if sinks:  # the audit handler is removed below
        recorder.sinks = SinkWatch(stream, recorder.in_namespace, recorder.describe).install()
    stream.emit("start", python=sys.version.split()[0], t=stream.now())
    tracer = BACKENDS[backend](recorder)
    error = None
    try:
        tracer.start()
        recorder.backend_check = tracer.check
        try:
            recorder.set_phase(phase)
            drive(importlib.import_module)
        finally:
            recorder.verify(final=True)
            tracer.stop()
    except Exception as raised:  # noqa: BLE001 - the test asserts on it
        error = raised
    if recorder.sinks is not None:
        recorder.sinks.uninstall()
    if recorder.config is not None:
        recorder.config.check(None, recorder.phase)
        recorder.config.snapshot("end")
    stream.emit("end", seen=recorder.seen, kept=recorder.kept, gaps=[], blocked_imports=[], exit=0, t=stream.now())
    stream.close()
    sys.path.remove(str(root))
    _forget(tops)
    outcome = {
        "label": "main",
        "phases": [phase],
        "exit": 0,
        "timed_out": False,
        "interrupted": False,
        "wall_seconds": 0.0,
        "events": str(events),
        "stderr": str(tmp / "stderr.txt"),
    }
    built = record.build(fixture_meta(tmp, root, backend), [outcome], lambda calls: {"archive_description": None})
    built["status"], built["failure"] = "ok", None
    built["raised"] = repr(error) if error else None
    return built


def rich_record(tmp: Path) -> dict[str, Any]:
    """A record with every part present: minipkg's calls (default backend), a genuine archive's
    description, the demo's spec with verdicts, and its PyTorch side."""
    from archive_builders import tf_members, write_zip
    from conftest import DEMO

    from harness.inspect.sandbox import describe_archive
    from harness.static.spec import read_contract
    from harness.static.torchscan import scan
    from harness.static.verdicts import judge_spec

    built = record_package(tmp, MINIPKG, lambda imp: imp("minipkg.core").outer(1), AVAILABLE[0])
    (tmp / "out").mkdir()
    archive = write_zip(tmp / "out" / "wts.h5.zip", tf_members())
    built["archive_description"] = dict(describe_archive(str(archive)), display_path="<scratch>/out/wts.h5.zip")
    built["spec"] = read_contract(DEMO)
    built["torch_delta"] = scan(DEMO)
    judge_spec(built)
    return built


def fixture_meta(tmp: Path, root: Path, backend: str) -> dict[str, Any]:
    """The harness-side facts of a run, for a record built in-process."""
    return {
        "callchain_version": "test",
        "question": "How does minipkg save?",
        "scope_hints": [],
        "initiative": "TEST-001",
        "plan_phase": "unit",
        "scenario": {
            "name": "unit",
            "variant": "default",
            "phases": ["run"],
            "roles": {"save": ["run"], "load": [], "entry": ["run"]},
            "chains": [{"title": "Run", "phases": ["run"]}],
            "processes": [{"label": "main", "title": "In the test process", "phases": ["run"]}],
            "order": "run",
            "why": "a unit test",
        },
        "namespace": PACKAGE,
        "package": PACKAGE,
        "config_global": f"{PACKAGE}.params:cfg",
        "recorder": {"backend": backend, "settings": "in-process", "seen_means": "calls", "untraced": False},
        "target": {"root": str(root), "demo": False, "git": False},
        "report": str(tmp / "report"),
        "scratch": str(tmp),
        "archive": str(tmp / "out" / "wts.h5.zip"),
        "command": "pytest",
        "started_at": "2026-01-01T00:00:00+00:00",
        "environment": {},
        "taps_declared": [],
        "evidence_only": {"before": {"files": 0, "sha256": ""}, "after": {"files": 0, "sha256": ""}, "changes": []},
    }


def stable(calls) -> list:
    """Calls without their times: what must be identical between backends and runs."""
    return [{k: v for k, v in call.items() if k not in ("t0", "t1")} for call in calls]
