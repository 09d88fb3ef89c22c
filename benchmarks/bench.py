"""Overhead of the recorder: the same scenario untraced and traced, alternating, per interpreter.

    python benchmarks/bench.py [--root PTYCHO_ROOT] [--pairs 3] [--python PY]... [--backends default,settrace]
                               [--variants default,train] [--torch-python .venv-torch/bin/python] [--torch-only]

Each run is a real `callchain trace --python PY` (same subprocess set-up, imports included,
fresh-load process included); the measure is the run record's `durations.total` (wall time
of the traced processes). Runs alternate untraced/traced so machine noise hits both alike;
the ratio reported is the median of traced ÷ untraced over the pairs, with its spread
(lowest–highest pair). The CPU time of the traced processes (user + system) is reported
beside it: on a busy machine it moves much less than wall time. Peak RSS is the largest
`ru_maxrss` of a run's traced processes.

`--scale N` (default 1,000,000; 0 skips it) adds one run of a generated TensorFlow-free
target making N tiny calls (benchmarks/scale.py): calls kept, report size, the harness's
peak RSS; `--scale-only` runs only that.

Interpreters: every `--python` given; else each of Python 3.10–3.13 found (this one, the
`python3.X` on PATH, pyenv's versions) that can import what the scenario needs
(TensorFlow, h5py, dill). `default` is the backend a user gets with no `--backend` (the
record says which one ran and whether it was accelerated). Results: a JSON file under
--out, and a Markdown table ready for the README.

The PyTorch side: with --root and a torch environment (`--torch-python`, default
`.venv-torch/bin/python` when `make torch-env` made it), the row `ptychopinn/torch-persistence`
runs `--scenario torch-persistence` with that interpreter only (Python 3.11); `--torch-only`
runs that row alone.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEEDS = ("tensorflow", "h5py", "dill")
_PROBE = (
    "import importlib.util as u, json, sys; print(json.dumps({'version': '.'.join(map(str, sys.version_info[:3])), "
    f"'prefix': sys.prefix, 'ready': all(u.find_spec(m) for m in {NEEDS!r})}}))"
)


def describe(python: str) -> dict | None:
    """Version, prefix, and whether it can run the scenario; None when it does not start."""
    try:
        done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return dict(json.loads(done.stdout.strip().splitlines()[-1]), python=python)


def candidates() -> list[str]:
    found = [sys.executable]
    found += [path for minor in range(10, 14) if (path := shutil.which(f"python3.{minor}"))]
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += sorted(glob.glob(os.path.join(pyenv, "versions", "3.1[0-3]*", "bin", "python3")))
    return found


def interpreters(given: list[str]) -> list[dict]:
    """One interpreter per minor version: those given, else the first found that can run the scenario."""
    chosen: dict[str, dict] = {}
    for python in given or candidates():
        info = describe(python)
        if info is None or (not given and not info["ready"]):
            continue
        if tuple(map(int, info["version"].split(".")[:2])) < (3, 10):
            continue
        minor = ".".join(info["version"].split(".")[:2])
        if given or minor not in chosen:
            chosen[info["python"] if given else minor] = info
    return sorted(chosen.values(), key=lambda info: tuple(map(int, info["version"].split("."))))


def run_once(python: str, root: str | None, backend: str | None, out: Path, variant: str) -> dict[str, object]:
    scenario, _, variant = variant.rpartition(":")  # "torch-persistence:default" names a scenario too
    args = [sys.executable, "-m", "harness", "trace", "--out", str(out), "--python", python, "--variant", variant]
    args += ["--scenario", scenario] if scenario else []
    args += ["--root", root] if root else []
    args += ["--untraced"] if backend is None else ([] if backend == "default" else ["--backend", backend])
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed ({python}, {backend or 'untraced'}): {done.stderr.strip()}")
    record = json.loads((Path(done.stdout.strip().splitlines()[-1]) / "trace" / "run.json").read_text())
    rss = [p["peak_rss_kb"] for p in record["processes"] if p.get("peak_rss_kb")]
    cpu = [p.get("cpu_seconds") for p in record["processes"]]
    recorder = record.get("recorder") or {}
    return {
        "total": record["durations"]["total"],
        "cpu": round(sum(cpu), 3) if cpu and None not in cpu else None,
        "seen": record["events"]["seen"],
        "kept": record["events"]["kept"],
        "peak_rss_kb": max(rss) if rss else None,
        "backend": recorder.get("backend"),
        "accelerated": recorder.get("accelerated"),
    }


def bench_one(
    label: str, python: str, root: str | None, backends: list[str], pairs: int, out: Path, variant: str
) -> dict[str, object]:
    samples: dict[str, list[dict[str, object]]] = {name: [] for name in ["untraced", *backends]}
    for pair in range(pairs):
        order = ["untraced", *backends] if pair % 2 == 0 else [*backends, "untraced"]
        for name in order:
            samples[name].append(run_once(python, root, None if name == "untraced" else name, out, variant))
            print(f"  {label} pair {pair + 1}/{pairs} {name}: {samples[name][-1]['total']:.2f} s", file=sys.stderr)
    base = samples["untraced"]
    base_rss = max(s["peak_rss_kb"] or 0 for s in base)
    result: dict[str, object] = {
        "untraced_total_median": statistics.median(s["total"] for s in base),
        "untraced_peak_rss_kb": base_rss,
        "backends": {},
    }
    for name in backends:
        runs = samples[name]
        ratios = [t["total"] / u["total"] for t, u in zip(runs, base)]
        cpu = [t["cpu"] / u["cpu"] for t, u in zip(runs, base) if t["cpu"] and u["cpu"]]
        rss = max(s["peak_rss_kb"] or 0 for s in runs)
        result["backends"][name] = {
            "backend": runs[0]["backend"],
            "accelerated": runs[0]["accelerated"],
            "ratio_median": round(statistics.median(ratios), 3),
            "ratios": [round(r, 3) for r in ratios],
            "cpu_ratio_median": round(statistics.median(cpu), 3) if cpu else None,
            "cpu_ratios": [round(r, 3) for r in cpu],
            "total_median": statistics.median(s["total"] for s in runs),
            "seen_per_s": round(statistics.median(s["seen"] / s["total"] for s in runs)),
            "kept": runs[0]["kept"],
            "seen": runs[0]["seen"],
            "kept_all_runs": sorted({s["kept"] for s in runs}),
            "peak_rss_kb": rss,
            "rss_ratio": round(rss / max(base_rss, 1), 3),
        }
    result["samples"] = samples
    return result


def table(results: dict[str, dict[str, object]], pairs: int) -> str:
    lines = [
        "| target/variant | interpreter | backend | traced ÷ untraced (median) | spread (pairs) | untraced s "
        "| CPU time ÷ untraced (spread) | peak RSS ÷ untraced | calls kept |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, result in results.items():
        target, version = label.split(" ", 1)
        for name, data in result["backends"].items():
            backend = f"`{data['backend']}`" + (" (default)" if name == "default" else "")
            ratios, cpu = data["ratios"], data["cpu_ratios"]
            cpu_text = f"{data['cpu_ratio_median']:.2f} ({min(cpu):.2f}–{max(cpu):.2f})" if cpu else "—"
            lines.append(
                f"| {target} | {version} | {backend} | {data['ratio_median']:.2f} | "
                f"{min(ratios):.2f}–{max(ratios):.2f} ({pairs}) | {result['untraced_total_median']:.1f} | "
                f"{cpu_text} | {data['rss_ratio']:.2f} | {data['kept']} |"
            )
    return "\n".join(lines)


TORCH_ROW = "torch-persistence:default"  # scenario:variant (run_once reads both)


def _torch_row(torch: dict, root: str, backends: list[str], pairs: int, runs: Path) -> dict[str, dict[str, object]]:
    """The torch-persistence row: that scenario, with the torch environment's interpreter only."""
    key = f"ptychopinn/torch-persistence {torch['version']}"
    print(f"Python {torch['version']} ({torch['python']}), torch-persistence", file=sys.stderr)
    result = bench_one(key, torch["python"], root, backends, pairs, runs, TORCH_ROW)
    result["python"] = torch["python"]
    return {key: result}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--root", default=os.environ.get("PTYCHO_ROOT") or None, help="benchmark this target (default: $PTYCHO_ROOT)"
    )
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        help="interpreter to run the scenario with (repeatable; default: found)",
    )
    parser.add_argument(
        "--backends",
        default="default",
        help="comma-separated: default (what a user gets), ctrace, settrace, monitoring, hunter",
    )
    parser.add_argument(
        "--variants",
        default="default,train",
        help="comma-separated scenario variants (default: default,train; train runs the training path: one epoch)",
    )
    parser.add_argument("--no-demo", action="store_true", help="skip the embedded demo target")
    parser.add_argument("--scale", type=int, default=1_000_000, help="calls of the scale row (0: no scale row)")
    parser.add_argument("--scale-only", action="store_true", help="only the scale row (no TensorFlow needed)")
    default_torch = REPO / ".venv-torch" / "bin" / "python"
    parser.add_argument(
        "--torch-python",
        default=str(default_torch) if default_torch.is_file() else None,
        help="the torch environment for the torch-persistence row (default: .venv-torch/bin/python when it exists)",
    )
    parser.add_argument("--torch-only", action="store_true", help="only the torch-persistence row (needs --root)")
    parser.add_argument("--out", default=str(REPO / "artifacts" / "bench"))
    return parser


