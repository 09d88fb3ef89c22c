"""The soak: many demo runs, two at a time, none may fail (`make soak`; deselected by default).

Written for a fresh process that once ended with SIGKILL under load: the harness signalled
the process group of a traced process after reaping its leader, and on a busy machine
(pid_max 32768, TensorFlow's threads) that number may already lead another run's group.
`CALLCHAIN_SOAK_RUNS` sets how many runs (default 40), `CALLCHAIN_SOAK_PARALLEL` how many
at a time (default 2).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tracing import trace

RUNS = int(os.environ.get("CALLCHAIN_SOAK_RUNS", "40"))
PARALLEL = int(os.environ.get("CALLCHAIN_SOAK_PARALLEL", "2"))


@pytest.mark.slow
@pytest.mark.soak
def test_demo_runs_two_at_a_time_never_fail(tmp_path):
    def one(number: int) -> tuple[int, int, float, str]:
        started = time.monotonic()
        run = trace(None, tmp_path / f"run{number}", timeout=600)
        return number, run.code, time.monotonic() - started, run.stderr[-600:]

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(one, range(RUNS)))
    failed = [(number, code, tail) for number, code, _, tail in results if code != 0]
    seconds = sorted(wall for _, _, wall, _ in results)
    print(
        f"soak: {RUNS} demo runs, {PARALLEL} at a time, {len(failed)} failed;"
        f" wall per run {seconds[0]:.1f}-{seconds[-1]:.1f} s (median {seconds[len(seconds) // 2]:.1f} s)"
    )
    assert failed == [], failed
