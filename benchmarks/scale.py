"""The report at scale: a generated target making N tiny namespace calls in a loop.

    python benchmarks/bench.py --scale-only [--scale 1000000]

One traced run of a TensorFlow-free target (`loop.spin(N)` calling `loop.tick(n)` N times)
with this interpreter: what the report keeps (calls kept, calls stored in run.json, the
`×N` line of dynamic.txt), how large it is (the report folder, run.json, trace.json, the
shipped event streams), and the peak RSS of callchain's own process (the harness, not the
traced one: `ru_maxrss` of its own process, printed at its exit).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TARGET = """
def tick(n):
    return None


def spin(count):
    for n in range(count):
        tick(n)
"""

SCENARIO = '''
"""Many tiny calls in a loop."""


def run(ctx):
    import loop

    loop.spin({count})


PHASES = [("loop", run)]
'''

# The harness's own peak RSS, printed when it exits (its traced children are not counted).
WRAPPER = (
    "import atexit, resource, runpy, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "'callchain-peak-rss-kb %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    "sys.argv = ['callchain', *sys.argv[1:]]\n"
    "runpy.run_module('harness', run_name='__main__')\n"
)


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def bench_scale(calls: int, out: Path) -> dict[str, object]:
    """One traced run of the generated target with `calls` calls; what its report holds."""
    with tempfile.TemporaryDirectory(dir=out, prefix="scale-") as work:
        root = Path(work) / "target"
        (root / "loop").mkdir(parents=True)
        (root / "loop" / "__init__.py").write_text(textwrap.dedent(TARGET).lstrip())
        scenario = Path(work) / "loop_scenario.py"
        scenario.write_text(SCENARIO.format(count=calls))
        args = [sys.executable, "-c", WRAPPER, "trace", "--root", str(root), "--scenario", str(scenario)]
        args += ["--package", "loop", "--out", str(Path(work) / "out")]
        started = time.monotonic()
        done = subprocess.run(
            args, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO))
        )
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"scale run failed: {done.stderr.strip()}")
        report = Path(done.stdout.strip().splitlines()[-1])
        record = json.loads((report / "trace" / "run.json").read_text())
        folded = re.search(r"×(\d+)", (report / "callgraph" / "dynamic.txt").read_text())
        peak = re.search(r"callchain-peak-rss-kb (\d+)", done.stderr)
        streams = sorted((report / "trace").glob("events-*"))
        return {
            "calls": calls,
            "kept": record["events"]["kept"],
            "stored": len(record["calls"]),
            "folded_line": int(folded.group(1)) if folded else None,
            "report_bytes": _size(report),
            "run_json_bytes": (report / "trace" / "run.json").stat().st_size,
            "trace_json_bytes": (report / "trace" / "trace.json").stat().st_size,
            "events_bytes": sum(path.stat().st_size for path in streams),
            "events_files": [path.name for path in streams],
            "harness_peak_rss_kb": int(peak.group(1)) if peak else None,
            "wall_seconds": round(wall, 1),
            "python": ".".join(map(str, sys.version_info[:3])),
        }


def _mb(size: object) -> str:
    number = int(size)  # type: ignore[call-overload]
    return f"{number / 1e6:.1f} MB" if number >= 1e6 else f"{number / 1e3:.1f} kB"


def scale_table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| calls made | interpreter | calls kept | stored in run.json | dynamic.txt | report folder | run.json "
        "| trace.json | event streams (shipped) | harness peak RSS | wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['calls']:,} | {row['python']} | {row['kept']:,} | {row['stored']:,} | ×{row['folded_line']} "
            f"| {_mb(row['report_bytes'])} | {_mb(row['run_json_bytes'])} | {_mb(row['trace_json_bytes'])} "
            f"| {_mb(row['events_bytes'])} ({', '.join(row['events_files'])}) "  # type: ignore[arg-type]
            f"| {_mb(int(row['harness_peak_rss_kb']) * 1024)} | {row['wall_seconds']} s |"  # type: ignore[call-overload]
        )
    return "\n".join(lines)
