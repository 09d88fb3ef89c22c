"""Evidence-only and bounded reading, in-process and fast: real files, FIFOs, symlinks,
descriptors and process groups, no traced subprocess (the end-to-end cases are in
e2e/test_hostile_tree.py)."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from harness.run.stop import end_group, group_members, wait_unreaped
from harness.run.workspace import harness_tempdir
from harness.static.bounded import Budget, files_under
from harness.static.target import _git, compare, fingerprint
from harness.static.torchmatch import _Lines
from harness.trace.sinks import SinkWatch


def _tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("x = 1\n")
    (root / "pkg" / "b.py").write_text("y = 2\n")
    return root


def _changes(root: Path, change) -> list:
    before = fingerprint(root)
    time.sleep(0.01)
    change()
    return compare(before, fingerprint(root))


def test_untouched_tree_compares_equal_and_reads_nothing_twice(tmp_path):
    root = _tree(tmp_path)
    first, second = fingerprint(root), fingerprint(root)
    assert first["sha256"] == second["sha256"] and compare(first, second) == []
    assert first["files"] == 2 and first["entries"] == 4  # '.', pkg/, two files


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda r: (r / "pkg" / "new").mkdir(), "added: pkg/new/ (folder)"),
        (lambda r: os.symlink("/tmp", r / "pkg" / "link"), "added: pkg/link (symlink -> /tmp)"),
        (lambda r: (r / "pkg" / "a.py").chmod(0o600), "mode changed: pkg/a.py (0644 -> 0600)"),
        (lambda r: (r / "pkg" / "a.py").write_text("x = 2\n"), "changed: pkg/a.py (content)"),
        (
            lambda r: (r / "pkg" / "a.py").write_text("x = 1\n"),
            "touched: pkg/a.py (written; same content; mtime, ctime moved)",
        ),
        (lambda r: (r / "pkg" / "a.py").write_text("x = 10\n"), "changed: pkg/a.py (size 6 -> 7)"),
        (lambda r: os.replace(r / "pkg" / "b.py", r / "pkg" / "a.py"), "removed: pkg/b.py"),
        (lambda r: (r / "pkg" / "b.py").unlink(), "removed: pkg/b.py"),
    ],
)
def test_each_kind_of_change_is_named(tmp_path, change, expected):
    root = _tree(tmp_path)
    (root / "pkg" / "a.py").chmod(0o644)
    lines = _changes(root, lambda: change(root))
    assert any(line.startswith(expected) for line in lines), lines


def test_replace_under_the_same_name_and_restored_mtime(tmp_path):
    root = _tree(tmp_path)
    target = root / "pkg" / "a.py"
    info = target.stat()

    def swap():
        staged = root / "pkg" / "staged"
        staged.write_text("x = 1\n")
        os.utime(staged, ns=(info.st_atime_ns, info.st_mtime_ns))
        os.replace(staged, target)

    assert _changes(root, swap) == ["replaced: pkg/a.py (a new file under the same name)"]


def test_a_file_created_and_removed_again_shows_on_its_folder(tmp_path):
    root = _tree(tmp_path)

    def flash():
        (root / "pkg" / "tmp").write_text("")
        (root / "pkg" / "tmp").unlink()

    assert _changes(root, flash) == ["touched: pkg/ (folder) (entries created or removed inside; mtime, ctime moved)"]


def test_fifos_sockets_and_device_links_are_never_opened(tmp_path):
    root = _tree(tmp_path)
    os.mkfifo(root / "pkg" / "fifo.py")
    os.symlink("/dev/zero", root / "pkg" / "zero.py")
    result = {}
    worker = threading.Thread(target=lambda: result.update(fingerprint(root)), daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "fingerprint blocked on a FIFO"
    assert result["listing"]["pkg/fifo.py"]["kind"] == "fifo"
    assert result["listing"]["pkg/zero.py"] == dict(result["listing"]["pkg/zero.py"], kind="symlink", link="/dev/zero")


def test_non_utf8_names_are_compared_and_noted(tmp_path):
    root = _tree(tmp_path)
    raw = os.path.join(os.fsencode(root), b"pkg", b"caf\xe9.py")
    with open(raw, "wb") as handle:
        handle.write(b"x")
    before = fingerprint(root)
    assert "pkg/caf\\xe9.py" in before["listing"]
    assert any("not UTF-8: pkg/caf\\xe9.py" in note for note in before["notes"])
    with open(raw, "ab") as handle:
        handle.write(b"y")
    assert compare(before, fingerprint(root)) == ["changed: pkg/caf\\xe9.py (size 1 -> 2)"]


def test_digest_budget_limits_hashing_not_comparison(tmp_path):
    root = _tree(tmp_path)
    before = fingerprint(root, digest_budget=0)
    assert all(e.get("sha256") is None for e in before["listing"].values())
    assert any("not hashed before the run" in note for note in before["notes"])
    time.sleep(0.01)
    (root / "pkg" / "a.py").write_text("x = 1\n")
    assert compare(before, fingerprint(root, digest_budget=0)) == ["touched: pkg/a.py (written; mtime, ctime moved)"]


def test_git_status_never_refreshes_a_stale_index(tmp_path):
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )
    root = _tree(tmp_path)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)
    os.utime(root / "pkg" / "a.py", ns=(time.time_ns() + 10**10,) * 2)
    index = root / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    assert _git(root, "status", "--porcelain") is not None
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before


# -- audited operations -------------------------------------------------------------------------


class _Stream:
    def __init__(self) -> None:
        self.events = []

    def emit(self, kind, **fields) -> None:
        self.events.append((fields["op"], fields["path"], fields["dest"]))


@pytest.fixture(scope="module")
def watch():
    """One watch for the module, switched on per test."""
    sink = SinkWatch(_Stream(), lambda module: False, lambda filename, line: "").install()
    sink.active = False
    yield sink
    sink.uninstall()


@pytest.fixture
def sinks(watch, tmp_path, monkeypatch):
    watch.stream.events.clear()
    watch.active = True
    yield watch.stream.events
    watch.active = False


def test_dir_fd_operations_resolve_against_their_folder(sinks, tmp_path, monkeypatch):
    folder, elsewhere = tmp_path / "folder", tmp_path / "cwd"
    folder.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fd = os.open(folder, os.O_RDONLY)
    sinks.clear()
    try:
        os.close(os.open("made.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
        os.rename("made.txt", "moved.txt", src_dir_fd=fd, dst_dir_fd=fd)
        os.symlink("/etc", "link", dir_fd=fd)
        os.link("moved.txt", "hard.txt", src_dir_fd=fd, dst_dir_fd=fd)
        os.unlink("hard.txt", dir_fd=fd)
    finally:
        os.close(fd)
    real = os.path.realpath(folder)
    assert sinks == [
        ("write", f"{real}/made.txt", None),
        ("rename", f"{real}/made.txt", f"{real}/moved.txt"),
        ("symlink", f"{real}/link", None),
        ("link", f"{real}/moved.txt", f"{real}/hard.txt"),
        ("remove", f"{real}/hard.txt", None),
    ]


def test_temporary_folder_cleanup_names_the_real_files(sinks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        Path(folder, "custom_objects.dill").write_bytes(b"x")
    real = os.path.realpath(folder)
    assert ("remove", f"{real}/custom_objects.dill", None) in sinks
    assert not any(path == f"{os.path.realpath(tmp_path)}/custom_objects.dill" for _, path, _ in sinks)


def test_a_dir_fd_the_code_does_not_show_is_not_guessed(sinks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fd = os.open(tmp_path, os.O_RDONLY)
    options = {"dir_fd": fd}
    try:
        os.close(os.open("hidden.txt", os.O_WRONLY | os.O_CREAT, **options))
    finally:
        os.close(fd)
    assert sinks == [("write", "<dir_fd ?>/hidden.txt", None)]


def test_removing_a_symlink_names_the_link_not_its_target(sinks, tmp_path):
    (tmp_path / "real.txt").write_text("x")
    os.symlink(tmp_path / "real.txt", tmp_path / "alias.txt")
    sinks.clear()
    os.unlink(tmp_path / "alias.txt")
    assert sinks == [("remove", f"{os.path.realpath(tmp_path)}/alias.txt", None)]


def test_descriptor_operations_name_their_file(sinks, tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"12345")
    sinks.clear()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    # the file was written by this run, so opening it again is a read-back (recorded once), then the chmod
    assert sinks == [("read", os.path.realpath(path), None), ("chmod", os.path.realpath(path), None)]


# -- process groups and bounded reading --------------------------------------------------------


def test_end_group_kills_what_the_leader_left_running():
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])",
        ],
        start_new_session=True,
    )
    assert wait_unreaped(leader, 30)  # ended, not reaped: its number (the group id) stays ours
    assert len(group_members(leader.pid)) == 1
    assert end_group(leader.pid) == 1
    for _ in range(50):
        if not group_members(leader.pid):
            break
        time.sleep(0.1)
    assert group_members(leader.pid) == []
    assert end_group(leader.pid) == 0  # an empty group is not signalled
    assert leader.wait(5) == 0


def test_end_group_never_signals_a_group_whose_members_are_gone():
    """The -9 of a flaky fresh process: a group id whose members are all gone is a free number,
    maybe another run's session by now; end_group must not signal it."""
    leader = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    assert wait_unreaped(leader, 30)
    assert group_members(leader.pid) == []
    killed = []
    original = os.killpg
    try:
        os.killpg = lambda *args: killed.append(args)  # type: ignore[assignment]
        assert end_group(leader.pid) == 0
    finally:
        os.killpg = original
    assert killed == []
    assert leader.wait(5) == 0


