"""What loading a pickle costs the real loader, modelled while it is decoded, refused beyond a bound.

PtychoPINN's loader calls ``dill.load(open(member, 'rb'))``: the C unpickler, reading a file. The
inspector never runs it, so it prices what that unpickler would pay and the decoder does not:

* **allocations** of the calls it makes (a constructor over a range, a copy of a shared 1 MiB bytes,
  a numpy array) — each call within its own bound, all calls of a pickle within
  :data:`~harness.bounds.MAX_ALLOCATED` (a memo GET costs nothing, a copy through a constructor does);
* **the memo**: ``LONG_BINPUT n`` grows the memo array to ``2n`` slots before storing one object;
* **frames**: ``FRAME n`` makes ``file.read(n)`` allocate ``n`` bytes before it learns the file is short;
* **hashing**: every dict key and set item is hashed and compared on insertion — keys that hash
  alike cost quadratic time, a key nested deep recurses in C, a tuple shared at every level is
  hashed exponentially often (:mod:`harness.inspect.keys`);
* **nesting** of the loaded value.

Beyond a bound the pickle is refused as ``loader_cost`` (hostile) with the reason and the bound:
the verdict never depends on the inspector's own sandbox limits.
"""

from __future__ import annotations

from typing import Any

from . import bounds
from .built import hashed_items
from .keys import OPAQUE, TooDeep, Unhashable, hash_walk, real_key, token
from .pickleops import PickleError
from .picklevalues import Call, Dict, Set


class CostError(PickleError):
    """Loading this pickle would cost the real loader more than the bounds allow."""


class UnloadableError(PickleError):
    """The real load would fail here (an unhashable key): the pickle cannot be what it claims."""


def _size(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.4g} {unit}"
    return f"{n} bytes"


class Costs:
    """The running bill of one pickle; ``pos`` is the offset of the opcode being paid for."""

    def __init__(self, size: int) -> None:
        self.size = size  # bytes of the member: what a FRAME may claim
        self.pos = 0
        self.allocated = 0
        self.hashed: list[Any] = []  # containers whose keys/items the loader hashes, in creation order

    def refuse(self, what: str) -> CostError:
        return CostError(f"offset {self.pos}: {what}")

    def charge(self, nbytes: int, what: str, bound: int = bounds.MAX_BUILT_BYTES) -> None:
        """One call allocates ``nbytes`` (within ``bound``); all of them within MAX_ALLOCATED."""
        if nbytes > bound:
            raise self.refuse(f"{what} makes the loader allocate {_size(nbytes)} (bound: {_size(bound)} per call)")
        self.allocated += nbytes
        if self.allocated > bounds.MAX_ALLOCATED:
            raise self.refuse(
                f"{what} brings what the loader allocates for this pickle to {_size(self.allocated)} "
                f"(bound: {_size(bounds.MAX_ALLOCATED)}; copies of one shared object count each time)"
            )

    def items(self, n: int, what: str) -> None:
        if n > bounds.MAX_BUILT_ITEMS:
            raise self.refuse(f"{what} builds {n} items (bound: {bounds.MAX_BUILT_ITEMS} per call)")

    def memo(self, index: int) -> None:
        if index > bounds.MAX_MEMO_INDEX:
            raise self.refuse(
                f"memo index {index}: the C unpickler grows its memo to {2 * index} slots "
                f"({_size(16 * index)}) to store one object (bound: index {bounds.MAX_MEMO_INDEX})"
            )

    def frame(self, length: int, left: int) -> None:
        if left < length <= bounds.MAX_BUILT_BYTES:
            raise UnloadableError(
                f"FRAME of {length} bytes at offset {self.pos} but only {left} follow: the real load fails "
                "('pickle data was truncated')"
            )
        if length > left:
            raise self.refuse(
                f"FRAME of {length} bytes but only {left} follow: dill.load(file) allocates "
                f"{_size(length)} before it finds the file short (then fails: 'pickle data was truncated')"
            )

    def hashed_container(self, container: Any) -> Any:
        self.hashed.append(container)
        return container

    def settle(self, root: Any) -> None:
        """After the last opcode: the hashing the loader did, and how deep the loaded value is."""
        _HashBill(self).run()
        depth = measure_depth(root, bounds.MAX_DEPTH)
        if depth > bounds.MAX_DEPTH:
            raise CostError(
                f"the loaded value is nested more than {bounds.MAX_DEPTH} levels deep (genuine archives: "
                "10): code that walks it (repr, ==, deepcopy) recurses past the C stack"
            )


