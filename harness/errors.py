"""One kind of expected failure: a problem the user can fix, said plainly."""

from __future__ import annotations

import signal

from .printable import printable


class HarnessError(Exception):
    """A bad input or a failed run: what went wrong, and what to do about it."""

    def __init__(self, problem: str, fix: str = "", exit_code: int = 2) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.exit_code = exit_code

    def message(self) -> str:
        """`error: problem` and `  fix: …`, printable: a problem may quote the target (an exception
        message, a path), so it is escaped whole; the fix's own line breaks are kept."""
        fix = "\n".join(printable(line) for line in self.fix.split("\n"))
        return f"error: {printable(self.problem)}" + (f"\n  fix: {fix}" if self.fix else "")


def signal_name(signum: int) -> str:
    """How a stop signal is named in messages (`SIGINT`), also for numbers the OS does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
