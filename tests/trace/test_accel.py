"""The compiled per-frame filter: built on demand for the interpreter that runs it, cached,
and replaced by the pure-Python `settrace` backend, with the reason said, when it cannot be built."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.run.interpreter import accelerate
from harness.trace import accel

BUILDS = accel.ensure()[0] is not None  # a C compiler and this Python's headers are here
needs_build = pytest.mark.skipif(not BUILDS, reason="no C compiler or Python headers here: no C tracer")


def _no_compiler(monkeypatch, tmp_path: Path) -> None:
    """A machine without a C compiler: nothing on PATH, CC names a program that does not exist."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))


@needs_build
def test_build_is_made_once_per_interpreter_and_source(tmp_path):
    first = accel.build(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert first.parent == tmp_path / "ctrace" and first.name.startswith("_ctrace-")
    assert accel.build(tmp_path) == first and first.stat().st_mtime_ns == stamp  # cached, not rebuilt
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".build-")]  # no half-written leftovers
    assert hasattr(accel.load(first), "Tracer")


def test_without_a_compiler_the_reason_is_one_line(monkeypatch, tmp_path):
    _no_compiler(monkeypatch, tmp_path)
    module, said = accel.ensure(tmp_path / "cache")
    assert module is None
    assert said.startswith("no (no C compiler found") and "\n" not in said
    assert not (tmp_path / "cache" / "ctrace").exists() or not list((tmp_path / "cache" / "ctrace").glob("*.so"))


def test_default_falls_back_to_settrace_without_a_compiler(monkeypatch, tmp_path):
    _no_compiler(monkeypatch, tmp_path)
    chosen = accelerate(sys.executable, "settrace", None, tmp_path / "cache")
    assert chosen.backend == "settrace" and chosen.path is None
    assert chosen.accelerated.startswith("no (no C compiler found")


def test_asking_for_ctrace_without_a_compiler_is_an_error_with_the_fix(monkeypatch, tmp_path):
    _no_compiler(monkeypatch, tmp_path)
    with pytest.raises(HarnessError) as raised:
        accelerate(sys.executable, "ctrace", "ctrace", tmp_path / "cache")
    assert "no C compiler found" in raised.value.problem and "--backend settrace" in raised.value.fix


@needs_build
def test_default_on_a_trace_function_interpreter_becomes_ctrace(tmp_path):
    chosen = accelerate(sys.executable, "settrace", None, tmp_path / "cache")
    assert chosen.backend == "ctrace" and chosen.accelerated.startswith("yes")
    assert Path(chosen.path).is_file() and Path(chosen.path).parent == tmp_path / "cache" / "ctrace"


@pytest.mark.parametrize("backend,wanted", [("settrace", "settrace"), ("monitoring", None), ("hunter", "hunter")])
def test_other_backends_say_why_they_are_not_accelerated(tmp_path, backend, wanted):
    chosen = accelerate(sys.executable, backend, wanted, tmp_path / "cache")
    assert chosen.backend == backend and chosen.path is None and chosen.accelerated.startswith("no (")
    assert not (tmp_path / "cache").exists()  # nothing built when it is not used


def test_headers_missing_is_said(monkeypatch, tmp_path):
    import sysconfig

    real = sysconfig.get_paths()
    monkeypatch.setattr(sysconfig, "get_paths", lambda *a, **k: dict(real, include=str(tmp_path / "no-include")))
    module, said = accel.ensure(tmp_path / "cache")
    assert module is None and said.startswith("no (no Python headers")


@needs_build
def test_command_uses_this_interpreters_headers(tmp_path):
    import sysconfig

    command = accel._command(accel.SOURCE, tmp_path / "x.so")
    assert f"-I{sysconfig.get_paths()['include']}" in command and str(accel.SOURCE) in command
