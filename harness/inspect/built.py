"""What an admitted call builds, as far as the real loader's cost and view go.

:mod:`harness.inspect.argrules` admits a call of an allowed callable only with arguments it can
price; the :class:`Built` it attaches to the call's placeholder says what the real loader would
hold afterwards: a list of ``size`` items (a *reference* to the items it copies, never a copy), a
range, an array of ``size`` elements of ``itemsize`` bytes, a dtype, an instance of the target's
own class. The helpers below read any decoded value the same way: how many items iterating it
yields, which items, which (key, value) pairs a dict-like holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .picklevalues import Call, Dict, Set

SEQUENCES = ("list", "tuple")
SETS = ("set", "frozenset")
DICTS = ("dict", "OrderedDict")


class Built:
    """``kind``: list, tuple, set, frozenset, dict, OrderedDict, bytes, range, array, dtype, scalar,
    instance, value (an inert value: a path, a date, a number), ellipsis.

    ``items``: the items a container holds (a sequence, or a ``range``); for dicts, (key, value)
    pairs. ``size``: their number (bytes for ``bytes``, elements for ``array``). ``itemsize``:
    bytes per element (arrays, dtypes). ``text``: a value's own rendering (dtype code, scalar value).
    """

    __slots__ = ("kind", "size", "items", "itemsize", "text")

    def __init__(
        self, kind: str, size: int = 0, items: Sequence[Any] | range = (), itemsize: int = 0, text: Any = None
    ) -> None:
        self.kind, self.size, self.items, self.itemsize, self.text = kind, size, items, itemsize, text


def built(value: Any) -> Built | None:
    return value.built if isinstance(value, Call) and isinstance(value.built, Built) else None


def kind_of(value: Any) -> str:
    """The kind of a decoded value as the loader holds it: list, dict, set, bytes, ..., or its type name."""
    b = built(value)
    if b is not None:
        return b.kind
    if isinstance(value, Dict):
        return "dict"
    if isinstance(value, Set):
        return "frozenset" if value.frozen else "set"
    if isinstance(value, Call):
        return "call"
    return type(value).__name__


def length(value: Any) -> int | None:
    """How many items iterating ``value`` yields (a dict: its keys), or None when it is not iterable here."""
    if isinstance(value, (list, tuple, bytes, str)):
        return len(value)
    if isinstance(value, Set):
        return len(value.items)
    if isinstance(value, Dict):
        return len(value.pairs)
    b = built(value)
    if b is not None and b.kind in SEQUENCES + SETS + DICTS + ("range", "bytes"):
        return b.size + len(value.extra)
    return None


def iterate(value: Any) -> Iterator[Any]:
    """The items iterating ``value`` yields, in order (a dict: its keys); call :func:`length` first."""
    if isinstance(value, (list, tuple, bytes, str)):
        yield from value
    elif isinstance(value, Set):
        yield from value.items
    elif isinstance(value, Dict):
        yield from (k for k, _ in value.pairs)
    else:
        b = built(value)
        if b is None:
            return
        if b.kind in DICTS:
            yield from (k for k, _ in pairs(value) or ())
        else:
            yield from b.items
            yield from value.extra


def pairs(value: Any) -> list[tuple[Any, Any]] | None:
    """(key, value) pairs of a dict or a built dict/OrderedDict, in insertion order; else None."""
    if isinstance(value, Dict):
        return value.pairs
    b = built(value)
    if b is None or b.kind not in DICTS:
        return None
    extra = value.extra
    return list(b.items) + list(zip(extra[0::2], extra[1::2]))


def hashed_items(value: Any) -> list[Any] | None:
    """The keys or items the loader hashes to build ``value`` (a dict, set or frozenset); else None."""
    found = pairs(value)
    if found is not None:
        return [k for k, _ in found]
    if isinstance(value, Set):
        return value.items
    b = built(value)
    if b is not None and b.kind in SETS:
        return list(b.items) + list(value.extra)
    return None


def copy_cost(value: Any) -> int:
    """Bytes the loader allocates to copy ``value`` into a new container or buffer (an estimate from below)."""
    if isinstance(value, (bytes, str)):
        return len(value)
    n = length(value)
    return 0 if n is None else 8 * n
