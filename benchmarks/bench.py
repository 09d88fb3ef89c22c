"""Overhead of the recorder: the same scenario untraced and under each backend, alternating.

    python benchmarks/bench.py [--root PTYCHO_ROOT] [--pairs 3] [--backends monitoring,settrace,hunter]
                               [--variants default,train]

Each run is a real `callchain trace` (same subprocess set-up, imports included, fresh-load
process included); the measure is the run record's `durations.total` (wall time of the
traced processes). Runs alternate untraced/traced so machine noise hits both alike; the
ratio reported is the median of traced ÷ untraced over the pairs. Each scenario variant is
measured on its own (`train` runs the training path: one epoch, the per-batch calls included). Peak RSS is the largest
`ru_maxrss` of the run's traced processes. Results: a JSON file under --out and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.interpreter import probe  # noqa: E402


def run_once(root: Optional[str], backend: Optional[str], out: Path, variant: str = "default") -> Dict[str, float]:
    args = [sys.executable, "-m", "harness", "trace", "--out", str(out), "--variant", variant]
    args += ["--root", root] if root else []
    args += ["--backend", backend] if backend else ["--untraced"]
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed ({backend or 'untraced'}): {done.stderr.strip()}")
    record = json.loads((Path(done.stdout.strip().splitlines()[-1]) / "trace" / "run.json").read_text())
    rss = [p["peak_rss_kb"] for p in record["processes"] if p.get("peak_rss_kb")]
    return {"total": record["durations"]["total"], "seen": record["events"]["seen"],
            "kept": record["events"]["kept"], "peak_rss_kb": max(rss) if rss else None}


def bench_target(label: str, root: Optional[str], backends: List[str], pairs: int, out: Path,
                 variant: str = "default") -> Dict[str, object]:
    samples: Dict[str, List[Dict[str, float]]] = {name: [] for name in ["untraced", *backends]}
    for pair in range(pairs):
        order = ["untraced", *backends] if pair % 2 == 0 else [*backends, "untraced"]
        for name in order:
            samples[name].append(run_once(root, None if name == "untraced" else name, out, variant))
            print(f"  {label} pair {pair + 1}/{pairs} {name}: {samples[name][-1]['total']:.2f} s", file=sys.stderr)
    base = samples["untraced"]
    result: Dict[str, object] = {"untraced_total_median": statistics.median(s["total"] for s in base),
                                 "untraced_peak_rss_kb": max(s["peak_rss_kb"] or 0 for s in base), "backends": {}}
    for name in backends:
        runs = samples[name]
        ratios = [t["total"] / u["total"] for t, u in zip(runs, base)]
        result["backends"][name] = {
            "ratio_median": round(statistics.median(ratios), 3), "ratios": [round(r, 3) for r in ratios],
            "total_median": statistics.median(s["total"] for s in runs),
            "seen_per_s": round(statistics.median(s["seen"] / s["total"] for s in runs)),
            "kept_per_s": round(statistics.median(s["kept"] / s["total"] for s in runs), 1),
            "kept": runs[0]["kept"], "seen": runs[0]["seen"],
            "peak_rss_kb": max(s["peak_rss_kb"] or 0 for s in runs),
            "rss_ratio": round(max(s["peak_rss_kb"] or 0 for s in runs) / max(result["untraced_peak_rss_kb"], 1), 3),
        }
    result["samples"] = samples
    return result


def table(results: Dict[str, Dict[str, object]]) -> str:
    lines = ["| target | backend | traced ÷ untraced (median) | untraced s | calls kept | events seen/s | peak RSS ÷ untraced |",
             "|---|---|---|---|---|---|---|"]
    for label, result in results.items():
        for name, data in result["backends"].items():
            lines.append(f"| {label} | {name} | {data['ratio_median']:.2f} | {result['untraced_total_median']:.2f} | "
                         f"{data['kept']} | {data['seen_per_s']} | {data['rss_ratio']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.environ.get("PTYCHO_ROOT") or None, help="also benchmark this target (default: $PTYCHO_ROOT)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--backends", help="comma-separated (default: every backend this interpreter supports)")
    parser.add_argument("--variants", default="default,train", help="comma-separated scenario variants (default: default,train)")
    parser.add_argument("--out", default=str(REPO / "artifacts" / "bench"))
    args = parser.parse_args()
    info = probe(sys.executable)
    supported = (["monitoring"] if info["monitoring"] else []) + ["settrace"] + (["hunter"] if info["hunter"] else [])
    backends = args.backends.split(",") if args.backends else supported
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    roots = {"demo": None} | ({"ptychopinn": args.root} if args.root else {})
    variants = args.variants.split(",")
    targets = {f"{name} ({variant})": (root, variant) for name, root in roots.items() for variant in variants}
    with tempfile.TemporaryDirectory(dir=out, prefix="runs-") as runs:
        results = {label: bench_target(label, root, backends, args.pairs, Path(runs), variant)
                   for label, (root, variant) in targets.items()}
    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    document = {"python": sys.version.split()[0], "pairs": args.pairs,
                "targets": {k: {"root": root or "demo", "variant": variant} for k, (root, variant) in targets.items()},
                "results": results}
    path = out / f"bench-{stamp}.json"
    path.write_text(json.dumps(document, indent=2, sort_keys=True))
    print(f"Python {document['python']}, {args.pairs} pairs")
    print(table(results))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
