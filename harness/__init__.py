"""callchain: record how a ptycho-like codebase really runs, with path:line evidence.

One way through, one room per step (each subpackage's docstring says its job and what it
may import; `lint-imports` checks those rules, see `[tool.importlinter]` in pyproject.toml):

    scenarios/  the question a run asks, as phases        } run INSIDE the traced process:
    trace/      the recorder and its event streams        } standard library only
    run/        the harness side of a run: folders, interpreters, signals, publishing
    static/     evidence read without running the target: spec clauses, verdicts, PyTorch scan
    inspect/    `callchain inspect`: an archive judged without trusting it (stands alone)
    record/     the run record: its types, built from the streams, loaded, completed
    report/     the deliverables, rendered from the record alone

On top: `cli` (the command line), `runner` (one run, start to end) and `pytest_plugin`;
nothing imports them. Beside them, small helpers every room may use: `errors`, `contract`
(the archive contract, once), `frames`, `summarize`, `printable`, `privacy`, `resources`.
"""

__version__ = "0.1.0"