def test_wait_unreaped_times_out_on_a_running_child():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        assert wait_unreaped(child, 0.2) is False
        assert child.poll() is None
    finally:
        end_group(child.pid)
        child.wait(5)


def test_budget_skips_what_it_must_not_read(tmp_path):
    os.mkfifo(tmp_path / "fifo.py")
    (tmp_path / "big.py").write_bytes(b"#" * 2000)
    (tmp_path / "ok.py").write_text("x = 1\n")
    os.symlink(tmp_path, tmp_path / "loop")
    budget = Budget(max_file_bytes=1000)
    files = files_under(tmp_path, ".py", budget, tmp_path)
    assert [p.name for p in files] == ["big.py", "fifo.py", "ok.py"]
    assert [budget.read_bytes(p, p.name) for p in files] == [None, None, b"x = 1\n"]
    reasons = {item["path"]: item["reason"] for item in budget.skipped}
    assert reasons == {
        "loop": "folder symlink (not followed)",
        "big.py": "2000 bytes, over the 1000 byte limit",
        "fifo.py": "not a regular file (never opened)",
    }


def test_a_symlinked_top_folder_is_not_walked(tmp_path):
    os.symlink("/", tmp_path / "ptycho_torch")
    budget = Budget()
    assert files_under(tmp_path / "ptycho_torch", ".py", budget, tmp_path) == []
    assert budget.skipped == [
        {"path": "ptycho_torch", "reason": "folder symlink (not followed)", "pass": "static reading"}
    ]


