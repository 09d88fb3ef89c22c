"""One kind of expected failure: a problem the user can fix, said plainly."""

from __future__ import annotations

import signal


class HarnessError(Exception):
    """A bad input or a failed run: what went wrong, and what to do about it."""

    def __init__(self, problem: str, fix: str = "", exit_code: int = 2) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.exit_code = exit_code

    def message(self) -> str:
        return f"error: {self.problem}" + (f"\n  fix: {self.fix}" if self.fix else "")


def signal_name(signum: int) -> str:
    """How a stop signal is named in messages (`SIGINT`), also for numbers the OS does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
