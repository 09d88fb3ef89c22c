"""Argument rules: an allowed callable is admitted only with the arguments a genuine member passes it.

The allow-list (:mod:`harness.contract`) says *which* callables a pickle may call; this module says
*with what*. Every callable that allocates or calls gets a rule: constructors iterate only literal
containers, bytes, text or a bounded range (``list(range(2**62))`` is refused, ``list(range(64))``
is not), sizes are bounded (:mod:`harness.contract`), copies are charged to the pickle's bill
(:mod:`harness.inspect.costs`), and a callable that calls an argument calls only an allowed callee
(:mod:`harness.inspect.numpyrules`). ``dill._dill._eval_repr`` is ``eval``: only the exact texts
dill writes (``range(a, b[, c])``, ``Ellipsis``, ``NotImplemented``) are admitted, parsed here,
never evaluated. The target's own classes are admitted where they are rebuilt by default means
(NEWOBJ or ``_reconstructor`` with no arguments, then plain attributes; an Enum member by value),
with a warning. Arguments outside a rule are a hazard; sizes beyond a bound a cost refusal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .. import contract
from . import allowlist, bounds
from . import built as b_
from .built import Built
from .numpyrules import RULES as NUMPY_RULES
from .numpyrules import Shape, array_state, dtype_state
from .picklevalues import Call, Dict, Global, Set, brief

Rule = Callable[[Any, Call], Any]
NUMBER = (int, float)
RANGE_TEXT = re.compile(r"range\((-?[0-9]{1,100}), (-?[0-9]{1,100})(?:, (-?[0-9]{1,100}))?\)\Z")
# bytes the loader allocates (and, for bytes, a minimum for the time it iterates) per item a call builds
PER_ITEM = {"list": 8, "tuple": 8, "set": 48, "frozenset": 48, "dict": 48, "OrderedDict": 96, "bytes": 8}


def _iterable(m: Any, value: Any, kind: str, what: str) -> tuple[int, Any]:
    """(items, a reference to them) of what a constructor iterates, priced; only bounded sources."""
    n = b_.length(value)
    if n is None:
        raise Shape(f"{what} of a {b_.kind_of(value)}: only a literal container, bytes, text or a bounded range")
    m.costs.items(n, what)
    fresh = 32 if b_.kind_of(value) == "range" else 0  # iterating a range makes new int objects
    m.costs.charge(n * (PER_ITEM[kind] + fresh), what)
    source = b_.built(value)
    if isinstance(value, (list, tuple, bytes, str)):
        return n, value
    if isinstance(value, Set):
        return n, value.items
    if source is not None and source.kind not in b_.DICTS and not value.extra:
        return n, source.items
    return n, list(b_.iterate(value))


def sequence(m: Any, call: Call) -> Any:
    kind = call.name.rpartition(".")[2]  # type: ignore[union-attr]
    if not call.args:
        call.built = Built(kind)
        return call
    if len(call.args) != 1:
        raise Shape(f"{kind}() takes one iterable")
    n, items = _iterable(m, call.args[0], kind, f"{kind}()")
    call.built = Built(kind, n, items)
    return call


def a_set(m: Any, call: Call) -> Any:
    frozen = call.name == "builtins.frozenset"
    kind = "frozenset" if frozen else "set"
    if len(call.args) > 1:
        raise Shape(f"{kind}() takes one iterable")
    items = list(_iterable(m, call.args[0], kind, f"{kind}()")[1]) if call.args else []
    return m.costs.hashed_container(Set(items, frozen=frozen))


def mapping(m: Any, call: Call) -> Any:
    kind = call.name.rpartition(".")[2]  # type: ignore[union-attr]
    if len(call.args) > 1:
        raise Shape(f"{kind}() takes one mapping or iterable of pairs")
    found: list[tuple[Any, Any]] = []
    if call.args:
        source = call.args[0]
        pairs = b_.pairs(source)
        if pairs is None:
            _, items = _iterable(m, source, kind, f"{kind}()")
            if not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in items):
                raise Shape(f"{kind}() of items that are not (key, value) pairs")
            pairs = [(p[0], p[1]) for p in items]
        else:
            m.costs.items(len(pairs), f"{kind}()")
            m.costs.charge(len(pairs) * PER_ITEM[kind], f"{kind}()")
        found = list(pairs)
    call.built = Built(kind, len(found), found)
    return m.costs.hashed_container(call)


def a_bytes(m: Any, call: Call) -> Any:
    """bytes(b) is b; bytearray(b) copies it; bytes(n) allocates n; bytes(text, 'latin1') encodes."""
    args, name = call.args, call.name.rpartition(".")[2]  # type: ignore[union-attr]
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        data = args[0].encode("latin-1", "replace")
    elif len(args) == 1 and isinstance(args[0], bytes):
        data = args[0]
    elif not args:
        data = b""
    elif len(args) == 1 and isinstance(args[0], int) and not isinstance(args[0], bool):
        if args[0] < 0:
            raise Shape(f"{name}() of a negative size")
        m.costs.charge(args[0], f"{name}({args[0]})")
        call.built = Built("bytes", args[0])
        return call
    elif len(args) == 1:
        n, _ = _iterable(m, args[0], "bytes", f"{name}()")
        call.built = Built("bytes", n)
        return call
    else:
        raise Shape(f"{name}() takes bytes, a size, or text with its encoding")
    if name == "bytes":
        return data
    m.costs.charge(len(data), f"bytearray() of {len(data)} bytes")
    call.built = Built("bytes", len(data), data)
    return call


def a_complex(m: Any, call: Call) -> Any:
    args = call.args
    ok = len(args) <= 2 and all(isinstance(a, NUMBER) for a in args)
    ok = ok or (len(args) == 1 and isinstance(args[0], str) and len(args[0]) <= bounds.MAX_TEXT)
    if not ok:
        raise Shape("complex() takes numbers or a short text")
    try:
        return complex(*args)
    except (ValueError, OverflowError, TypeError):
        raise Shape("complex() of a text that is not a number") from None


def a_range(m: Any, call: Call) -> Any:
    args = call.args
    if not (1 <= len(args) <= 3 and all(isinstance(a, int) for a in args)) or (len(args) == 3 and args[2] == 0):
        raise Shape("range() takes one to three ints (a step other than 0)")
    return _ranged(call, range(*args))


def _ranged(call: Call, r: range) -> Call:
    size = max(0, (r.stop - r.start + r.step - (1 if r.step > 0 else -1)) // r.step)
    call.built = Built("range", size, r)
    return call


def eval_repr(m: Any, call: Call) -> Any:
    """dill's ``_eval_repr(text)`` is ``eval(text)``: only what ``save_singleton`` writes, parsed here."""
    text = call.args[0] if len(call.args) == 1 else None
    if text in ("Ellipsis", "NotImplemented"):
        call.built = Built("ellipsis", text=text)
        return call
    found = RANGE_TEXT.match(text) if isinstance(text, str) else None
    if found:
        r = range(*(int(g) for g in found.groups() if g is not None))
        if repr(r) == text:
            return _ranged(call, r)
    raise Shape("dill's _eval_repr evaluates its text: only 'range(a, b[, c])', 'Ellipsis' and 'NotImplemented'")


