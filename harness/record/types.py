"""The run record's types: every fact a trace run records, with what it means.

This module is the one home of the record's shape. `record.build` assembles a `RunRecord` from the event
streams and what the harness knew about the run; `render`, `views`, `diff`, `perfetto` and the pytest plugin
only read it. The record is plain JSON-able data (TypedDicts over dicts and lists), written to
`trace/run.json` with `schema_version` at the top, so a report folder can be re-rendered, diffed or loaded
by a test without the harness that wrote it knowing about the reader.

Conventions that hold for every field:
- Paths inside the target are relative to its root; the run's scratch folder is written `<scratch>`, the
  target root `<root>` where a path must stay absolute-looking, and random temp names `<tmp>`
  (`record.scrub_paths` decides this, once).
- `path:line` strings are "anchors": a function's anchor is its `def` line, a call site the line of the call.
- Times (`t`, `t0`, `t1`, `seconds`, `started_at`, `durations`) are the only fields that differ between
  two runs of the same code.

Bump `SCHEMA_VERSION` when a field changes meaning or is removed; `runjson.load` refuses other versions
with a message instead of failing somewhere in a renderer.
"""

from __future__ import annotations

from typing import Any, TypedDict

from .outcometypes import EventCounts, EvidenceOnly, Failure

SCHEMA_VERSION = 2


class Call(TypedDict):
    """One kept call of the namespace, in the order calls started across all processes. Past
    `record.foldcalls.CALL_CAP` calls in a process, a call may hold `repeat` (int > 1): it stands
    for that many identical consecutive siblings, subtrees included; times are the first's."""

    i: int
    """Index of this call in `RunRecord.calls` (unique across processes)."""
    process: str
    """Label of the traced process that made it (`ProcessInfo.label`)."""
    phase: str
    """Scenario phase running when the call started."""
    depth: int
    """Depth within the namespace in its own thread: 0 for a call made from outside it (the
    scenario, Keras, a thread's start)."""
    thread: str
    """Stable label of the thread that made it: `main`, else the thread's name with numbers as `N`
    (`ThreadPoolExecutor-N_N`), `native` for a thread not started through `threading`."""
    thread_n: int
    """Which thread of the process (order of its first kept call); tells same-label threads
    apart on the timeline only, since it may differ between runs."""
    module: str
    qualname: str
    function: str
    """`module:qualname`, the identity of the function across runs."""
    anchor: str | None
    """`path:line` of its `def` line; None for generated code without a source file."""
    path: str | None
    line: int | None
    parent: int | None
    """`i` of the innermost kept call of the same thread below which it ran, or None at depth 0."""
    call_line: int | None
    """Line in the parent's file that made the call (or called into framework code that did)."""
    call_site: str | None
    """`path:line` of that line, or None when the parent has no source file."""
    direct: bool
    """True when the parent called it directly; False for framework call-backs (e.g. Keras)."""
    returned: str | None
    """Short, stable summary of the return value; None when no return was recorded."""
    t0: float
    t1: float | None


class Edge(TypedDict):
    """A distinct caller → callee pair at one call site, with how often it happened."""

    caller: str
    """`module:qualname` of the caller, or `<scenario>` for calls from outside the namespace."""
    callee: str
    call_site: str | None
    callee_anchor: str | None
    count: int
    phases: list[str]
    direct: bool


class PhaseSpan(TypedDict):
    """One scenario phase as it ran in one process."""

    name: str
    process: str
    t: float
    """Seconds since the process's stream started."""
    seconds: float
    calls: int
    """Calls kept during the phase."""


class Gap(TypedDict):
    """An entry point the scenario did not find, and what it used instead."""

    phase: str
    missing: str
    used: str


class BlockedImport(TypedDict):
    module: str
    importer: str
    """`path:line` (or module) of the import statement that tried."""


