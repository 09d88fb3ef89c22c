"""Dict keys and set items as the real loader hashes and compares them.

:func:`token` gives every decoded key a canonical text: keys the loader's dict holds as one key
(``'N'`` and ``numpy.str_('N')``, ``1`` and ``1.0``) get the same token, distinct keys distinct
tokens. :func:`real_key` rebuilds a key as the plain Python value the loader would hash (to learn
its hash value, the same in the loader's interpreter for numbers and tuples of numbers), and
:func:`hash_walk` counts what hashing it costs: the objects visited (tuple hashes are not cached,
so a tuple shared at every level is visited exponentially often) and its depth (hashing recurses
in C). Every walk here is bounded by :data:`harness.bounds.MAX_HASH_DEPTH` before it recurses.
"""

from __future__ import annotations

from typing import Any

from . import bounds
from .built import built
from .picklevalues import _NOT_SCALAR, Call, Dict, Global, Set, scalar_key

OPAQUE = object()  # a key whose hash cannot be modelled here (an object a call builds)


class Unhashable(Exception):
    """The key cannot be hashed at all: the real load raises TypeError there."""


class TooDeep(Exception):
    """Hashing the key recurses deeper than the bound."""


def _unhashable_kind(value: Any) -> str | None:
    if isinstance(value, (list, Dict)) or (isinstance(value, Set) and not value.frozen):
        return {list: "list", Dict: "dict", Set: "set"}[type(value)]
    b = built(value)
    if (
        b is not None
        and b.kind in ("list", "dict", "OrderedDict", "set", "array")
        or (b is not None and b.kind == "bytes" and isinstance(value, Call) and value.name == "builtins.bytearray")
    ):
        return b.kind if b.kind != "bytes" else "bytearray"
    return None


def _children(value: Any) -> list[Any] | None:
    """What hashing ``value`` hashes in turn: a tuple's items, a frozenset's members; None for a leaf."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Set):
        return value.items
    b = built(value)
    if b is not None and b.kind in ("tuple", "frozenset"):
        return list(b.items) + list(value.extra)
    return None


LEAVES = (str, int, float, bytes, bool, type(None))


def hash_walk(value: Any, memo: dict[int, int], depth: int = 0) -> int:
    """Objects hashing ``value`` visits (capped just past the bound); raises TooDeep / Unhashable."""
    if type(value) in LEAVES:
        return 1
    if depth > bounds.MAX_HASH_DEPTH:
        raise TooDeep
    kind = _unhashable_kind(value)
    if kind:
        raise Unhashable(kind)
    children = _children(value)
    if children is None:
        return 1
    found = memo.get(id(value))
    if found is not None:
        return found
    total = 1
    for child in children:
        total += hash_walk(child, memo, depth + 1)
        if total > bounds.MAX_HASH_VISITS:
            total = bounds.MAX_HASH_VISITS + 1
            break
    memo[id(value)] = total
    return total


def real_key(value: Any, memo: dict[int, Any]) -> Any:
    """The plain hashable value the loader would hash, or OPAQUE; call :func:`hash_walk` first."""
    if type(value) in LEAVES:
        return value
    scalar = scalar_key(value)
    if scalar is not _NOT_SCALAR:
        return scalar
    if id(value) in memo:
        return memo[id(value)]
    children = _children(value)
    result: Any = OPAQUE
    if children is not None:
        parts = [real_key(c, memo) for c in children]
        if all(p is not OPAQUE for p in parts):
            result = frozenset(parts) if _is_set(value) else tuple(parts)
    memo[id(value)] = result
    return result


def _is_set(value: Any) -> bool:
    b = built(value)
    return isinstance(value, Set) or (b is not None and b.kind == "frozenset")


def token(value: Any, depth: int = 0) -> str:
    """Equal for keys the loader's dict holds as one key, distinct otherwise (objects: by identity)."""
    scalar = scalar_key(value)
    if scalar is _NOT_SCALAR:
        if not isinstance(value, tuple) or depth > bounds.MAX_HASH_DEPTH:
            name = value.name if isinstance(value, Global) else ""
            return f"g:{name}" if name else f"o:{id(value)}"
        return "t(" + ",".join(token(c, depth + 1) for c in value) + ")"
    if isinstance(scalar, int):
        return f"i:{scalar:x}"
    if isinstance(scalar, float):
        return f"f:{scalar.hex()}"
    if isinstance(scalar, complex):
        return f"c:{scalar.real.hex()},{scalar.imag.hex()}"
    if isinstance(scalar, bytes):
        return "b:" + scalar.hex()
    return "n:" if scalar is None else "s:" + scalar
