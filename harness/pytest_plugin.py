"""pytest plugin: the traced save/load cycle as fixtures, for tests that assert on how code runs.

Installed with the package (entry point `pytest11: callchain`), so any test can ask for

* `callchain_run` (session): the scenario traced once, exactly as `callchain trace` does
  (the runner spawns the traced subprocess), returned as a `CallchainRun`;
* `replay_save_load` (function): a fresh folder holding a copy of the `wts.h5.zip` the cycle
  wrote, to load, inspect or hand to another loader without touching the run's own copy;
* `callchain_parity` (function): `assert callchain_parity(tf_archive, my_archive)` holds when the
  second archive (or run) meets every contract clause the first meets (`callchain parity`); a
  failure lists the clauses it breaks, with their spec `path:line` when the target root is known.

The target is `--callchain-root ROOT`, else `$PTYCHO_ROOT`, else the embedded demo. The
traced run happens in another process, and this module imports only the standard library
and pytest at import time: torch, tensorflow and jinja2 stay out of the test process until
a fixture is used (and the tracer itself never brings torch or tensorflow in).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .contract import ARCHIVE_NAME


@dataclass(frozen=True)
class CallchainRun:
    """One traced run, read from its `trace/run.json` (the same record `callchain diff` reads).

    Sequences are tuples of the record's plain dicts, in the record's order; `record` is the
    whole run record for anything not surfaced here."""

    report: Path
    record: Mapping[str, Any] = field(repr=False)
    calls: tuple[dict[str, Any], ...] = field(repr=False)
    edges: tuple[dict[str, Any], ...] = field(repr=False)
    phases: tuple[dict[str, Any], ...] = field(repr=False)
    taps: Mapping[str, tuple[dict[str, Any], ...]] = field(repr=False)
    config_diff: tuple[dict[str, Any], ...] = field(repr=False)
    archive: dict[str, Any] | None = field(repr=False)
    files_written: tuple[dict[str, Any], ...] = field(repr=False)

    @classmethod
    def load(cls, report: Path) -> CallchainRun:
        """Read a report folder written by `callchain trace`."""
        from .record.runjson import load

        record: dict[str, Any] = dict(load(str(report)))
        taps: dict[str, list[dict[str, Any]]] = {}
        for hit in record.get("tap_hits", []):
            taps.setdefault(hit["key"], []).append(hit)
        return cls(
            report=Path(report),
            record=record,
            calls=tuple(record["calls"]),
            edges=tuple(record["edges"]),
            phases=tuple(record["phases"]),
            taps={key: tuple(hits) for key, hits in taps.items()},
            config_diff=tuple((record.get("config") or {}).get("changes", [])),
            archive=record.get("archive_description"),
            files_written=tuple(s for s in record.get("sinks", []) if s.get("op") != "read"),
        )

    @property
    def status(self) -> str:
        """'ok', 'partial' or 'failed' (a fixture only returns runs that did not fail)."""
        return self.record["status"]

    @property
    def archive_path(self) -> Path:
        """The archive the cycle wrote, in the run's scratch folder (copy it before changing it)."""
        return Path(self.record["archive"])

    def functions(self) -> list[str]:
        """Distinct `module:qualname` names in first-call order."""
        return list(dict.fromkeys(call["function"] for call in self.calls))

    def anchor(self, function: str) -> str | None:
        """`path:line` of the def line of `function`'s first call (None: not called, or generated code)."""
        return next((call["anchor"] for call in self.calls if call["function"] == function), None)

    def calls_of(self, function: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["function"] == function]

    def tap(self, key: str) -> str | None:
        """The first value a tap observed (None when it was never hit)."""
        return next((hit["value"] for hit in self.taps.get(key, ()) if hit["status"] == "hit"), None)

    def writes(self) -> list[dict[str, Any]]:
        """The file writes among `files_written` (which also holds mkdir, remove, rmtree...)."""
        return [sink for sink in self.files_written if sink["op"] == "write"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("callchain", "callchain: traced save/load cycle fixtures")
    group.addoption(
        "--callchain-root",
        default=None,
        metavar="ROOT",
        help="target checkout for the callchain_run fixture (default: $PTYCHO_ROOT, else the embedded demo)",
    )
    group.addoption(
        "--callchain-out",
        default=None,
        metavar="DIR",
        help="keep the callchain_run report under DIR (default: a pytest temporary folder)",
    )
    group.addoption(
        "--callchain-scenario",
        default=None,
        metavar="FILE",
        help="scenario the callchain_run fixture traces: a scenario file (.py), module:attribute, or a shipped "
        "name (default: tf-persistence)",
    )
    group.addoption(
        "--callchain-package",
        default=None,
        metavar="NAME",
        help="the target's package the scenario drives (default: ptycho)",
    )
    group.addoption("--callchain-variant", default=None, metavar="NAME", help="scenario variant (default: default)")


def _root(config: pytest.Config) -> str | None:
    return config.getoption("callchain_root") or os.environ.get("PTYCHO_ROOT") or None


@pytest.fixture(scope="session")
def callchain_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CallchainRun:
    """The scenario traced once per test session; a failed run fails every test that uses it."""
    from .errors import HarnessError
    from .run.resolve import is_shipped
    from .runner import Options, trace

    root = _root(request.config)
    out = request.config.getoption("callchain_out") or str(tmp_path_factory.mktemp("callchain"))
    chosen = {name: request.config.getoption(f"callchain_{name}") for name in ("scenario", "package", "variant")}
    chosen = {name: value for name, value in chosen.items() if value}
    command = (
        "pytest callchain_run"
        + (f" --callchain-root {root}" if root else "")
        + "".join(f" --callchain-{name} {value}" for name, value in chosen.items())
    )
    try:
        options = Options(root=root, out=out, command=command, **chosen)
        if "scenario" in chosen and not is_shipped(chosen["scenario"]):
            options.scope_hints = []
        report, _ = trace(options)
    except HarnessError as error:
        failure = error.message()
    else:
        return CallchainRun.load(report)
    pytest.fail(failure, pytrace=False)  # outside the except: no chained "during handling" noise


@pytest.fixture
def replay_save_load(callchain_run: CallchainRun, tmp_path: Path) -> Path:
    """A fresh folder holding a copy of the run's `wts.h5.zip` (its base path is `folder / "wts.h5"`)."""
    source = callchain_run.archive_path
    if not source.is_file():
        pytest.fail(
            f"error: the traced run wrote no archive at {source}\n  fix: see {callchain_run.report / 'summary.md'}",
            pytrace=False,
        )
    shutil.copy2(source, tmp_path / ARCHIVE_NAME)
    return tmp_path


@pytest.fixture
def callchain_parity(request: pytest.FixtureRequest) -> Any:
    """A function ``(a, b, *, root=..., rel_tol=1e-6) -> ParityResult``, true when B meets every clause A meets.

    A and B are archives (``wts.h5.zip``, ``wts.h5`` or their folder) or report folders; both are read
    by inspect's sandboxed reader. The spec is read from ``root`` (default: ``--callchain-root`` or
    ``$PTYCHO_ROOT`` when set). Hostile or unreadable input makes the result false (exit 2).
    """
    from .errors import HarnessError
    from .report.parity import ParityResult, parity

    default_root = _root(request.config)

    def check(a: Any, b: Any, *, root: str | None = default_root, rel_tol: float = 1e-6) -> ParityResult:
        try:
            return parity(os.fspath(a), os.fspath(b), root=root, rel_tol=rel_tol)
        except HarnessError as error:
            failure = error.message()
        pytest.fail(failure, pytrace=False)

    return check
