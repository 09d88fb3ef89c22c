"""A pickle reader that never unpickles, and admits only the imports a genuine member needs.

``.dill``/``.pkl`` members and ``.ckpt`` pickles of a model archive are untrusted.
:func:`decode_pickle` runs the opcode stream (:mod:`harness.inspect.pickleops`, which reads it exactly as
CPython's unpickler does) on a stack machine that mirrors the unpickler for everything that
builds plain data, and replaces every import by a :class:`~harness.inspect.picklevalues.Global` and every
call by a :class:`~harness.inspect.picklevalues.Call` that is never made.

Judging is by allow-list, per member kind (:mod:`harness.contract`): a name is first resolved as
pickle would resolve it (the ``fix_imports`` mapping of protocols 0-2), then it must be one the
kind admits, as a call or as a mere reference. Anything else is a hazard naming the opcode
offset and the name. A deny-list cannot be complete (``tempfile._os.system`` is ``os.system``);
an allow-list does not need to be. Every loop is linear in the input, and one opcode budget is
shared by all members of an archive. Standard library only.
"""

from __future__ import annotations

import _compat_pickle
import sys
from typing import Any

from . import allowlist, argrules
from .costs import CostError, Costs, UnloadableError
from .pickleops import Oversized, PickleError, iter_ops
from .pickleruns import HANDLERS as _HANDLERS
from .picklevalues import Call, Dict, Global, Persistent, Set, as_number, brief, json_number, plain

__all__ = ["decode_pickle", "PickleReport", "OpBudget", "json_number", "as_number", "resolve_name"]

DEFAULT_MAX_OPS = 5_000_000  # one budget for all pickles of an archive (a real one needs ~10k)
MAX_HAZARDS = 50  # reported per pickle; more are counted, not listed
MAX_NAMES = 200
MAX_WARNINGS = 20


class OpBudget:
    """Opcodes left for the whole inspection: shared, so 200 pickles cannot each take the maximum."""

    __slots__ = ("left", "total")

    def __init__(self, total: int = DEFAULT_MAX_OPS) -> None:
        self.left = self.total = total


class PickleReport:
    """Result of :func:`decode_pickle`: the value with placeholders, names, hazards, error."""

    __slots__ = ("value", "globals", "hazards", "error", "kind", "end", "costs", "warnings")

    def __init__(
        self, value: Any, globals_: list[str], hazards: list[str], error: str | None, kind: str = "data"
    ) -> None:
        self.value, self.globals, self.hazards, self.error, self.kind = value, globals_, hazards, error, kind
        self.end = 0  # offset just past STOP: a stream may hold further pickles
        self.costs: list[str] = []  # what the real loader would pay beyond a bound (harness.inspect.costs)
        self.warnings: list[str] = []  # the target's own classes rebuilt by default means

    @property
    def usable(self) -> bool:
        """Decoded to its end and within the loader bounds: its value is what the loader would see."""
        return self.error is None and not self.costs

    def plain(self) -> Any:
        """The decoded value as JSON-ready data (placeholders become ``{"__global__": ...}``)."""
        return plain(self.value)

    def as_dict(self) -> dict[str, Any]:
        shown = self.globals[:MAX_NAMES] + (
            [f"... and {len(self.globals) - MAX_NAMES} more"] if len(self.globals) > MAX_NAMES else []
        )
        return {
            "kind": self.kind,
            "globals": shown,
            "hazards": self.hazards,
            "costs": self.costs,
            "error": self.error,
        }