def test_an_expired_budget_reads_nothing_and_says_so(tmp_path):
    (tmp_path / "a.py").write_text("")
    budget = Budget(seconds=0)
    time.sleep(0.01)
    assert budget.read_bytes(tmp_path / "a.py", "a.py") is None
    assert budget.skipped == [{"path": "a.py", "reason": "time budget of 0 s used up", "pass": "static reading"}]


def test_source_segments_match_ast_for_unicode_and_multiline_nodes():
    source = "x = f('é', 2)\ny = g(\n    a=1,\r\n    b='ü')\nz = [1,\n 2]\r"
    lines = _Lines(source)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Call, ast.Constant, ast.List, ast.keyword)):
            assert lines.segment(node) == ast.get_source_segment(source, node), ast.dump(node)


def test_a_temporary_folder_inside_the_root_is_replaced_while_the_run_lasts(tmp_path, monkeypatch):
    root = _tree(tmp_path / "root").resolve()
    (root / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(root / "tmp"))
    monkeypatch.setenv("TMP", str(root / "tmp" / ".." / "tmp"))
    monkeypatch.delenv("TEMP", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    before = fingerprint(root)
    with harness_tempdir(root, tmp_path / "out") as notes:
        folder = Path(os.environ["TMPDIR"])
        assert os.environ["TMP"] == str(folder) and "TEMP" not in os.environ
        assert tempfile.gettempdir() == str(folder) and root not in folder.parents
        subprocess.run(["sh", "-c", 'touch "$TMPDIR/x"'], check=True)
        tempfile.mkstemp()
    assert notes == [
        "TMPDIR=<root>/tmp, TMP=<root>/tmp are inside the target: callchain's own temporary files went to a "
        "folder outside it for this run (the traced processes use <scratch>/tmp as always)"
    ]
    assert not folder.exists() and os.environ["TMPDIR"] == str(root / "tmp") and tempfile.tempdir is None
    assert compare(before, fingerprint(root)) == []


def test_a_temporary_folder_outside_the_root_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with harness_tempdir(_tree(tmp_path / "root").resolve(), tmp_path / "out") as notes:
        assert notes == [] and os.environ["TMPDIR"] == str(tmp_path)


NS_LAST_PID = Path("/proc/sys/kernel/ns_last_pid")


def _forced_victim(pid: int) -> subprocess.Popen:
    """A session leader (as another run's traced process is) started with `pid` if it is free."""
    NS_LAST_PID.write_text(str(pid - 1))
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)


@pytest.mark.skipif(
    not os.access(NS_LAST_PID, os.W_OK), reason="needs a writable ns_last_pid (root) to force pid reuse"
)
def test_a_reaped_leaders_number_can_lead_another_group_and_an_unreaped_ones_cannot():
    """The -9 of a fresh process under load, reproduced: once the leader is reaped its number
    may go to another run's session leader, and ending "its" group kills that one; while it is
    an unreaped zombie (stop.wait_unreaped) the number stays taken."""
    leader = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    leader.wait()  # the order before the fix: reaped, then the group ended
    for _ in range(20):  # another process may take the number first: try again
        victim = _forced_victim(leader.pid)
        if victim.pid == leader.pid:
            break
        victim.kill()
        victim.wait(5)
    try:
        assert victim.pid == leader.pid
        end_group(leader.pid)
        assert victim.wait(5) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(5)
    leader = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    assert wait_unreaped(leader, 30)  # the order now: ended, not reaped
    victim = _forced_victim(leader.pid)
    try:
        assert victim.pid != leader.pid
        end_group(leader.pid)
        assert leader.wait(5) == 0
        time.sleep(0.2)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait(5)
