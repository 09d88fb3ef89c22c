"""What each pickle opcode does on the safe stack machine (:mod:`harness.inspect.safepickle`).

One small function per opcode family, mirroring CPython's ``_pickle.c``: containers and scalars
are rebuilt (dicts and sets as item lists, never hashed), imports and calls go through the
machine's ``global_``/``call``, which judge them and return placeholders. ``m`` is the machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .pickleops import PickleError
from .picklevalues import Dict, Set

Handler = Callable[[Any, Any], None]


def _push_arg(m: Any, arg: Any) -> None:
    m.stack.append(bytes(arg) if isinstance(arg, bytearray) else arg)


def _py2_string(m: Any, arg: Any) -> None:
    """STRING/BINSTRING: Python 2 str, which Python 3's unpickler decodes as ASCII by default."""
    try:
        m.stack.append(arg.decode("ascii"))
    except UnicodeDecodeError:
        raise PickleError(f"non-ASCII Python 2 string at offset {m.pos}: a default load fails here") from None


def _proto(m: Any, arg: Any) -> None:
    m.proto = arg


def _mark(m: Any, arg: Any) -> None:
    m.marks.append(len(m.stack))


def _pop(m: Any, arg: Any) -> None:
    if len(m.stack) > m.fence():
        m.stack.pop()
    else:
        m.pop_mark()


def _tuple_n(n: int) -> Handler:
    def run(m: Any, arg: Any) -> None:
        if len(m.stack) - m.fence() < n:
            raise PickleError(f"stack underflow at offset {m.pos}")
        items = tuple(m.stack[len(m.stack) - n :]) if n else ()
        del m.stack[len(m.stack) - n :]
        m.stack.append(items)

    return run


def _dict(m: Any, arg: Any) -> None:
    items = m.pop_mark()
    if len(items) % 2:
        raise PickleError(f"odd number of items for DICT at offset {m.pos}")
    m.stack.append(m.costs.hashed_container(Dict(list(zip(items[0::2], items[1::2])))))


def _hashed(make: Any) -> Handler:
    """EMPTY_DICT / EMPTY_SET: a container whose keys the loader hashes as they are added."""
    return lambda m, arg: m.stack.append(m.costs.hashed_container(make()))


def _append(m: Any, arg: Any) -> None:
    item = m.pop()
    m.add(m.top(), [item], "list")


def _appends(m: Any, arg: Any) -> None:
    items = m.pop_mark()
    m.add(m.top(), items, "list")


def _setitem(m: Any, arg: Any) -> None:
    value = m.pop()
    key = m.pop()
    m.add(m.top(), [key, value], "dict")


def _setitems(m: Any, arg: Any) -> None:
    items = m.pop_mark()
    if len(items) % 2:
        raise PickleError(f"odd number of items for SETITEMS at offset {m.pos}")
    m.add(m.top(), items, "dict")


def _additems(m: Any, arg: Any) -> None:
    items = m.pop_mark()
    m.add(m.top(), items, "set")


def _get(m: Any, arg: Any) -> None:
    if arg not in m.memo:
        raise PickleError(f"memo key {arg} missing at offset {m.pos}")
    m.stack.append(m.memo[arg])


def _put(m: Any, arg: Any) -> None:
    if not isinstance(arg, int) or arg < 0:
        raise PickleError(f"negative memo key at offset {m.pos}")
    m.costs.memo(arg)
    m.memo[arg] = m.top()


def _memoize(m: Any, arg: Any) -> None:
    m.costs.memo(len(m.memo))
    m.memo[len(m.memo)] = m.top()


def _frame(m: Any, arg: Any) -> None:
    """FRAME n: ``dill.load(file)`` reads (allocates) n bytes at once; they must be there."""
    m.costs.frame(arg, m.costs.size - (m.pos + 9))


def _global(m: Any, arg: Any) -> None:
    module, _, qualname = str(arg).partition(" ")
    m.stack.append(m.global_(module, qualname))


def _stack_global(m: Any, arg: Any) -> None:
    qualname = m.pop()
    module = m.pop()
    m.stack.append(m.global_(module, qualname))


def _ext(m: Any, arg: Any) -> None:
    m.hazard(f"EXT looks up copyreg extension code {arg}: its target is unknown")
    m.stack.append(m.global_("copyreg", f"_extension_registry_{arg}"))


