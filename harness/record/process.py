"""One traced process's event stream folded into calls, phases and observations.

The fold is where the recorder's view (events in the order threads wrote them, indices as
the recorder gave them) becomes the record's (calls in a canonical order, renumbered), so
it is kept apart from joining the processes into a run record (`build`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..summarize import PathScrubber
from .foldcalls import CallFolder


def anchor(path: str | None, line: int | None) -> str | None:
    """`path:line`: how the record names a def line (None: the code has no source file)."""
    return None if path is None else f"{path}:{line}"


class FoldedProcess:
    """Folds one process's events into calls, phases and observations.

    Calls are collected by the index the recorder gave them (threads write their events
    concurrently, so the file order is not the index order), then put in a canonical order
    that does not depend on how threads were scheduled: per phase, the main thread's calls,
    then each other thread's (by label), each thread's root calls with their subtrees in
    the order they started. Indices are renumbered in that order, so everything downstream
    (dynamic.txt, edges, diagrams) is identical between runs of deterministic code."""

    def __init__(
        self, label: str, events: Iterable[dict[str, Any]], offset: int, scrub: PathScrubber, cap: int | None = None
    ) -> None:
        """`cap`: fold (and past it, drop) calls while reading, for a stream of more calls (`foldcalls`)."""
        self.label = label
        self.offset = offset
        self.scrub = scrub
        self.calls: list[dict[str, Any]] = []
        self._raw: dict[int, dict[str, Any]] = {}
        self.phases: list[dict[str, Any]] = []
        self.taps: list[dict[str, Any]] = []
        self.config_changes: list[dict[str, Any]] = []
        self.snapshots: dict[str, dict[str, Any] | None] = {}
        self.sinks: list[dict[str, Any]] = []
        self.library: dict[tuple, dict[str, Any]] = {}
        self.losses: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.torch: list[dict[str, Any]] = []
        self.forks: list[dict[str, Any]] = []
        self.started: list[dict[str, Any]] = []
        self.start: dict[str, Any] = {}
        self.end: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.last_t = 0.0
        self.folder = CallFolder(self._raw, cap) if cap is not None else None
        for event in events:
            self.last_t = max(self.last_t, event.get("t") or 0.0)
            getattr(self, "_on_" + str(event.get("e")), self._ignore)(event)
        self._order()

    def _ignore(self, event: dict[str, Any]) -> None:
        pass

    def _on_start(self, event):
        self.start = event
        if (event.get("fork") is not None or event.get("spawn")) and not self.phases:
            self.phases.append({"name": event.get("ph") or "start", "process": self.label, "t": event["t"], "calls": 0})

    def _on_end(self, event):
        self.end = event

    def _on_error(self, event):
        self.error = dict(event, process=self.label)

    def _on_phase(self, event):
        self.phases.append({"name": event["name"], "process": self.label, "t": event["t"], "calls": 0})

    def _on_lost(self, event):
        self.losses.append({"reason": event["reason"], "phase": event["ph"], "process": self.label})

    def _on_note(self, event):
        if event["text"] not in self.notes:
            self.notes.append(event["text"])

    def _on_torch(self, event):
        self.torch.append(
            {"module": event["module"], "importer": event["importer"], "phase": event["ph"], "process": self.label}
        )

    def _on_proc(self, event):
        self.started.append(
            {
                "how": event["how"],
                "program": event["program"],
                "by": event.get("by"),
                "thread": event.get("th", "main"),
                "phase": event["ph"],
                "process": self.label,
            }
        )

    def _on_fork(self, event):
        self.forks.append(
            {"n": event["n"], "phase": event["ph"], "thread": event.get("th", "main"), "process": self.label}
        )

    def _on_call(self, event):
        if self.folder is not None and self.folder.drops(event):
            return
        parent = self._raw.get(event["p"]) if event["p"] is not None else None
        self._raw[event["i"]] = {
            "i": event["i"],
            "process": self.label,
            "phase": event["ph"],
            "depth": parent["depth"] + 1 if parent else 0,
            "thread": event.get("th", "main"),
            "thread_n": event.get("tn", 0),
            "module": event["mod"],
            "qualname": event["q"],
            "function": f"{event['mod']}:{event['q']}",
            "anchor": anchor(event["path"], event["line"]),
            "path": event["path"],
            "line": event["line"],
            "parent": event["p"] if parent else None,
            "call_line": event["cl"] if parent else None,
            "call_site": f"{parent['path']}:{event['cl']}" if parent and parent["path"] else None,
            "direct": event.get("dr", False) if parent else False,
            "returned": None,
            "t0": event["t"],
            "t1": None,
        }
        if self.folder is not None:
            self.folder.opened(self._raw[event["i"]])

    def _on_ret(self, event):
        if self.folder is not None and self.folder.returned(event["i"]):
            return
        call = self._raw.get(event["i"])
        if call is not None:
            first = call["t1"] is None
            call["returned"] = event["v"]
            call["t1"] = event["t"]
            if self.folder is not None and first:
                self.folder.closed(call)

    def _on_tap(self, event):
        self.taps.append(dict(event, process=self.label))
        if self.folder is not None:
            self.folder.referenced.add(event.get("call"))

    def _on_cfg(self, event):
        if self.folder is not None:
            self.folder.referenced.add(event["by"])
        self.config_changes.append(
            {
                "key": event["key"],
                "op": event["op"],
                "old": event["old"],
                "new": event["new"],
                "by": event["by"],
                "at": event.get("at"),
                "function": event.get("fn"),
                "phase": event["ph"],
                "process": self.label,
            }
        )

    def _on_cfgsnap(self, event):
        self.snapshots[f"{self.label}:{event['at']}"] = event["values"] if event["present"] else None

    def _on_lib(self, event):
        key = (event["callee"], event["at"], event["fn"], event["ph"], event["th"])
        row = self.library.setdefault(
            key,
            {
                "callee": event["callee"],
                "at": event["at"],
                "function": event["fn"],
                "phase": event["ph"],
                "thread": event["th"],
                "count": 0,
                "process": self.label,
            },
        )
        row["count"] += event["n"]

    def _on_sink(self, event):
        self.sinks.append(
            {
                "op": event["op"],
                "path": self.scrub(event["path"]),
                "dest": self.scrub(event["dest"]) if event.get("dest") else None,
                "by": self.scrub(event["by"]) if event.get("by") else event.get("by"),
                "module": event["mod"],
                "phase": event["ph"],
                "native": event["native"],
                "process": self.label,
            }
        )

    def _order(self) -> None:
        """Canonical order and final indices (see the class docstring)."""
        raw = self._raw
        phase_rank: dict[str, int] = {}
        for phase in self.phases:
            phase_rank.setdefault(phase["name"], len(phase_rank))
        roots: dict[int, dict[str, Any]] = {}
        for index in sorted(raw):
            call = raw[index]
            roots[index] = roots[call["parent"]] if call["parent"] is not None else call

        def key(index: int) -> tuple:
            call, root = raw[index], roots[index]
            main = call["thread"] == "main"
            return (
                phase_rank.get(root["phase"], len(phase_rank)),
                0 if main else 1,
                "" if main else call["thread"],
                0 if main else root["i"],
                index,
            )

        order = sorted(raw, key=key)
        final = {old: self.offset + position for position, old in enumerate(order)}
        weight: dict[int, int] = {}
        for old in order:  # a parent comes before its children
            call = raw[old]
            call["i"] = final[old]
            call["parent"] = final.get(call["parent"]) if call["parent"] is not None else None
            weight[call["i"]] = call.get("repeat", 1) * weight.get(call["parent"], 1)
            self.calls.append(call)
        dropped = self.folder.dropped if self.folder is not None else {}
        for phase in self.phases:
            phase["calls"] = sum(weight[c["i"]] for c in self.calls if c["phase"] == phase["name"])
            phase["calls"] += dropped.get(phase["name"], 0)
        self.kept = sum(weight.values()) + sum(dropped.values())
        resolve = self.folder.resolve if self.folder is not None else (lambda index: index)
        for tap in self.taps:
            tap["call"] = final.get(resolve(tap["call"]), None if self.folder else tap["call"])  # type: ignore[arg-type]
        for change in self.config_changes:
            change["by"] = final.get(resolve(change["by"])) if change["by"] is not None else None  # type: ignore[arg-type]
        if self.error and self.error.get("last_call") is not None:
            self.error["last_call"] = final.get(resolve(self.error["last_call"]))  # type: ignore[arg-type]
