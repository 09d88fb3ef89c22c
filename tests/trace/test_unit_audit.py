"""The one audit hook (audit.py): handlers get only their events, a failing one is contained."""

from __future__ import annotations

import os

from harness.trace import audit


def test_handler_sees_only_its_events_until_unwatched(tmp_path):
    seen: list[str] = []

    def handler(event: str, args: tuple) -> None:
        seen.append(event)

    audit.watch(["os.mkdir"], handler)
    try:
        os.listdir(tmp_path)  # audited (os.listdir), not watched by this handler
        os.mkdir(tmp_path / "a")
    finally:
        audit.unwatch(handler)
    os.mkdir(tmp_path / "b")
    assert seen == ["os.mkdir"]


def test_a_failing_handler_neither_reaches_the_target_nor_stops_the_others(tmp_path):
    seen: list[str] = []

    def broken(event: str, args: tuple) -> None:
        raise RuntimeError("recorder bug")

    def working(event: str, args: tuple) -> None:
        seen.append(os.fsdecode(args[0]))

    audit.watch(["os.mkdir"], broken)
    audit.watch(["os.mkdir"], working)
    try:
        os.mkdir(tmp_path / "c")  # must not raise
    finally:
        audit.unwatch(broken)
        audit.unwatch(working)
    assert seen == [str(tmp_path / "c")]
