"""The `callchain` command line: parse arguments, call one function, print one answer."""

from __future__ import annotations

import argparse
import shlex
import sys

from . import __version__
from .errors import HarnessError
from .privacy import scrub_argv
from .report.diff import add_arguments as diff_arguments
from .report.parity import add_arguments as parity_arguments
from .run.resolve import is_shipped
from .run.stop import Stopped, adopt_orphans
from .runner import DEFAULT_QUESTION, DEFAULT_SCOPE_HINTS, Options


def _trace_parser(sub) -> None:
    """`callchain trace`: what runs, where its report goes, how it is recorded (in --help order)."""
    p = sub.add_parser("trace", help="run the save/load cycle under the recorder and write a report folder")
    _scenario_arguments(p)
    _report_arguments(p)
    _recording_arguments(p)
    p.add_argument(
        "--torch-python",
        metavar="PY",
        help="then run the torch-persistence scenario with PY into <report>/torch/ and render summary.md with it "
        "(the PyTorch side as run); exit: the PyTorch run's code when it fails (the TensorFlow report is complete)",
    )
    p.add_argument(  # last: it acts after the run and its evidence check
        "--publish",
        metavar="DIR",
        help="after the run and its evidence check, copy the report to <root>/DIR/<initiative>/reports/<stamp>/<plan phase>/ "
        "(the one write inside the target; never over an existing folder)",
    )


def _scenario_arguments(p: argparse.ArgumentParser) -> None:
    """The target and what the scenario does with it."""
    p.add_argument("--root", help="the target checkout (the folder holding ptycho/); default: the embedded demo target")
    p.add_argument("--package", default="ptycho", help="the target's package the scenario drives (default: ptycho)")
    p.add_argument("--namespace", default="", help="keep calls of modules NAME and NAME.* only (default: the package)")
    p.add_argument(
        "--scenario",
        default="tf-persistence",
        help="a shipped scenario (tf-persistence), a scenario file (.py) or module:attribute (README: 'Ask your own question')",
    )
    p.add_argument(
        "--variant",
        default="default",
        help="tf-persistence: default (ModelManager.save_multiple_models), trainflow (ptycho.model_manager.save(out)), "
        "train (simulate data, run_cdi_example for one epoch, then model_manager.save(out)); a file may declare VARIANTS",
    )


def _report_arguments(p: argparse.ArgumentParser) -> None:
    """Where the report goes and the question it answers."""
    p.add_argument(
        "--initiative", default="INTEGRATE-PYTORCH-001", help="initiative id: <out>/<initiative>/reports/..."
    )
    p.add_argument("--plan-phase", default="phase_d3_callchain", help="report subfolder (not a scenario phase)")
    p.add_argument("--question", default=DEFAULT_QUESTION, help="the analysis question the report answers")
    p.add_argument(
        "--scope-hint", action="append", dest="scope_hints", help="term that ranks entry points (repeatable)"
    )
    p.add_argument("--out", default="artifacts", help="output folder (default: artifacts)")


