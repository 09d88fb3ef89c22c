"""Hostile or unusual targets, tree side: evidence-only, process lifetime, signals, static passes.

Each case is a real `callchain trace` subprocess on the TF-free miniature (about a second)
with one change, and checks the promise it would break: the exit code, one plain message
(no traceback), and the report kept. Classes B (evidence-only) and C (traceback, hang,
lost report) of issue 17; the recorder classes live in another file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest
from helpers import commit_all, hostile_target, tiny_target
from tracing import Run, start, stop, trace, wait_for

pytestmark = pytest.mark.slow  # each case starts a traced subprocess (about a second, no TensorFlow)


def _outcome(run: Run, code: int, *phrases: str) -> dict:
    """Exit code, one plain message (holding `phrases`) and no traceback, the report kept whole;
    returns its run record."""
    assert code != 0 or not phrases, "a run that ends well has no message"
    if code == 0:
        run.ok()
        assert "error" not in run.stderr.lower(), run.stderr
        assert "status: ok" in run.stdout
    else:
        run.fails(code, *phrases)
        assert run.stderr.count("error: ") == 1 and "\n  fix: " in run.stderr, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    for name in ("trace/run.json", "summary.md", "callchain/static.md", "callgraph/dynamic.txt", "env/trace_env.json"):
        assert (run.report / name).is_file(), f"{name} missing from {run.report}"
    return run.record


# -- B. evidence-only ------------------------------------------------------------------------


def test_replace_into_a_git_ignored_path_fails(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        staged = os.path.join(tempfile.gettempdir(), 'run.log.tmp')
        with open(staged, 'w') as handle:
            handle.write('log')
        os.replace(staged, os.path.join(ROOT, 'run.log'))
    """,
        imports="import tempfile",
        extra={".gitignore": "*.log\n"},
    )
    commit_all(root)
    record = _outcome(trace(root, tmp_path / "out"), 4, "the target tree changed", "added: run.log")
    renames = [s for s in record["sinks"] if s["op"] == "rename"]
    assert renames and renames[0]["dest"] == "<root>/run.log" and renames[0]["path"].startswith("<scratch>/tmp/")


def test_h5py_write_into_a_git_ignored_folder_fails(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        with h5py.File(os.path.join(ROOT, 'outputs', 'cache.h5'), 'w') as handle:
            handle.attrs['x'] = 1
    """,
        imports="import h5py",
        extra={".gitignore": "outputs/\n", "outputs/keep.txt": "kept\n"},
    )
    commit_all(root)
    _outcome(trace(root, tmp_path / "out"), 4, "added: outputs/cache.h5")


def test_h5py_write_into_an_existing_pycache_fails(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        with h5py.File(os.path.join(HERE, '__pycache__', 'cache.h5'), 'w') as handle:
            handle.attrs['x'] = 1
    """,
        imports="import h5py",
        extra={"ptycho/__pycache__/old.cpython-312.pyc": "not really bytecode\n"},
    )
    _outcome(trace(root, tmp_path / "out"), 4, "added: ptycho/__pycache__/cache.h5")