class ProcessInfo(TypedDict, total=False):
    """One traced process: how the harness ran it and what it reported at its end."""

    label: str
    """Stable name given by the scenario (e.g. `cycle`, `fresh`)."""
    phases: list[str]
    """Phases the harness asked it to run."""
    start: dict[str, Any]
    """Its `start` event: interpreter, platform, executable."""
    completed: bool
    """True when it reached its end marker (an `end` event); `reached_end`: it got there (said outside the stream)."""
    reached_end: bool
    exit: int | None
    """Exit code of the process as the harness saw it."""
    timed_out: bool
    interrupted: bool
    """Stopped by SIGINT, SIGTERM or SIGHUP while it ran (`stopped_by` names the signal)."""
    stopped_by: str | None
    leftover_processes: int
    """Processes of its group still running when it ended; killed before the evidence check."""
    wall_seconds: float
    stderr: str
    """`<scratch>` path of its captured stderr."""
    stacks: str | None
    """For a process stopped by --timeout: the Python stack of every thread at that moment."""
    seen: int | None
    """Events the recorder saw (what counts depends on the backend: `Recorder.seen_means`)."""
    kept: int
    """Calls it kept (a folded call counts as many as its `repeat`; calls not stored count too)."""
    dropped: dict[str, int]
    """Phase → calls kept but not stored: past `record.foldcalls.CALL_CAP` stored calls."""
    gaps: list[Gap]
    findings: list[dict[str, Any]]
    """Facts the scenario established (`ctx.finding`): `kind`, `phase` and plain values, e.g. what a
    loader did with another backend's archive; read by `static/verdicts`."""
    blocked_imports: list[BlockedImport]
    torch_imported: list[str] | None
    packages: dict[str, str | None] | None
    devices: dict[str, Any] | None
    peak_rss_kb: int | None
    cpu_seconds: float | None
    """User + system CPU time of the process (all its threads): less sensitive to a busy machine than wall time."""
    seconds: float
    """Seconds from its stream start to its last event."""
    fork: int | None
    """For a child the target forked (label `<parent>/fork<N>`): N. Its stream is its own."""
    spawn: bool
    """True for a Python process the target spawned (label `<parent>/spawn<N>`), traced with the same guard."""
    losses: list[dict[str, str]]
    """Evidence the recorder found missing: reason, phase, process (each makes the run partial)."""
    notes: list[str]
    """Things the reader should know (a module that renamed itself, a thread still running at the end)."""
    torch_executed: list[dict[str, str]]
    """torch/lightning/mlflow modules that ran however they were loaded: module, importer, phase, process."""
    forks: list[dict[str, Any]]
    """Each fork this process made: n, phase, thread, process."""
    threads: list[str]
    """Labels of the threads that made its kept calls."""
    started: list[dict[str, Any]]
    """Programs it started (subprocess, os.exec*, os.posix_spawn, os.system): how, program (file name),
    by (`path:line` of the innermost kept call, or None), thread, phase, process."""


class TapDeclared(TypedDict):
    """A tap point as declared in a tap file."""

    key: str
    purpose: str
    function: str
    when: str
    capture: str
    units: str
    source: str
    """`file:line` of its declaration."""
    read: str
    """`summary` (shape, dtype, type) or `value` (the numbers of a small tensor/variable)."""
    variants: list[str]
    """Scenario variants the tap applies to; empty: all."""


class TapHit(TypedDict, total=False):
    """One observation of a tap: the value (or the error) at one call."""

    key: str
    call: int
    """`Call.i` of the call it was taken in."""
    status: str
    """`hit` or `error`."""
    value: str
    error: str
    process: str


class ConfigChange(TypedDict):
    """One change of the followed config global (e.g. `ptycho.params.cfg`)."""

    key: str
    op: str
    """`added`, `changed` or `removed`."""
    old: str | None
    new: str | None
    by: int | None
    """`Call.i` of the innermost kept call when it happened; None outside the namespace."""
    at: str | None
    """`path:line` of the namespace statement that made the change (or called the helper
    outside the namespace that made it); None outside the namespace or for generated code."""
    function: str | None
    """Qualified name of the function that line is in (the call `by`)."""
    phase: str
    process: str


class ConfigFlow(TypedDict):
    changes: list[ConfigChange]
    snapshots: dict[str, dict[str, str] | None]
    """`<process>:<phase>` (value at the phase's start) or `<process>:end` → key → summary."""


class FileOp(TypedDict):
    """A file operation seen by the audit hook (or the native-write sweep)."""

    op: str
    """`write`, `remove`, `rename`, `mkdir`, …; `read`: a file the run wrote, opened for reading
    (once per file, line and phase: the line that read an archive member back)."""
    path: str
    dest: str | None
    by: str | None
    """Anchor of the namespace line credited with it, or None (scenario / framework)."""
    module: str | None
    phase: str
    native: bool
    """True when found by the sweep for files written by native code (h5py)."""
    process: str


class LibraryCall(TypedDict):
    """Calls from one namespace line into one function outside the namespace, folded
    (see libcalls.py for what counts: Python callees started directly by a call instruction)."""

    callee: str
    """`module:qualname` of the code that ran (e.g. `h5py._hl.files:File.__init__`)."""
    at: str | None
    """`path:line` of the namespace line that made the call (None for generated code)."""
    function: str
    """Qualified name of the namespace function that line is in."""
    phase: str
    thread: str
    count: int
    """How many times, in this phase and thread."""
    process: str


