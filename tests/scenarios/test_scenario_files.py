"""Scenario files: the contract's checks (each bad file named with its line), the defaults a
file gets when it declares no metadata, the shipped scenario in the contract's form, and
--publish's refusals. Nothing here starts TensorFlow or a traced process."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from conftest import callchain

from harness.errors import HarnessError
from harness.run import publish
from harness.scenarios import contract, loader
from harness.scenarios import persistence as tf
from harness.scenarios.contract import Context, ScenarioFileError, describe
from harness.scenarios.loader import load

GOOD = '''
"""Put, flush, open.

Second paragraph, not used."""

def put(ctx):
    ctx.seen = ["put"]

def flush(ctx):
    ctx.seen.append("flush")

PHASES = [("put", put), ("flush", flush)]
'''


@pytest.fixture(autouse=True)
def _forget_loaded():
    yield
    sys.modules.pop(loader.MODULE_NAME, None)


def write(tmp_path: Path, text: str, name: str = "scenario.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def line_of(path: str, needle: str) -> int:
    return next(i for i, line in enumerate(Path(path).read_text().splitlines(), 1) if needle in line)


def refused(source: str) -> ScenarioFileError:
    with pytest.raises(ScenarioFileError) as caught:
        load(source)
    return caught.value


# -- bad files --------------------------------------------------------------------------


def test_a_missing_file_is_named(tmp_path):
    error = refused(str(tmp_path / "nope.py"))
    assert error.file.endswith("nope.py") and error.line is None and "no such scenario file" in error.problem


def test_a_syntax_error_names_its_line(tmp_path):
    path = write(tmp_path, 'def put(ctx):\n    pass\n\nPHASES = [("put", put)\nx = (\n')
    error = refused(path)
    assert error.file == path and error.line is not None and "syntax error" in error.problem


def test_a_file_without_phases(tmp_path):
    error = refused(write(tmp_path, "def put(ctx):\n    pass\n"))
    assert "defines no PHASES" in error.problem


def test_a_phase_that_is_not_callable_names_its_line(tmp_path):
    path = write(tmp_path, 'def put(ctx):\n    pass\n\nPHASES = [\n    ("put", put),\n    ("flush", "flush"),\n]\n')
    error = refused(path)
    assert "'flush' is not callable" in error.problem and error.line == line_of(path, '("flush", "flush")')


def test_duplicate_phase_names_name_the_second(tmp_path):
    path = write(tmp_path, 'def put(ctx):\n    pass\n\nPHASES = [\n    ("put", put),\n    ("put", put),\n]\n')
    error = refused(path)
    assert "duplicate phase name 'put'" in error.problem and error.line == 6


def test_a_name_shared_with_the_fresh_process_is_a_duplicate(tmp_path):
    path = write(tmp_path, 'def put(ctx):\n    pass\n\nPHASES = [("put", put)]\nFRESH_PHASES = [("put", put)]\n')
    error = refused(path)
    assert "duplicate phase name 'put'" in error.problem and error.line == 5


@pytest.mark.parametrize(
    "text, phrase",
    [
        ('def put():\n    pass\n\nPHASES = [("put", put)]\n', "must take exactly one argument"),
        ("def put(ctx):\n    pass\n\nPHASES = [put]\n", "must be a (name, function) pair"),
        ('def put(ctx):\n    pass\n\nPHASES = {"put": put}\n', "must be a list of (name, function) pairs"),
        ("PHASES = []\n", "PHASES is empty"),
        ('def put(ctx):\n    pass\n\nPHASES = [("two words", put)]\n', "must be a word"),
        ('def put(ctx):\n    pass\n\nPHASES = [("put", put)]\nROLES = {"save": ["flush"]}\n', "unknown: ['flush']"),
        ('def put(ctx):\n    pass\n\nPHASES = [("put", put)]\nCHAINS = [("Save", "put")]\n', "CHAINS entries"),
        ('def put(ctx):\n    pass\n\nPHASES = [("put", put)]\nSTATE = ["x"]\n', "STATE must be a dict"),
    ],
)
def test_malformed_phases_and_metadata(tmp_path, text, phrase):
    error = refused(write(tmp_path, text))
    assert phrase in error.problem and error.line is not None


def test_a_file_that_raises_when_loaded_names_the_line(tmp_path):
    path = write(tmp_path, "import os\n\nVALUE = 1 / 0\nPHASES = []\n")
    error = refused(path)
    assert error.line == 3 and "ZeroDivisionError" in error.problem


def test_a_module_attribute_that_does_not_exist():
    error = refused("harness.scenarios.tf_persistence:NOPE")
    assert "NOPE" in error.problem and error.file.endswith("tf_persistence.py")


# -- defaults ---------------------------------------------------------------------------


def test_a_file_without_metadata_gets_the_defaults(tmp_path):
    described = describe(load(write(tmp_path, GOOD)))
    assert described["roles"] == {"entry": ["put", "flush"]}  # no save/load role: those sections say "not applicable"
    assert described["chains"] == [{"title": "put", "phases": ["put"]}, {"title": "flush", "phases": ["flush"]}]
    assert described["processes"] == [{"label": "cycle", "title": "In the traced process", "phases": ["put", "flush"]}]
    assert described["order"] == "put, flush"
    assert described["why"] == "Put, flush, open."
    assert described["contract"] is False and described["taps"] == [] and described["variants"] is None


def test_fresh_phases_and_declared_metadata(tmp_path):
    path = write(
        tmp_path,
        GOOD
        + textwrap.dedent("""
        def reopen(ctx):
            pass

        FRESH_PHASES = [("reopen", reopen)]
        ROLES = {"save": ["flush"], "load": ["reopen"], "entry": ["flush", "reopen"]}
        PROCESS_TITLES = ("Writer",)
        TAPS = ["taps/store.toml"]
        """),
    )
    described = describe(load(path))
    assert [p["label"] for p in described["processes"]] == ["cycle", "fresh"]
    assert [p["title"] for p in described["processes"]] == ["Writer", "In a fresh process"]
    assert described["order"] == "flush, reopen"
    assert described["taps"] == [str(tmp_path / "taps" / "store.toml")]


def test_phases_run_in_order_with_state_per_context(tmp_path):
    loaded = load(write(tmp_path, GOOD + 'STATE = {"items": []}\n'))
    marks = []
    ctx = Context(str(tmp_path), str(tmp_path / "out"), "pkg", "pkg", "default", marks.append).start(loaded)
    contract.run(loaded, ctx, ["put", "flush"])
    assert marks == ["put", "flush"] and ctx.seen == ["put", "flush"] and ctx.phase == "flush"
    again = Context(str(tmp_path), "", "pkg", "pkg", "default", marks.append).start(loaded)
    ctx.items.append(1)
    assert again.items == []  # a fresh copy for every process


def test_a_phase_that_raises_ends_the_run(tmp_path):
    loaded = load(
        write(
            tmp_path,
            'def boom(ctx):\n    raise KeyError("x")\n\ndef never(ctx):\n    ctx.ran = True\n\n'
            'PHASES = [("boom", boom), ("never", never)]\n',
        )
    )
    ctx = Context("", "", "pkg", "pkg", "default", lambda name: None)
    with pytest.raises(KeyError):
        contract.run(loaded, ctx, ["boom", "never"])
    assert not hasattr(ctx, "ran")


@pytest.mark.parametrize(
    "module, variant, cycle",
    [
        ("harness.scenarios.tf_persistence", "default", tf.CYCLE),
        ("harness.scenarios.tf_persistence_train", "train", tf.TRAIN_CYCLE),
    ],
)
def test_the_shipped_scenario_describes_itself_as_before(module, variant, cycle):
    """The file form of tf-persistence carries the roles, chains, processes and prose the
    renderers had from harness/scenarios/persistence.py."""
    described = describe(load(module))
    before = tf.describe("tf-persistence", variant, [])
    assert [name for name, _ in load(module).phases] == list(cycle)
    assert described["chains"] == before["chains"] and described["processes"] == before["processes"]
    assert described["order"] == before["order"] and described["why"] == before["why"]
    for name, phases in described["roles"].items():
        assert phases == [p for p in before["roles"][name] if p in cycle + tf.FRESH_LOAD]
    assert described["contract"] is True


# -- the command line: checked before anything runs -------------------------------------


def test_a_bad_scenario_file_exits_2_and_traces_nothing(tmp_path):
    path = write(tmp_path, 'def put(ctx):\n    pass\n\nPHASES = [("put", put), ("put", put)]\n')
    out = tmp_path / "out"
    done = callchain("trace", "--scenario", path, "--out", str(out))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: bad scenario {path}:4: duplicate phase name 'put'")
    assert not out.exists()


def test_an_unknown_variant_of_the_shipped_scenario_exits_2(tmp_path):
    done = callchain("trace", "--variant", "bogus", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "unknown variant 'bogus'" in done.stderr and "trainflow" in done.stderr


# -- --publish --------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["/abs/reports", "../outside", "plans/../../x", ""])
def test_publish_stays_inside_the_root(tmp_path, folder):
    with pytest.raises(HarnessError):
        publish.check(tmp_path, folder)


def test_publish_never_follows_a_link_out_of_the_root(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir(), elsewhere.mkdir()
    (root / "plans").symlink_to(elsewhere)
    with pytest.raises(HarnessError, match="outside the target root"):
        publish.check(root, "plans")


def test_publish_copies_once_and_never_over_a_folder(tmp_path):
    report = tmp_path / "out" / "INIT" / "reports" / "2026-01-01T000000Z" / "phase_x"
    (report / "trace").mkdir(parents=True)
    (report / "summary.md").write_text("# s\n")
    base = publish.check(tmp_path / "root", "plans/active")
    copied = publish.copy(report, base, "INIT", "phase_x")
    assert copied == tmp_path / "root" / "plans" / "active" / "INIT" / "reports" / "2026-01-01T000000Z" / "phase_x"
    assert (copied / "summary.md").read_text() == "# s\n" and (copied / "trace").is_dir()
    with pytest.raises(HarnessError, match="already exists"):
        publish.copy(report, base, "INIT", "phase_x")


def test_the_recorder_marks_are_reserved_names(tmp_path):
    error = refused(write(tmp_path, 'def put(ctx):\n    pass\n\nPHASES = [("end", put)]\n'))
    assert "'end' is reserved" in error.problem and error.line == 4


def test_module_attribute_names_a_class_carrying_the_contract(tmp_path, monkeypatch):
    (tmp_path / "questions_mod.py").write_text(
        'def _put(ctx):\n    ctx.done = True\n\n\nclass Probe:\n    """Scale the probe."""\n\n'
        '    PHASES = [("put", _put)]\n    ROLES = {"entry": ["put"], "save": ["put"]}\n\n\n'
        'class Broken:\n    PHASES = [("put", 3)]\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    described = describe(load("questions_mod:Probe"))
    assert described["roles"]["save"] == ["put"] and described["why"] == "Scale the probe."
    error = refused("questions_mod:Broken")
    assert error.line == 13 and "not callable" in error.problem
    sys.modules.pop("questions_mod", None)