def test_new_folder_symlink_to_outside_fails(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    root = hostile_target(
        tmp_path / "target",
        f"""
        os.symlink({str(tmp_path / "elsewhere")!r}, os.path.join(HERE, 'tmp_link'))
    """,
    )
    record = _outcome(trace(root, tmp_path / "out"), 4, "added: ptycho/tmp_link (symlink -> ")
    assert any(s["op"] == "symlink" and s["path"] == "<root>/ptycho/tmp_link" for s in record["sinks"])


def test_new_empty_folder_fails(tmp_path):
    root = hostile_target(tmp_path / "target", "os.mkdir(os.path.join(HERE, 'cache'))")
    _outcome(trace(root, tmp_path / "out"), 4, "added: ptycho/cache/ (folder)")


def test_mode_change_fails(tmp_path):
    root = hostile_target(tmp_path / "target", "os.chmod(os.path.join(HERE, 'params.py'), 0o600)")
    _outcome(trace(root, tmp_path / "out"), 4, "mode changed: ptycho/params.py (0644 -> 0600)")


def test_write_through_a_subprocess_that_restores_the_content_fails(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        script = 'import sys; p = sys.argv[1]; data = open(p, "rb").read(); open(p, "wb").write(data)'
        subprocess.run([sys.executable, '-c', script, os.path.join(HERE, 'params.py')], check=True)
    """,
        imports="import subprocess, sys",
    )
    _outcome(trace(root, tmp_path / "out"), 4, "touched: ptycho/params.py (written; same content; mtime, ctime moved)")


def test_native_write_that_restores_content_and_mtime_is_still_seen(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        path = os.path.join(HERE, 'params.py').encode()
        before = os.stat(path)
        data = open(path, 'rb').read()
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.open(path, os.O_WRONLY | os.O_TRUNC)
        libc.write(fd, data, len(data))
        libc.close(fd)
        times = (ctypes.c_long * 4)(before.st_atime_ns // 10**9, before.st_atime_ns % 10**9,
                                    before.st_mtime_ns // 10**9, before.st_mtime_ns % 10**9)
        libc.utimensat(-100, path, times, 0)  # AT_FDCWD: mtime put back, only ctime moves
    """,
        imports="import ctypes",
    )
    _outcome(
        trace(root, tmp_path / "out"),
        4,
        "touched: ptycho/params.py (same content; ctime moved: written with its mtime set back",
    )


def test_file_created_and_deleted_inside_the_tree_fails(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        scratch = os.path.join(HERE, 'tmp.lock')
        open(scratch, 'w').close()
        os.remove(scratch)
    """,
    )
    _outcome(trace(root, tmp_path / "out"), 4, "written: <root>/ptycho/tmp.lock")


def test_native_create_and_delete_inside_the_tree_is_seen_on_the_folder(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        libc = ctypes.CDLL(None)
        path = os.path.join(HERE, 'native.lock').encode()
        libc.close(libc.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
        libc.unlink(path)
    """,
        imports="import ctypes",
    )
    _outcome(trace(root, tmp_path / "out"), 4, "touched: ptycho/ (folder) (entries created or removed inside")


def test_hard_link_into_the_tree_fails(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    root = hostile_target(tmp_path / "target", f"os.link({str(outside)!r}, os.path.join(HERE, 'linked.txt'))")
    record = _outcome(trace(root, tmp_path / "out"), 4, "added: ptycho/linked.txt")
    assert any(s["op"] == "link" and s["dest"] == "<root>/ptycho/linked.txt" for s in record["sinks"])


def test_moving_a_file_out_of_the_tree_fails(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        f"""
        os.rename(os.path.join(HERE, 'notes.txt'), {str(tmp_path / "taken.txt")!r})
    """,
        extra={"ptycho/notes.txt": "notes\n"},
    )
    _outcome(trace(root, tmp_path / "out"), 4, "removed: ptycho/notes.txt")


def test_dir_fd_relative_write_is_recorded_at_the_real_file(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        folder = os.open(HERE, os.O_RDONLY)
        os.close(os.open('sneaky.txt', os.O_WRONLY | os.O_CREAT, dir_fd=folder))
        os.close(folder)
    """,
    )
    record = _outcome(trace(root, tmp_path / "out"), 4, "added: ptycho/sneaky.txt")
    writes = [s["path"] for s in record["sinks"] if s["op"] == "write"]
    assert "<root>/ptycho/sneaky.txt" in writes
    assert not any(path.endswith("/sneaky.txt") and not path.startswith("<root>/ptycho/") for path in writes)


def test_chdir_to_the_root_then_temporary_folder_cleanup_is_not_a_change(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        os.chdir(ROOT)
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, 'custom_objects.dill'), 'wb') as handle:
                handle.write(b'x')
    """,
        imports="import tempfile",
    )
    record = _outcome(trace(root, tmp_path / "out"), 0)
    removed = [s["path"] for s in record["sinks"] if s["op"] == "remove"]
    assert "<scratch>/tmp/<tmp>/custom_objects.dill" in removed
    assert not any(path.startswith("<root>") for s in record["sinks"] for path in (s["path"], s["dest"] or ""))


@pytest.mark.parametrize("variable", ["TMPDIR", "TEMP", "TMP"])
def test_a_temporary_folder_inside_the_target_is_not_blamed_on_it(tmp_path, variable):
    """CI's `TMPDIR=$PWD/tmp`: callchain's own temporaries (the scenario check, the C tracer's
    build, git) go outside the target for the run, and the report says so; a git checkout and
    a scenario file, so every harness-side helper runs."""
    root = commit_all(tiny_target(tmp_path / "target", {".gitignore": "tmp/\n"}))
    (root / "tmp").mkdir()
    scenario = tmp_path / "phases.py"
    scenario.write_text(
        "import tempfile\n\ndef build(ctx):\n    from ptycho import model\n    tempfile.mkstemp()\n"
        "    model.create_model_with_gridsize(1, 64)\n\nPHASES = [('build', build)]\n"
    )
    backend = ("--backend", "ctrace") if os.name == "posix" and shutil.which("cc") else ()
    env = {"TMPDIR": str(tmp_path / "elsewhere"), variable: str(root / "tmp")}
    run = trace(root, tmp_path / "out", "--scenario", str(scenario), *backend, env=env)
    record = _outcome(run, 0)
    assert record["evidence_only"]["changes"] == [] and not list((root / "tmp").iterdir())
    (note,) = [n for n in record["evidence_only"]["notes"] if "inside the target" in n]
    assert note.startswith(f"{variable}=<root>/tmp is inside the target") and "<scratch>/tmp" in note
    assert f"Evidence check: {variable}=<root>/tmp is inside the target" in run.text("callchain/static.md")


def test_own_git_calls_leave_a_stale_index_alone(tmp_path):
    root = commit_all(tiny_target(tmp_path / "target"))
    index = root / ".git" / "index"
    stale = root / "ptycho" / "params.py"
    os.utime(stale, ns=(time.time_ns() + 5 * 10**9,) * 2)  # index entry no longer matches: git status would refresh it
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    record = _outcome(trace(root, tmp_path / "out"), 0)
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert record["target"]["git"] is True and record["evidence_only"]["changes"] == []


def test_an_unwaited_subprocess_cannot_write_after_the_run(tmp_path):
    late = tmp_path / "target" / "late.txt"
    root = hostile_target(
        tmp_path / "target",
        f"""
        script = 'import sys, time; time.sleep(2); open(sys.argv[1], "w").write("late")'
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.Popen([sys.executable, '-c', script, {str(late)!r}], **quiet)
    """,
        imports="import subprocess, sys",
    )
    run = trace(root, tmp_path / "out")
    time.sleep(3)
    assert not late.exists(), "the target's subprocess outlived the run and wrote into the tree"
    record = _outcome(run, 0)
    assert record["processes"][0]["leftover_processes"] >= 1
    assert "were still running when it ended" in run.text("summary.md")


def test_a_detached_subprocess_cannot_write_after_the_run(tmp_path):
    late = tmp_path / "target" / "late.txt"
    root = hostile_target(
        tmp_path / "target",
        f"""
        script = 'import sys, time; time.sleep(2); open(sys.argv[1], "w").write("late")'
        subprocess.Popen([sys.executable, '-c', script, {str(late)!r}], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    """,
        imports="import subprocess, sys",
    )
    run = trace(root, tmp_path / "out")
    time.sleep(3)
    assert not late.exists(), "a subprocess that left the traced process group wrote into the tree"
    record = _outcome(run, 0)
    assert record["processes"][0]["leftover_processes"] >= 1


# -- C. traceback, hang, lost report ---------------------------------------------------------


def test_non_utf8_names_written_by_the_target_reach_the_report(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        with open(b'caf\\xe9.txt', 'w') as handle:  # the cwd is the run's scratch folder
            handle.write('x')
        os.mkdir(b'dir\\xff')
        """,
    )
    record = _outcome(trace(root, tmp_path / "out"), 0)
    assert "<scratch>/caf\\xe9.txt" in [s["path"] for s in record["sinks"]]


def test_non_utf8_name_written_into_the_tree_fails_with_its_name(tmp_path):
    root = hostile_target(tmp_path / "target", "open(os.path.join(os.fsencode(HERE), b'caf\\xe9.py'), 'w').close()")
    _outcome(trace(root, tmp_path / "out"), 4, "added: ptycho/caf\\xe9.py")


def test_a_write_into_dot_git_fails(tmp_path):
    root = hostile_target(
        tmp_path / "target",
        """
        hook = os.path.join(ROOT, '.git', 'hooks', 'post-checkout')
        with open(hook, 'w') as handle:
            handle.write('#!/bin/sh\\n')
        """,
    )
    commit_all(root)
    _outcome(trace(root, tmp_path / "out"), 4, "added: .git/hooks/post-checkout")


def test_non_utf8_names_in_the_tree_are_noted_not_a_crash(tmp_path):
    root = tiny_target(tmp_path / "target")
    for name in (b"ptycho/bad\xff.py", b"data\xfe.txt"):
        with open(os.path.join(os.fsencode(root), name), "wb") as handle:
            handle.write(b"x = 1\n")
    record = _outcome(trace(root, tmp_path / "out"), 0)
    notes = record["evidence_only"]["notes"]
    assert any("not UTF-8: ptycho/bad\\xff.py" in note for note in notes), notes
    assert any("bad\\xff.py" in item["path"] for item in record["static_skipped"])


def test_a_fifo_in_the_package_never_blocks(tmp_path):
    root = tiny_target(tmp_path / "target", {"docs/notes.md": "# Notes\n"})
    os.mkfifo(root / "ptycho" / "unused_fifo.py")
    os.mkfifo(root / "docs" / "pipe.md")
    record = _outcome(trace(root, tmp_path / "out", timeout=60), 0)
    skipped = {item["path"]: item["reason"] for item in record["static_skipped"]}
    assert skipped.get("ptycho/unused_fifo.py") == "not a regular file (never opened)"


def test_socket_and_device_symlink_in_the_tree(tmp_path):
    root = tiny_target(tmp_path / "target")
    os.symlink("/dev/zero", root / "ptycho" / "zeros.py")
    here = os.getcwd()
    os.chdir(root)  # AF_UNIX paths are short: bind by a relative name
    try:
        server = socket.socket(socket.AF_UNIX)
        server.bind("daemon.sock")
    finally:
        os.chdir(here)
    try:
        record = _outcome(trace(root, tmp_path / "out", timeout=60), 0)
    finally:
        server.close()
    assert record["evidence_only"]["changes"] == []
    assert any(item["path"] == "ptycho/zeros.py" for item in record["static_skipped"])


def test_a_folder_symlink_loop_in_the_package(tmp_path):
    root = tiny_target(tmp_path / "target")
    os.symlink("..", root / "ptycho" / "loop")
    record = _outcome(trace(root, tmp_path / "out", timeout=60), 0)
    assert {"path": "ptycho/loop", "reason": "folder symlink (not followed)", "pass": "entry-point ranking"} in record[
        "static_skipped"
    ]


def test_an_unreachable_folder_is_noted_and_compared_by_what_can_be_read(tmp_path):
    """A folder nested deeper than PATH_MAX cannot be listed by path, even by root."""
    root = tiny_target(tmp_path / "target")
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(25):
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)
    record = _outcome(trace(root, tmp_path / "out", timeout=60), 0)
    assert any(note.startswith("unreadable") and "too long" in note for note in record["evidence_only"]["notes"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file: an unreadable file needs a normal user")
def test_an_unreadable_file_is_noted(tmp_path):
    root = tiny_target(tmp_path / "target", {"secret.txt": "s\n"})
    (root / "secret.txt").chmod(0)
    record = _outcome(trace(root, tmp_path / "out"), 0)
    assert any("unreadable file secret.txt" in note for note in record["evidence_only"]["notes"])


def test_namespace_narrower_than_the_writers(tmp_path):
    root = tiny_target(
        tmp_path / "target",
        {
            "ptycho/model_manager.py": """
        import os, zipfile

        class ModelManager:
            @staticmethod
            def save_multiple_models(models, base_path, custom_objects, intensity_scale):
                staged = base_path + '.manifest.dill'
                with open(staged, 'wb') as handle:
                    handle.write(b'')
                with zipfile.ZipFile(base_path + '.zip', 'w') as zf:
                    zf.write(staged, 'manifest.dill')

            @staticmethod
            def load_multiple_models(base_path, model_names=None):
                return {}
    """
        },
    )
    _outcome(trace(root, tmp_path / "out", "--namespace", "ptycho.params"), 0)


def test_thousands_of_torch_save_sites_are_scanned(tmp_path):
    sites = "\n".join(f"    torch.save(model.state_dict(), 'ckpt_{i}.pt')" for i in range(5000))
    root = tiny_target(
        tmp_path / "target",
        {"ptycho_torch/__init__.py": "", "ptycho_torch/many.py": f"import torch\n\n\ndef save_all(model):\n{sites}\n"},
    )
    record = _outcome(trace(root, tmp_path / "out"), 0)
    assert len([s for s in record["torch_delta"]["surfaces"] if s["path"] == "ptycho_torch/many.py"]) == 5000


def test_oversized_and_unparsable_torch_files_are_reported_as_skipped(tmp_path):
    root = tiny_target(tmp_path / "target", {"ptycho_torch/__init__.py": "", "ptycho_torch/train.py": "import torch\n"})
    (root / "ptycho_torch" / "generated.py").write_text("x = 1\n" * 800_000)  # 4.8 MB
    (root / "ptycho_torch" / "deep.py").write_text("x = " + "(" * 250 + "1" + ")" * 250 + "\n")
    record = _outcome(trace(root, tmp_path / "out"), 0)
    skipped = [item for item in record["static_skipped"] if item["path"] == "ptycho_torch/generated.py"]
    assert skipped and "over the" in skipped[0]["reason"]
    assert [e["path"] for e in record["torch_delta"]["parse_errors"]] == ["ptycho_torch/deep.py"]
    assert "ptycho_torch/generated.py" in (Path(record["report"]) / "summary.md").read_text()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_stop_signals_end_the_group_and_keep_the_report(tmp_path, signum, code):
    root = hostile_target(
        tmp_path / "target",
        """
        helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
        with open('pids.txt', 'w') as handle:  # the cwd is the run's scratch folder
            handle.write(f'{os.getpid()} {helper.pid}')
        while True:
            time.sleep(0.1)
    """,
        imports="import subprocess, sys, time",
    )
    out = tmp_path / "out"
    process = start(root, out)
    pids = [int(p) for p in wait_for(out, "*/scratch/*/pids.txt", " ").read_text().split()]
    record = _outcome(
        stop(process, signum, out), code, f"interrupted by {signal.Signals(signum).name}", "process group were ended"
    )
    assert record["status"] == "partial"
    assert not any(_alive(pid) for pid in pids), "the traced process or its subprocess survived"
    assert [c["label"] for c in record["processes"]] == ["cycle"]