def _reduce(m: Any, arg: Any) -> None:
    args = m.pop()
    func = m.pop()
    if not isinstance(args, tuple):
        raise PickleError(f"REDUCE arguments are not a tuple at offset {m.pos}")
    m.stack.append(m.call(func, args, None, "REDUCE"))


def _inst(m: Any, arg: Any) -> None:
    module, _, qualname = str(arg).partition(" ")
    args = tuple(m.pop_mark())
    m.stack.append(m.call(m.global_(module, qualname), args, None, "INST"))


def _obj(m: Any, arg: Any) -> None:
    items = m.pop_mark()
    if not items:
        raise PickleError(f"OBJ without a class at offset {m.pos}")
    m.stack.append(m.call(items[0], tuple(items[1:]), None, "OBJ"))


def _newobj(m: Any, arg: Any) -> None:
    args = m.pop()
    cls = m.pop()
    m.stack.append(m.call(cls, args, None, "NEWOBJ"))


def _newobj_ex(m: Any, arg: Any) -> None:
    kwargs = m.pop()
    args = m.pop()
    cls = m.pop()
    m.stack.append(m.call(cls, args, kwargs, "NEWOBJ_EX"))


def _build(m: Any, arg: Any) -> None:
    m.build(m.pop())


def _frozenset(m: Any, arg: Any) -> None:
    m.stack.append(m.costs.hashed_container(Set(m.pop_mark(), frozen=True)))


def _next_buffer(m: Any, arg: Any) -> None:
    raise PickleError(f"out-of-band buffer (protocol 5) at offset {m.pos}: a file cannot supply it")


def _readonly(m: Any, arg: Any) -> None:
    m.top()


HANDLERS: dict[str, Handler] = {
    **{
        name: _push_arg
        for name in (
            "INT",
            "BININT",
            "BININT1",
            "BININT2",
            "LONG",
            "LONG1",
            "LONG4",
            "FLOAT",
            "BINFLOAT",
            "BINBYTES",
            "SHORT_BINBYTES",
            "BINBYTES8",
            "BYTEARRAY8",
            "UNICODE",
            "SHORT_BINUNICODE",
            "BINUNICODE",
            "BINUNICODE8",
        )
    },
    "STRING": _py2_string,
    "BINSTRING": _py2_string,
    "SHORT_BINSTRING": _py2_string,
    "PROTO": _proto,
    "FRAME": _frame,
    "READONLY_BUFFER": _readonly,
    "NEXT_BUFFER": _next_buffer,
    "NONE": lambda m, a: m.stack.append(None),
    "NEWTRUE": lambda m, a: m.stack.append(True),
    "NEWFALSE": lambda m, a: m.stack.append(False),
    "MARK": _mark,
    "POP": _pop,
    "POP_MARK": lambda m, a: m.pop_mark(),
    "DUP": lambda m, a: m.stack.append(m.top()),
    "EMPTY_LIST": lambda m, a: m.stack.append([]),
    "APPEND": _append,
    "APPENDS": _appends,
    "LIST": lambda m, a: m.stack.append(m.pop_mark()),
    "EMPTY_TUPLE": _tuple_n(0),
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "TUPLE": lambda m, a: m.stack.append(tuple(m.pop_mark())),
    "EMPTY_DICT": _hashed(Dict),
    "DICT": _dict,
    "SETITEM": _setitem,
    "SETITEMS": _setitems,
    "EMPTY_SET": _hashed(Set),
    "ADDITEMS": _additems,
    "FROZENSET": _frozenset,
    "GET": _get,
    "BINGET": _get,
    "LONG_BINGET": _get,
    "PUT": _put,
    "BINPUT": _put,
    "LONG_BINPUT": _put,
    "MEMOIZE": _memoize,
    "GLOBAL": _global,
    "STACK_GLOBAL": _stack_global,
    "EXT1": _ext,
    "EXT2": _ext,
    "EXT4": _ext,
    "REDUCE": _reduce,
    "BUILD": _build,
    "INST": _inst,
    "OBJ": _obj,
    "NEWOBJ": _newobj,
    "NEWOBJ_EX": _newobj_ex,
    "PERSID": lambda m, a: m.stack.append(m.persistent(a)),
    "BINPERSID": lambda m, a: m.stack.append(m.persistent(m.pop())),
}