class ScenarioInfo(TypedDict, total=False):
    """The scenario as the run used it; renderers take every phase name from here."""

    name: str
    variant: str
    phases: list[str]
    """Phases in the order they were run, across processes."""
    roles: dict[str, list[str]]
    """Role → phase names: `build`, `data` and `train` (variant `train`), `save`, `load` (a load in the process that saved),
    `fresh-load` (a load in a process that never built a model), `entry` (depth-0 calls are entry points)."""
    processes: list[dict[str, Any]]
    """Per process label: `label`, `title` (for prose), `phases`."""
    chains: list[dict[str, Any]]
    """Chains the summary tells as a path: `title` and the `phases` whose direct calls form it."""
    order: str
    """The cycle in a few words, for prose (e.g. `build, save, load`)."""
    why: str
    """Why the scenario's entry points were chosen, for static.md § Selected Entrypoint(s)."""
    source: str
    """Where the scenario came from: the shipped module, or the file / `module:attribute` as given."""
    contract: bool
    """True when the built-in archive contract applies (the target's docs stating none)."""
    allows_torch: bool
    """True when the scenario declared `ALLOWS_TORCH = True`: the torch guard was lifted for it."""


class Recorder(TypedDict):
    backend: str | None
    settings: str | None
    seen_means: str | None
    accelerated: str | None
    """`yes (...)` when the compiled per-frame filter ran (ctrace), else `no (why not)`."""
    untraced: bool


class TargetInfo(TypedDict, total=False):
    root: str
    demo: bool
    namespace_found: bool
    """Whether the namespace names a module of the tree under the root (`target.module_found`);
    when nothing was kept and it does not, that is the run's first problem."""
    git: bool
    commit: str | None
    branch: str | None
    dirty: bool | None


class RunRecord(TypedDict, total=False):
    """Everything one trace run knows. Built by `record.build`, read by every renderer."""

    schema_version: int
    callchain_version: str
    question: str
    scope_hints: list[str]
    initiative: str
    plan_phase: str
    scenario: ScenarioInfo
    namespace: str
    package: str
    config_global: str
    recorder: Recorder
    target: TargetInfo
    report: str
    """Absolute path of the report folder (as loaded: where it is now)."""
    scratch: str
    """Absolute path of the scratch folder the traced code ran in."""
    archive: str
    """Absolute path where the scenario's archive was expected."""
    command: str
    started_at: str
    environment: dict[str, str]
    """Allow-listed environment variables of the traced processes."""
    taps_declared: list[TapDeclared]
    processes: list[ProcessInfo]
    phases: list[PhaseSpan]
    calls: list[Call]
    edges: list[Edge]
    tap_hits: list[TapHit]
    config: ConfigFlow
    sinks: list[FileOp]
    library_calls: list[LibraryCall]
    """Calls from namespace lines into code outside it, folded; absent in records made before."""
    errors: list[dict[str, Any]]
    """Exceptions that ended a process: type, message, phase, traceback, frames."""
    events: EventCounts
    events_files: list[dict[str, Any]]
    """Event streams not shipped as written (`record.streams.ship_streams` says how)."""
    evidence_only: EvidenceOnly
    entry_points: list[dict[str, Any]]
    """Candidate entry points ranked against the question (`analysis.rank_entry_points`)."""
    docs: dict[str, str]
    """`module:qualname` → first docstring line, for kept functions."""
    mentions: dict[str, list[dict[str, Any]]]
    """Term → source lines of the namespace that mention it (e.g. `intensity_scale`)."""
    torch_delta: dict[str, Any]
    request_pointers: list[dict[str, Any]]
    """The evidence request's `path:start-end` pointers checked on this revision (persistence
    scenarios only; `static.pointers.reconcile` documents each field)."""
    static_skipped: list[dict[str, str]]
    """Files the static passes did not read (`bounded.Budget`): path, reason, pass."""
    """The PyTorch side read statically (`torchscan.scan`)."""
    archive_description: dict[str, Any] | None
    """What `inspect` says of the archive the run produced; None when none was produced."""
    spec: dict[str, Any]
    """The target's persistence contract read from its docs (`spec.read_contract`: `source` docs or
    builtin, `sections`, `skipped`, `missing`), each clause with `id`, `text`, `anchor`, and its
    `verdict` and `evidence` from this run (`verdicts.judge_spec`)."""
    status: str
    """`ok`, `partial` (some evidence) or `failed` (none)."""
    failure: Failure | None
    durations: dict[str, float]
    """Seconds per phase name (summed over processes) and `total` wall time."""
    companion: dict[str, Any]
    """A PyTorch run linked to this TensorFlow run (`report.companion`): `report`, its folder relative to
    this report, and `problem`, what went wrong running or reading it, else None."""
