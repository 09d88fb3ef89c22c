"""Class 7 of issue 24: command lines of `callchain inspect`, each a verdict or one plain usage message.

Run as a user runs it (`python -m harness inspect ...`, a fresh interpreter): no traceback, no
'internal error', a path after '--' may start with '-', a limit out of range is an argparse usage
error naming the flag and the range, and an archive piped in (/dev/stdin, '-', a FIFO) is read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from archive_builders import tf_members, write_zip
from conftest import REPO
from hostile_pickles import EVAL_REPR, call, hostile_archive, sbu

GENUINE = "genuine/wts.h5.zip"


def run(cwd: Path, *args: str | bytes, stdin: Path | None = None, env: dict[str, str] | None = None):
    """`callchain inspect ARGS` in a fresh interpreter; stdin from a file when given."""
    full = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    with open(stdin or os.devnull, "rb") as fh:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "inspect", *args],
            cwd=cwd,
            env=full,
            stdin=fh,
            capture_output=True,
            timeout=120,
        )
    text = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in text and "internal error" not in text, text
    return done


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for rel in (GENUINE, "-dash/wts.h5.zip"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write_zip(tmp_path / rel, tf_members())
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [["--", "-dash/wts.h5.zip"], ["--json", "--", "-dash"], ["./-dash/wts.h5.zip"], ["genuine/wts.h5"], ["genuine"]],
    ids=["double-dash-file", "double-dash-folder-json", "dot-slash", "base-name", "folder"],
)
def test_valid_command_lines_give_the_verdict(folder: Path, args: list[str]) -> None:
    done = run(folder, *args)
    assert done.returncode == 0, done.stderr
    assert b'"status": "ok"' in done.stdout if "--json" in args else b"status:  ok" in done.stdout


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--max-memory", "10000000000000", "out of range"),
        ("--max-memory", str(2**64), "out of range"),
        ("--max-memory", "10**13", "is not a number"),
        ("--max-memory", "0", "out of range"),
        ("--max-memory", "-1", "out of range"),
        ("--max-seconds", "nan", "not a finite number"),
        ("--max-seconds", "inf", "not a finite number"),
        ("--max-seconds", "-inf", "expected one argument"),  # argparse reads '-inf' as an option
        ("--max-seconds=-inf", None, "not a finite number"),
        ("--max-seconds", "1e12", "out of range"),
        ("--max-seconds", "1e308", "out of range"),
        ("--max-seconds", "0", "out of range"),
        ("--max-seconds", "-1", "out of range"),
        ("--max-ops", "0", "out of range"),
        ("--max-ops", "-5", "out of range"),
        ("--max-ops", str(10**30), "out of range"),
    ],
)
def test_limits_out_of_range_are_one_usage_message(folder: Path, flag: str, value: str | None, needle: str) -> None:
    done = run(folder, *([flag, value] if value is not None else [flag]), GENUINE)
    last = done.stderr.decode().strip().splitlines()[-1]
    assert done.returncode == 2 and done.stdout == b""
    assert last.startswith("callchain inspect: error: argument " + flag.split("=")[0]) and needle in last, last


@pytest.mark.parametrize(
    "spelling", [["/dev/stdin"], ["--json", "/dev/stdin"], ["-"]], ids=["stdin", "stdin-json", "dash"]
)
def test_an_archive_piped_in_is_read(folder: Path, spelling: list[str]) -> None:
    done = run(folder, *spelling, stdin=folder / GENUINE)
    assert done.returncode == 0, done.stderr
    if "--json" in spelling:
        assert json.loads(done.stdout)["status"] == "ok"


def test_a_hostile_archive_piped_in_is_judged_not_refused_unread(folder: Path) -> None:
    marker = folder / "marker"
    hostile = hostile_archive(
        folder / "h", "autoencoder/params.dill", sbu("x") + call(EVAL_REPR, sbu(f"open({str(marker)!r}, 'w')"))
    )
    done = run(folder, "/dev/stdin", stdin=hostile)
    assert done.returncode == 2 and b"_eval_repr" in done.stderr and b"not a regular file" not in done.stderr
    assert not marker.exists()


def test_a_fifo_is_read(folder: Path) -> None:
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    data = (folder / GENUINE).read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    done = run(folder, "fifo")
    writer.join(timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "path, needle", [("/dev/zero", "streams more than"), ("/dev/null", "is empty"), ("", "does not exist")]
)
def test_unreadable_paths_are_one_plain_message(folder: Path, path: str, needle: str) -> None:
    done = run(folder, path)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines


@pytest.mark.parametrize(
    "rel, env",
    [
        (b"caf\xe9\xff/wts.h5.zip", {}),
        (b"caf\xe9\xff", {}),
        (b"w\xff.zip", {}),
        (b"caf\xe9\xff/wts.h5.zip", {"LC_ALL": "C"}),
        (b"new\nline\x1b[31m/wts.h5.zip", {}),
    ],
    ids=["folder", "folder-only", "file-name", "c-locale", "newline-and-escape"],
)
def test_a_genuine_archive_at_a_non_utf8_path_with_json(tmp_path: Path, rel: bytes, env: dict[str, str]) -> None:
    target = os.path.join(os.fsencode(tmp_path), rel if rel.endswith(b".zip") else rel + b"/wts.h5.zip")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    write_zip(Path(os.fsdecode(target)), tf_members())
    done = run(tmp_path, "--json", rel, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "ok" and done.stdout.isascii()


def test_an_unknown_option_is_a_usage_message(folder: Path) -> None:
    done = run(folder, "--frobnicate", GENUINE)
    assert done.returncode == 2 and b"unrecognized arguments: --frobnicate" in done.stderr