def _recording_arguments(p: argparse.ArgumentParser) -> None:
    """How the traced processes run and what the recorder keeps."""
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before a traced process is stopped (default 600)"
    )
    p.add_argument(
        "--untraced", action="store_true", help="run the same scenario without the recorder (overhead baseline)"
    )
    p.add_argument(
        "--backend",
        choices=["monitoring", "ctrace", "settrace", "hunter"],
        help="recorder backend (default: fastest available; ctrace is settrace with a C filter, built on first use)",
    )
    p.add_argument("--python", help="interpreter that runs the scenario (e.g. your PtychoPINN environment)")
    p.add_argument("--taps", action="append", default=[], help="extra tap-point TOML file (repeatable)")
    p.add_argument("--replace-taps", action="store_true", help="use only the --taps files, not the shipped ones")
    p.add_argument(
        "--no-fresh-load",
        dest="fresh_load",
        action="store_false",
        help="skip the second process that loads the archive fresh",
    )
    p.add_argument(
        "--config-global",
        default="",
        help="global dict to follow, MODULE:NAME, or 'none' (default: the scenario's CONFIG_GLOBAL, else <package>.params:cfg)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callchain", description="Record how a ptycho-like codebase really runs its save/load cycle."
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    parser.add_argument("--version", action="version", version=f"callchain {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _trace_parser(sub)
    render = sub.add_parser("render", help="rebuild the Markdown/Mermaid deliverables from trace/run.json")
    render.add_argument("report", help="a report folder (…/<plan phase>/)")
    render.add_argument(
        "--companion",
        metavar="TORCH_REPORT",
        help="a torch-persistence report of the same revision: named in REPORT's run.json, then summary.md "
        "shows the PyTorch side as run (recipe columns, § PyTorch side, as run)",
    )
    inspect = sub.add_parser("inspect", help="describe a wts.h5.zip safely and check it against the contract")
    inspect.add_argument("archive")
    inspect.add_argument("--json", action="store_true", help="print the description as one JSON document")
    inspect.add_argument(
        "--root",
        help="the target checkout whose spec (specs/, docs/) names the clauses: each failed check cites its path:line",
    )
    from .inspect.cli import add_limit_flags

    add_limit_flags(inspect)
    diff_arguments(
        sub.add_parser("diff", help="compare the call chains of two report folders (exit 1 when they differ)")
    )
    parity_arguments(
        sub.add_parser("parity", help="two archives (or runs) side by side: exit 1 when B breaks a clause A meets")
    )
    return parser


def _trace(args: argparse.Namespace, argv: list[str]) -> int:
    from .runner import trace

    options = Options(
        root=args.root,
        namespace=args.namespace,
        package=args.package,
        scenario=args.scenario,
        variant=args.variant,
        initiative=args.initiative,
        plan_phase=args.plan_phase,
        question=args.question,
        scope_hints=args.scope_hints or (list(DEFAULT_SCOPE_HINTS) if is_shipped(args.scenario) else []),
        out=args.out,
        timeout=args.timeout,
        untraced=args.untraced,
        backend=args.backend,
        python=args.python,
        taps=args.taps,
        replace_taps=args.replace_taps,
        fresh_load=args.fresh_load,
        config_global=args.config_global,
        publish=args.publish,
        command="callchain " + " ".join(shlex.quote(a) for a in scrub_argv(argv)),
    )
    adopt_orphans()  # a process the target detaches from its group can still be ended
    if args.torch_python:
        from .torchrun import trace_with_torch

        report, record, torch_report = trace_with_torch(options, args.torch_python)
        print(f"calls kept: {record['events']['kept']}, status: {record['status']}; PyTorch run: {torch_report}")
    else:
        report, record = trace(options)
        print(f"calls kept: {record['events']['kept']}, status: {record['status']}")
    print(report)
    return 0


def _render(args: argparse.Namespace) -> int:
    from .report.render import rerender

    print(rerender(args.report, args.companion))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from .inspect.cli import main as inspect_main

    limits = [
        "--max-seconds",
        str(args.max_seconds),
        "--max-memory",
        str(args.max_memory),
        "--max-ops",
        str(args.max_ops),
    ]
    spec = None
    if args.root:
        from .static.speclink import checked_root, root_linker

        spec = root_linker(checked_root(args.root))
    # the path goes last, after '--': a path that starts with '-' is a path, not an option
    return inspect_main((["--json"] if args.json else []) + limits + ["--", args.archive], spec=spec)


def _diff(args: argparse.Namespace) -> int:
    from .report.diff import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "trace":
            return _trace(args, argv)
        if args.command == "render":
            return _render(args)
        if args.command == "diff":
            return _diff(args)
        if args.command == "parity":
            from .report.parity import run as parity_run

            return parity_run(args)
        return _inspect(args)
    except HarnessError as error:
        if args.debug:
            raise
        print(error.message(), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Stopped as stop:  # a second stop signal while the report was being written
        print(f"error: interrupted by {stop} before the report was complete", file=sys.stderr)
        return stop.exit_code


if __name__ == "__main__":
    sys.exit(main())
