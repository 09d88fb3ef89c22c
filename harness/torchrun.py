"""`callchain trace … --torch-python PY`: the TensorFlow run as without it, then the
torch-persistence run of the same target with `PY`, then the TensorFlow report rendered with
that run as its companion (summary.md: the recipe's PyTorch-run columns, § PyTorch side, as run).

The PyTorch run writes its own report (and scratch) under `<report>/torch/`, where
`<report>` is the TensorFlow report folder: `<report>/torch/<initiative>/reports/<stamp>/<plan
phase>/`. The TensorFlow run record names it (`companion`, relative to the report: see
`report/companion.py`), so `callchain render <report>` keeps the section. Should the TensorFlow
run fail, nothing more runs (its error as without the option). Should the PyTorch run fail or be
refused, the TensorFlow report is still rendered, its Gaps say what happened, and the command
exits with the PyTorch run's code (2 a refused input, 3 a failed run, 4 a changed tree, 128+N a
stop signal: README, Options).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

from .errors import HarnessError
from .record.types import RunRecord
from .report.render import attach, render_markdown
from .runner import Options, trace

TORCH_SCENARIO = "torch-persistence"
TORCH_FOLDER = "torch"  # under the TensorFlow report folder


def torch_options(options: Options, python: str, report: Path) -> Options:
    """The PyTorch run's options: the same target, recorder and question; its own scenario,
    interpreter, namespaces (the scenario's) and output folder; never published."""
    return replace(
        copy.deepcopy(options),
        scenario=TORCH_SCENARIO,
        variant="default",
        python=python,
        namespace="",
        config_global="",
        out=str(report / TORCH_FOLDER),
        publish=None,
        command=f"{options.command} (then: --scenario {TORCH_SCENARIO} --python {python})",
    )


def torch_report(report: Path, options: Options) -> Path | None:
    """The PyTorch run's report folder under `<report>/torch/`, if it wrote one."""
    found = sorted((report / TORCH_FOLDER / options.initiative / "reports").glob(f"*/{options.plan_phase}"))
    return found[-1] if found else None


def trace_with_torch(options: Options, python: str) -> tuple[Path, RunRecord, Path | None]:
    """(the TensorFlow report, its record, the PyTorch report or None); HarnessError when the
    TensorFlow run failed, or (after its report is rendered) when the PyTorch run did."""
    if options.publish:
        raise HarnessError(
            "--publish and --torch-python together would publish the report before the PyTorch run",
            "run with --torch-python first, then copy the report folder (or publish a run without it)",
        )
    given = copy.deepcopy(options)  # trace() fills in what it resolved; the PyTorch run resolves its own
    report, record = trace(options)
    problem, fix, code = None, "", 0
    try:
        trace(torch_options(given, python, report))
    except HarnessError as error:
        problem, fix, code = error.problem, error.fix, error.exit_code
    folder = torch_report(report, given)
    linked = attach(report, record, folder, problem)
    render_markdown(report, linked)
    if problem:
        raise HarnessError(
            f"the PyTorch run failed: {problem}",
            (f"{fix}\n  " if fix else "")
            + f"the TensorFlow report is complete: {report}\n  its Gaps say what the PyTorch run lacked"
            + (f"; the PyTorch report (partial): {folder}" if folder else ""),
            exit_code=code,
        )
    return report, record, folder