def _inert(check: Callable[[tuple[Any, ...]], bool], why: str) -> Rule:
    """A rule for a value type whose constructor only stores small plain arguments."""

    def rule(m: Any, call: Call) -> Any:
        if not check(call.args):
            raise Shape(why)
        call.built = Built("value")
        return call

    return rule


def _state_or_ints(size: int, ints: int) -> Callable[[tuple[Any, ...]], bool]:
    def check(args: tuple[Any, ...]) -> bool:
        first = args[0] if args else None
        if isinstance(first, (bytes, str)) and len(first) == size:
            return len(args) == 1 or (len(args) == 2 and (args[1] is None or b_.kind_of(args[1]) == "value"))
        return 1 <= len(args) <= ints and all(isinstance(a, int) for a in args)

    return check


def _short(value: Any) -> bool:
    return isinstance(value, (int, float)) or (isinstance(value, str) and len(value) <= bounds.MAX_TEXT)


RULES: dict[str, Rule] = {
    **NUMPY_RULES,
    "builtins.list": sequence,
    "builtins.tuple": sequence,
    "builtins.set": a_set,
    "builtins.frozenset": a_set,
    "builtins.dict": mapping,
    "collections.OrderedDict": mapping,
    "builtins.bytes": a_bytes,
    "builtins.bytearray": a_bytes,
    "builtins.complex": a_complex,
    "builtins.range": a_range,
    "dill._dill._eval_repr": eval_repr,
    "builtins.slice": _inert(lambda a: len(a) <= 3 and all(x is None or _short(x) for x in a), "slice() of numbers"),
    "datetime.datetime": _inert(_state_or_ints(10, 8), "a datetime is its 10 state bytes (and a timezone)"),
    "datetime.date": _inert(_state_or_ints(4, 3), "a date is its 4 state bytes"),
    "datetime.time": _inert(_state_or_ints(6, 5), "a time is its 6 state bytes (and a timezone)"),
    "datetime.timedelta": _inert(
        lambda a: len(a) <= 3 and all(isinstance(x, NUMBER) and abs(x) < 10**12 for x in a), "timedelta() of numbers"
    ),
    "datetime.timezone": _inert(
        lambda a: 1 <= len(a) <= 2 and b_.kind_of(a[0]) == "value" and (len(a) == 1 or isinstance(a[1], str)),
        "timezone() of a timedelta and a name",
    ),
    "decimal.Decimal": _inert(lambda a: len(a) <= 1 and all(_short(x) for x in a), "Decimal() of a short text"),
    **{
        name: _inert(lambda a: all(isinstance(x, str) for x in a), "a path is built from its parts (texts)")
        for name in allowlist.CALLABLE["params"]
        if name.startswith("pathlib.")
    },
}