class _HashBill:
    """Hash visits, depth and collisions of every hashed container's keys, in the order they were built."""

    def __init__(self, costs: Costs) -> None:
        self.costs = costs
        self.visits = 0
        self.collisions = 0
        self.walks: dict[int, int] = {}
        self.reals: dict[int, Any] = {}

    def run(self) -> None:
        for container in self.costs.hashed:
            self.container(container)

    def container(self, container: Any) -> None:
        keys = hashed_items(container) or []
        hashes: list[tuple[int, int]] = []  # (hash, index of the key)
        opaque = 0
        for i, key in enumerate(keys):
            self.walk(key)
            real = real_key(key, self.reals)
            if real is OPAQUE:
                opaque += 1
            else:
                hashes.append((hash(real), i))
        if opaque > bounds.MAX_OPAQUE_KEYS:
            raise CostError(
                f"a {_name(container)} of {opaque} keys built by calls, whose hashing cost cannot be "
                f"modelled (bound: {bounds.MAX_OPAQUE_KEYS})"
            )
        hashes.sort()
        start = 0
        while start < len(hashes):
            end = start + 1
            while end < len(hashes) and hashes[end][0] == hashes[start][0]:
                end += 1
            if end - start > 1:
                self.collide([keys[i] for _, i in hashes[start:end]], container)
            start = end

    def walk(self, key: Any) -> None:
        try:
            visits = hash_walk(key, self.walks)
        except TooDeep:
            raise CostError(
                f"a {_name(key)} nested more than {bounds.MAX_HASH_DEPTH} levels deep is hashed as a "
                "dict key or set item: hashing recurses in C for every level (a deep one crashes the loader)"
            ) from None
        except Unhashable as exc:
            raise UnloadableError(
                f"a {exc} is used as a dict key or set item: the real load raises TypeError"
            ) from None
        if visits > bounds.MAX_HASH_VISITS:
            raise CostError(
                f"hashing one key visits more than {bounds.MAX_HASH_VISITS} objects (a tuple shared at every "
                "level is hashed once per path through it: a hash bomb)"
            )
        self.visits += visits
        if self.visits > bounds.MAX_HASH_WORK:
            raise CostError(f"hashing the keys of this pickle visits more than {bounds.MAX_HASH_WORK} objects")

    def collide(self, group: list[Any], container: Any) -> None:
        """Keys of equal hash: each inserted key is compared with the distinct ones before it."""
        n = len(group)
        if self.collisions + n * (n - 1) // 2 <= bounds.MAX_COLLISIONS:
            self.collisions += n * (n - 1) // 2  # at most this, whatever repeats
            return
        seen: set[str] = set()
        for key in group:  # how many are distinct, until the bill is known to be too high
            seen.add(token(key))
            if self.collisions + n * (len(seen) - 1) // 2 > bounds.MAX_COLLISIONS:
                raise CostError(
                    f"{n} keys of a {_name(container)} hash alike, at least {len(seen)} of them distinct: inserting "
                    f"them costs the loader up to {n * (n - 1) // 2} comparisons (bound: {bounds.MAX_COLLISIONS} "
                    "per pickle; quadratic in the number of keys)"
                )
        self.collisions += n * (len(seen) - 1) // 2


def _name(value: Any) -> str:
    if isinstance(value, Dict):
        return "dict"
    if isinstance(value, Set):
        return "frozenset" if value.frozen else "set"
    if isinstance(value, Call) and value.built is not None:
        return str(value.built.kind)
    return type(value).__name__


def _children(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Set):
        return value.items
    if isinstance(value, Dict):
        return [x for pair in value.pairs for x in pair]
    if isinstance(value, Call):
        return [value.args, value.state, value.kwargs, value.extra]
    return []


def measure_depth(root: Any, limit: int) -> int:
    """Nesting depth of ``root`` (each object walked once, cycles cut); stops just past ``limit``."""
    heights: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[list[Any]] = []  # [object, its children, next child, deepest child so far]

    def enter(value: Any) -> int | None:
        """The height of ``value`` when known now; else it is pushed and None returned."""
        children = _children(value)
        if not children:
            return 0
        if id(value) in heights:
            return heights[id(value)]
        if id(value) in on_path:
            return 0  # a cycle: the loader holds it, nothing walks it twice
        on_path.add(id(value))
        stack.append([value, children, 0, 0])
        return None

    found = enter(root)
    while stack:
        if len(stack) > limit:
            return limit + 1
        frame = stack[-1]
        if frame[2] < len(frame[1]):
            frame[2] += 1
            height = enter(frame[1][frame[2] - 1])
            if height is not None:
                frame[3] = max(frame[3], height)
            continue
        stack.pop()
        on_path.discard(id(frame[0]))
        heights[id(frame[0])] = found = frame[3] + 1
        if stack:
            stack[-1][3] = max(stack[-1][3], found)
    return found or 0
