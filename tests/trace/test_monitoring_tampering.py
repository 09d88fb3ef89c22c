"""What a target does to `sys.monitoring` is said as what was seen: the `monitoring` backend's
check names the events, callbacks or local events of callchain's tool the target touched and
what they feed, puts its own back, and keeps a note (not a loss) for what hid nothing — extra
events, a freed or renamed tool id, any use of the other tool ids."""

from __future__ import annotations

import sys

import pytest
from inprocess import MINIPKG, record_package

pytestmark = pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is Python 3.12+")


def _traced(tmp_path, tamper):
    """minipkg.core.outer(1), `tamper(monitoring, callchain's tool id, core)`, outer(2), outer(3)."""

    def drive(imp):
        monitoring = sys.monitoring
        ours = next(tool for tool in range(6) if monitoring.get_tool(tool) == "callchain")
        core = imp("minipkg.core")
        core.outer(1)
        tamper(monitoring, ours, core)
        core.outer(2)
        core.outer(3)

    record = record_package(tmp_path, MINIPKG, drive, "monitoring")
    assert record["raised"] is None, record["raised"]
    process = record["processes"][0]
    outers = [call for call in record["calls"] if call["function"] == "minipkg.core:outer"]
    return [loss["reason"] for loss in process["losses"]], process["notes"], len(outers)


def _other_tools(monitoring, ours, core):
    """A profiler of the target's own on every free tool id, one that disables what it sees."""
    for tool in range(6):
        if monitoring.get_tool(tool) is None:
            monitoring.use_tool_id(tool, "targets-own")
            monitoring.register_callback(tool, monitoring.events.PY_START, lambda code, offset: monitoring.DISABLE)
            monitoring.set_events(tool, monitoring.events.PY_START | monitoring.events.LINE)
    core.outer(7)
    for tool in range(6):
        if monitoring.get_tool(tool) == "targets-own":
            monitoring.set_events(tool, 0)
            monitoring.free_tool_id(tool)


def test_other_tool_ids_are_the_targets_own_business(tmp_path):
    losses, notes, outers = _traced(tmp_path, _other_tools)
    assert losses == [] and notes == [] and outers == 4


def test_a_replaced_line_callback_keeps_every_call_and_says_so(tmp_path):
    losses, notes, outers = _traced(tmp_path, lambda m, ours, core: m.register_callback(ours, m.events.LINE, None))
    assert outers == 3
    (loss,) = losses
    assert "replaced callchain's LINE event callback" in loss and "every call was still recorded" in loss
    assert "cannot tell whether there were any" in loss and "put its own back" in loss
    assert "events were lost" not in loss


def test_a_replaced_start_callback_says_calls_may_be_missing(tmp_path):
    losses, notes, outers = _traced(tmp_path, lambda m, ours, core: m.register_callback(ours, m.events.PY_START, None))
    assert outers == 1 and any("PY_START event callback" in loss and "calls that started" in loss for loss in losses)


def test_events_switched_off_are_named_and_switched_on_again(tmp_path):
    losses, notes, outers = _traced(tmp_path, lambda m, ours, core: m.set_events(ours, 0))
    assert any("switched off PY_START, PY_RESUME, PY_UNWIND, PY_THROW events" in loss for loss in losses)


def test_extra_events_hide_nothing_and_are_a_note(tmp_path):
    losses, notes, outers = _traced(
        tmp_path, lambda m, ours, core: m.set_events(ours, m.get_events(ours) | m.events.BRANCH)
    )
    assert losses == [] and outers == 3
    assert len(notes) == 1 and "switched on BRANCH event" in notes[0] and "nothing was missed" in notes[0]


def test_a_freed_tool_id_still_delivers_and_is_taken_back(tmp_path):
    losses, notes, outers = _traced(tmp_path, lambda m, ours, core: m.free_tool_id(ours))
    assert losses == [] and outers == 3
    assert len(notes) == 1 and "freed sys.monitoring tool" in notes[0] and "took it back" in notes[0]


def test_local_events_of_kept_code_changed_are_named(tmp_path):
    losses, notes, outers = _traced(tmp_path, lambda m, ours, core: m.set_local_events(ours, core.leaf.__code__, 0))
    assert any("changed the local events" in loss and "leaf" in loss for loss in losses)