def resolve_name(module: str, qualname: str, proto: int) -> str:
    """The dotted name pickle would import: protocols 0-2 map Python 2 names (``fix_imports``)."""
    if proto < 3:
        if (module, qualname) in _compat_pickle.NAME_MAPPING:
            module, qualname = _compat_pickle.NAME_MAPPING[(module, qualname)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{qualname}"


def _what_it_is(module: str, qualname: str, resolved: str) -> str:
    """A hint at what an unknown name really reaches: ``tempfile._os.system`` is ``os.system``."""
    notes = []
    if resolved != f"{module}.{qualname}":
        notes.append(f"pickle maps it to {resolved}")
    parts = qualname.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.lstrip("_") in sys.stdlib_module_names:
            notes.append(f"an attribute walk reaching {part.lstrip('_')}.{'.'.join(parts[i + 1 :])}")
            break
    return f" ({'; '.join(notes)})" if notes else ""


def _in_namespace(kind: str, module: str, qualname: str) -> bool:
    """A class/function reference inside the target's namespace: plain identifiers only."""
    spaces = allowlist.REFERENCE_NAMESPACES.get(kind, ())
    return (
        any(module == ns or module.startswith(ns + ".") for ns in spaces)
        and qualname.isidentifier()
        and all(p.isidentifier() for p in module.split("."))
    )


class _Machine:
    """The unpickler's stack machine for plain data; imports and calls become judged placeholders."""

    def __init__(self, kind: str, budget: OpBudget) -> None:
        self.kind, self.budget = kind, budget
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.names: dict[str, None] = {}
        self.hazards: dict[str, None] = {}
        self.warnings: dict[str, None] = {}
        self.extra_hazards = 0
        self.costs = Costs(0)
        self.proto = 0
        self.pos = self.end = 0
        self.callable = allowlist.CALLABLE.get(kind, allowlist.CALLABLE["data"])
        self.reference = allowlist.REFERENCE.get(kind, allowlist.REFERENCE["data"])

    # -- stack ---------------------------------------------------------------------------------
    def fence(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self) -> Any:
        if len(self.stack) <= self.fence():
            raise PickleError(f"stack underflow at offset {self.pos}")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise PickleError(f"stack underflow at offset {self.pos}")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise PickleError(f"MARK expected but not found at offset {self.pos}")
        at = self.marks.pop()
        items = self.stack[at:]
        del self.stack[at:]
        return items

    def hazard(self, message: str) -> None:
        text = f"offset {self.pos}: {message}"
        if len(self.hazards) < MAX_HAZARDS:
            self.hazards.setdefault(text, None)
        else:
            self.extra_hazards += 1

    def warn(self, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.setdefault(message, None)

    # -- imports and calls ---------------------------------------------------------------------
    def global_(self, module: Any, qualname: Any) -> Global:
        if not isinstance(module, str) or not isinstance(qualname, str):
            raise PickleError(f"STACK_GLOBAL needs two strings at offset {self.pos}")
        name = resolve_name(module, qualname, self.proto)
        self.names.setdefault(name, None)
        if name not in self.reference and name not in self.callable and not _in_namespace(self.kind, module, qualname):
            self.hazard(
                f"imports {module}.{qualname}{_what_it_is(module, qualname, name)}, which a genuine "
                f"{self.kind} pickle never needs"
            )
        elif self.kind == "params" and _in_namespace(self.kind, module, qualname):
            self.warn(f"names {name}: loading it imports {module} from your checkout")
        return Global(name)

    def call(self, func: Any, args: Any, kwargs: Any, op: str) -> Any:
        if (
            isinstance(func, Global)
            and func.name == "dill._dill._load_type"
            and isinstance(args, tuple)
            and len(args) == 1
            and args[0] in allowlist.LOAD_TYPE_NAMES
        ):
            return Global(allowlist.LOAD_TYPE_NAMES[args[0]])  # dill's spelling of a plain type
        plain_value = _plain_call(func, args, kwargs)
        if plain_value is not _NOT_PLAIN:
            return plain_value
        if isinstance(func, Global) and func.name in self.callable and func.name != "dill._dill._load_type":
            return argrules.admit(self, func, args, kwargs, op)
        instance = argrules.target_instance(self, func, args, kwargs, op)
        if instance is not None:
            return instance
        if not isinstance(func, Global):
            self.hazard(f"{op} would call a computed object ({brief(func)}), not a named global")
        elif func.name == "dill._dill._load_type":
            self.hazard(f"{op} would load type {brief(args)} through dill._dill._load_type")
        elif not (op.startswith("NEWOBJ") and self._instantiable(func.name)):
            self.hazard(
                f"{op} would call {func.name}({brief(args)[1:-1]}), which a genuine {self.kind} pickle never calls"
            )
        return Call(func, args, kwargs, op)

    def _instantiable(self, name: str) -> bool:
        """Checkpoints may rebuild the target's own config objects (Lightning hyperparameters)."""
        module, _, qual = name.rpartition(".")
        return self.kind == "checkpoint" and _in_namespace(self.kind, module, qual)

    def build(self, state: Any) -> None:
        target = self.top()
        if isinstance(target, Call):
            argrules.build(self, target, state)
        elif isinstance(target, Global):
            self.hazard(f"BUILD would overwrite attributes of {target.name} itself (a module, class or function)")
        elif _truthy(state):  # pickle sets __dict__/slots: plain containers have neither
            raise PickleError(f"BUILD with state on a plain {type(target).__name__} at offset {self.pos}")

    def persistent(self, pid: Any) -> Persistent:
        ok = self.kind == "checkpoint" and isinstance(pid, tuple) and pid[:1] == ("storage",)
        if not ok:
            self.hazard(f"a persistent id ({brief(pid)}) that only a custom loader resolves")
        return Persistent(pid)

    # -- containers ------------------------------------------------------------------------------
    def add(self, target: Any, items: list[Any], how: str) -> None:
        """APPEND(S)/SETITEM(S)/ADDITEMS on whatever pickle would call them on."""
        if isinstance(target, Call):
            argrules.add(self, target, items, how)
        elif how == "list" and isinstance(target, list):
            target.extend(items)
        elif how == "set" and isinstance(target, Set) and not target.frozen:
            target.items.extend(items)
        elif how == "dict" and isinstance(target, Dict):
            target.pairs.extend(zip(items[0::2], items[1::2]))
        elif how == "dict" and isinstance(target, list):
            for key, value in zip(items[0::2], items[1::2]):
                if not isinstance(key, int) or not -len(target) <= key < len(target):
                    raise PickleError(f"SETITEM on a list with index {brief(key)} at offset {self.pos}")
                target[key] = value
        else:
            raise PickleError(f"cannot add items to a {type(target).__name__} at offset {self.pos}")

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, data: bytes, start: int = 0) -> Any:
        self.costs = Costs(len(data))
        for name, arg, pos in iter_ops(data, start):
            self.budget.left -= 1
            if self.budget.left < 0:
                raise PickleError(f"the opcode budget ({self.budget.total}) is spent (raise it with --max-ops)")
            self.pos = self.costs.pos = pos
            if name == "STOP":
                self.end = pos + 1
                value = self.pop()
                self.costs.settle(value)
                return value
            handler = _HANDLERS.get(name)
            if handler is None:
                raise PickleError(f"unsupported opcode {name} at offset {pos}")
            handler(self, arg)
        raise PickleError("no STOP opcode")


_NOT_PLAIN = object()


def _truthy(state: Any) -> bool:
    if isinstance(state, Dict):
        return bool(state.pairs)
    if isinstance(state, (Call, Global, Persistent, Set)):
        return True
    return bool(state)


def _plain_call(func: Any, args: Any, kwargs: Any) -> Any:
    """``_codecs.encode(text, 'latin1')``, how protocols 0-2 spell bytes, decoded; else _NOT_PLAIN."""
    if not isinstance(func, Global) or kwargs is not None or not isinstance(args, tuple):
        return _NOT_PLAIN
    if func.name == "_codecs.encode" and len(args) in (1, 2) and isinstance(args[0], str):
        if len(args) == 1 or args[1] in ("latin1", "latin-1"):
            return args[0].encode("latin-1", "replace")
    return _NOT_PLAIN


def decode_pickle(data: bytes, kind: str = "data", budget: OpBudget | None = None, start: int = 0) -> PickleReport:
    """Decode a pickle/dill byte string without importing or calling anything.

    ``kind`` names the allow-list (``manifest``, ``params``, ``custom_objects``, ``checkpoint``,
    ``data``). Returns the value (placeholders for imports/calls), the dotted names it would
    import, the hazards (offset, what a real load would import or call that a genuine member of
    this kind never does), and an error when the stream cannot be decoded to its end — which
    means it cannot be verified. Never raises for bad input.
    """
    machine = _Machine(kind, budget or OpBudget())
    value: Any = None
    error: str | None = None
    costs: list[str] = []
    try:
        value = machine.run(data, start)
    except (CostError, Oversized) as exc:
        costs.append(str(exc))
    except UnloadableError as exc:
        error = f"{exc}, so the pickle cannot be what it claims"
    except PickleError as exc:
        error = str(exc)
    except RecursionError:
        error = "nested too deeply"
    except MemoryError:
        raise
    except Exception as exc:  # malformed opcode arguments, huge ints ...
        error = f"{type(exc).__name__} at offset {machine.pos}: {exc}"
    hazards = list(machine.hazards)
    if machine.extra_hazards:
        hazards.append(f"... and {machine.extra_hazards} more")
    report = PickleReport(value, sorted(machine.names), hazards, error, kind)
    report.end, report.costs, report.warnings = machine.end, costs, list(machine.warnings)
    return report


TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PARTS = ("magic number", "protocol version", "sys info", "saved object", "storage keys")


def decode_torch_legacy(data: bytes, budget: OpBudget | None = None) -> PickleReport:
    """A raw (legacy ``torch.save``) checkpoint: up to five pickles in a row, each run by torch.load.

    The first is a magic number; when it matches, torch.load unpickles four more (protocol,
    sys info, the object, the storage keys) before the raw tensor bytes. All are judged.
    """
    budget = budget or OpBudget()
    reports = [decode_pickle(data, "checkpoint", budget)]
    if reports[0].error is None and reports[0].value == TORCH_LEGACY_MAGIC:
        for _ in TORCH_LEGACY_PARTS[1:]:
            reports.append(decode_pickle(data, "checkpoint", budget, reports[-1].end))
            if reports[-1].error:
                break
    hazards = [f"{TORCH_LEGACY_PARTS[i]} pickle: {h}" if i else h for i, r in enumerate(reports) for h in r.hazards]
    errors = [f"{TORCH_LEGACY_PARTS[i]} pickle: {r.error}" if i else r.error for i, r in enumerate(reports) if r.error]
    names = sorted({n for r in reports for n in r.globals})
    main = reports[3] if len(reports) > 3 else reports[-1]
    merged = PickleReport(main.value, names, hazards, errors[0] if errors else None, "checkpoint")
    merged.end = reports[-1].end
    merged.costs = [c for r in reports for c in r.costs]
    merged.warnings = [w for r in reports for w in r.warnings]
    return merged