def admit(m: Any, func: Global, args: tuple[Any, ...], kwargs: Any, op: str) -> Any:
    """The value an allowed call pushes: judged by its rule (a hazard when the arguments break it)."""
    call = Call(func, args, kwargs, op)
    rule = RULES.get(func.name)
    if rule is None:
        return call
    try:
        if kwargs is not None and not (isinstance(kwargs, Dict) and not kwargs.pairs):
            raise Shape("keyword arguments")
        return rule(m, call)
    except Shape as exc:
        m.hazard(f"{op} would call {func.name}({brief(args)[1:-1]}): {exc}")
        call.built = None
        return call


def build(m: Any, target: Call, state: Any) -> None:
    """BUILD on an admitted call's result: a dtype's or array's numpy state, an object's plain attributes."""
    target.state = state
    b = target.built
    try:
        if b is None:
            return
        if b.kind == "dtype":
            dtype_state(target, state)
        elif b.kind == "array" and b.text == "pending":
            array_state(m, target, state)
        elif b.kind in ("instance", "OrderedDict"):
            _plain_attributes(state)
        elif state is not None:
            raise Shape("a genuine pickle never sets its state")
    except Shape as exc:
        m.hazard(f"BUILD on {target.name}: {exc}")


def _plain_attributes(state: Any) -> None:
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    if not all(p is None or (isinstance(p, Dict) and all(isinstance(k, str) for k, _ in p.pairs)) for p in parts):
        raise Shape("an object's state is a dict of attribute names")


def add(m: Any, target: Call, items: list[Any], how: str) -> None:
    """APPEND(S)/SETITEM(S)/ADDITEMS on a built object: only on the list, dict or set it is."""
    b = target.built
    fits = {"list": ("list",), "dict": b_.DICTS, "set": ("set",)}[how]
    if b is not None and b.kind not in fits:
        m.hazard(f"adding items to a {b.kind} built by {target.name} would call its methods")
    target.extra.extend(items)


CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*\Z")


def _target_class(m: Any, func: Any) -> str | None:
    """The dotted name of a class of the target's own namespace (CapWords), for kinds that may rebuild one."""
    if m.kind not in ("params", "data") or not isinstance(func, Global):
        return None
    module, _, attr = func.name.rpartition(".")
    top = module.split(".")[0]
    return func.name if top in contract.TARGET_NAMESPACES and CLASS_NAME.match(attr) else None


def _instance(m: Any, call: Call, name: str, how: str) -> Call:
    m.warn(f"rebuilds {name} {how}")
    call.built = Built("instance", text=name)
    return call


def target_instance(m: Any, func: Any, args: Any, kwargs: Any, op: str) -> Call | None:
    """The target's config classes and Enums rebuilt by default means, or None (then judged as usual).

    NEWOBJ with no arguments makes the object without calling it (its attributes follow from plain
    data, BUILD); REDUCE with one text or int is how an Enum member is looked up by value.
    """
    name = _target_class(m, func)
    no_kwargs = kwargs is None or (isinstance(kwargs, Dict) and not kwargs.pairs)
    if name is None or not no_kwargs or not isinstance(args, tuple):
        return None
    call = Call(func, args, kwargs, op)
    if op.startswith("NEWOBJ") and not args:
        return _instance(
            m, call, name, "without calling it (no code of it runs unless it defines __new__ or __setstate__)"
        )
    if op in ("REDUCE", "INST", "OBJ") and len(args) == 1 and isinstance(args[0], (str, int)):
        if not isinstance(args[0], bool) and len(str(args[0])) <= 200:
            return _instance(
                m, call, name, f"by value {args[0]!r} (an Enum member; any other class runs its constructor)"
            )
    return None


def reconstructor(m: Any, call: Call) -> Any:
    """``copyreg._reconstructor(cls, object, None)``: protocols 0-1 spelling of NEWOBJ with no arguments."""
    args = call.args
    name = _target_class(m, args[0]) if len(args) == 3 else None
    if name is None or not isinstance(args[1], Global) or args[1].name != "builtins.object" or args[2] is not None:
        raise Shape("_reconstructor rebuilds a class of the target's namespace from object, with no state")
    return _instance(m, call, name, "without calling it (no code of it runs unless it defines __new__ or __setstate__)")


RULES["copyreg._reconstructor"] = reconstructor