def main() -> int:
    args = _parser().parse_args()
    if args.scale_only:
        return scale_row(args.scale or 1_000_000, Path(args.out))
    found = [] if args.torch_only else interpreters(args.python)
    if not found and not args.torch_only:
        raise SystemExit(
            "no Python 3.10+ interpreter that can import tensorflow, h5py and dill was found; pass --python PATH"
        )
    backends = args.backends.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    roots = ({} if args.no_demo else {"demo": None}) | ({"ptychopinn": args.root} if args.root else {})
    variants = args.variants.split(",")
    targets = {f"{name}/{variant}": (root, variant) for name, root in roots.items() for variant in variants}
    results: dict[str, dict[str, object]] = {}
    torch = describe(args.torch_python) if args.root and args.torch_python else None
    if args.torch_only and torch is None:
        raise SystemExit("--torch-only needs --root and a torch environment (make torch-env, or --torch-python PATH)")
    with tempfile.TemporaryDirectory(dir=out, prefix="runs-") as runs:
        for info in found:
            print(f"Python {info['version']} ({info['python']})", file=sys.stderr)
            for label, (root, variant) in targets.items():
                key = f"{label} {info['version']}"
                results[key] = bench_one(key, info["python"], root, backends, args.pairs, Path(runs), variant)
                results[key]["python"] = info["python"]
        if torch is not None:
            targets["ptychopinn/torch-persistence"] = (args.root, TORCH_ROW)
            results.update(_torch_row(torch, args.root, backends, args.pairs, Path(runs)))
            found = [*found, torch]
    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    command = shlex.join(["python", "benchmarks/bench.py", *sys.argv[1:]])
    document = {
        "pairs": args.pairs,
        "command": command,
        "interpreters": found,
        "targets": {k: {"root": root or "demo", "variant": variant} for k, (root, variant) in targets.items()},
        "results": results,
    }
    path = out / f"bench-{stamp}.json"
    path.write_text(json.dumps(document, indent=2, sort_keys=True))
    print(f"{args.pairs} alternating pairs per row; reproduce with: {command}")
    print(table(results, args.pairs))
    print(path)
    return scale_row(args.scale, out) if args.scale else 0


def scale_row(calls: int, out: Path) -> int:
    """The scale row (benchmarks/scale.py): printed as a table, saved as JSON under `out`."""
    from scale import bench_scale, scale_table

    out.mkdir(parents=True, exist_ok=True)
    row = bench_scale(calls, out)
    path = out / f"scale-{time.strftime('%Y-%m-%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(row, indent=2, sort_keys=True))
    print(scale_table([row]))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
