"""Split a pickle into opcodes the way CPython's unpickler reads it, without running any of them.

:func:`pickletools.genops` is a disassembler: it refuses streams that ``pickle.loads`` accepts
(``I0x10`` is parsed in base 0 by the unpickler, ``L`` integers too), and a reader that stops
where pickle goes on never sees the hazard that follows. This reader consumes exactly the bytes
the unpickler consumes for each opcode, so positions never drift from what a real load would do,
and parses newline-terminated arguments with the unpickler's rules. Standard library and the contract's bounds only.
"""

from __future__ import annotations

import codecs
import pickletools
import struct
from collections.abc import Callable, Iterator
from typing import Any

from . import bounds

__all__ = ["Oversized", "PickleError", "iter_ops"]


class PickleError(Exception):
    """The stream does not describe a value (truncated, malformed, stack underflow)."""


class Oversized(PickleError):
    """An argument claims more bytes than the stream holds, beyond what a load may allocate in vain.

    The C unpickler reading a file allocates a counted argument (BINBYTES8, BINUNICODE8, ...) at its
    declared length before it learns the file is short: the claim itself is the cost.
    """


_OPS = {op.code.encode("latin-1"): op for op in pickletools.opcodes}


class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n > bounds.MAX_BUILT_BYTES and self.pos + n > len(self.data):  # beyond: merely truncated
            raise Oversized(
                f"offset {self.pos}: an argument of {n} bytes, but only {len(self.data) - self.pos} follow: "
                f"dill.load(file) allocates the {n} bytes before it finds the file short"
            )
        if n < 0 or self.pos + n > len(self.data):
            raise PickleError(f"truncated: needs {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def line(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise PickleError(f"truncated: no newline after offset {self.pos}")
        chunk = self.data[self.pos : end]
        self.pos = end + 1
        return chunk


def _int_text(text: bytes, allow_bool: bool) -> Any:
    """INT/LONG text as the unpickler parses it: base 0 like C's strtol (``010`` is octal)."""
    if allow_bool and text in (b"00", b"01"):
        return text == b"01"
    s = text.decode("ascii", "strict").strip().rstrip("L")
    try:
        return int(s, 0)
    except ValueError:
        pass
    sign, body = (-1 if s.startswith("-") else 1), s.lstrip("+-")
    if body.isdigit():  # C's strtol: a leading 0 means octal (010 == 8)
        return sign * int(body, 8 if body.startswith("0") else 10)
    return int(s, 10)


def _string_nl(text: bytes) -> bytes:
    """Protocol-0 STRING: a quoted Python literal, escapes decoded as the unpickler does."""
    if len(text) >= 2 and text[:1] == text[-1:] and text[:1] in (b"'", b'"'):
        return codecs.escape_decode(text[1:-1])[0]
    raise PickleError("the STRING opcode argument must be quoted")


def _sized(width: int, fmt: str) -> Callable[[_Cursor], bytes]:
    def read(cur: _Cursor) -> bytes:
        (n,) = struct.unpack(fmt, cur.take(width))
        return cur.take(n)

    return read


def _fixed(fmt: str) -> Callable[[_Cursor], Any]:
    size = struct.calcsize(fmt)
    return lambda cur: struct.unpack(fmt, cur.take(size))[0]


def _long(width: int, fmt: str) -> Callable[[_Cursor], int]:
    raw = _sized(width, fmt)
    return lambda cur: int.from_bytes(raw(cur), "little", signed=True)


def _pair(cur: _Cursor) -> str:
    module = cur.line().decode("utf-8")
    name = cur.line().decode("utf-8")
    return f"{module} {name}"


_READERS: dict[str, Callable[[_Cursor], Any]] = {
    "uint1": _fixed("<B"),
    "uint2": _fixed("<H"),
    "int4": _fixed("<i"),
    "uint4": _fixed("<I"),
    "uint8": _fixed("<Q"),
    "float8": _fixed(">d"),
    "decimalnl_short": lambda cur: _int_text(cur.line(), True),
    "decimalnl_long": lambda cur: _int_text(cur.line(), False),
    "floatnl": lambda cur: float(cur.line().decode("ascii")),
    "stringnl": lambda cur: _string_nl(cur.line().rstrip()),
    "stringnl_noescape": lambda cur: cur.line().decode("utf-8"),
    "stringnl_noescape_pair": _pair,
    "unicodestringnl": lambda cur: cur.line().decode("raw-unicode-escape"),
    "string1": _sized(1, "<B"),
    "string4": _sized(4, "<i"),
    "bytes1": _sized(1, "<B"),
    "bytes4": _sized(4, "<I"),
    "bytes8": _sized(8, "<Q"),
    "bytearray8": _sized(8, "<Q"),
    "unicodestring1": lambda cur: _sized(1, "<B")(cur).decode("utf-8", "surrogatepass"),
    "unicodestring4": lambda cur: _sized(4, "<I")(cur).decode("utf-8", "surrogatepass"),
    "unicodestring8": lambda cur: _sized(8, "<Q")(cur).decode("utf-8", "surrogatepass"),
    "long1": _long(1, "<B"),
    "long4": _long(4, "<i"),
}


def iter_ops(data: bytes, start: int = 0) -> Iterator[tuple[str, Any, int]]:
    """(opcode name, parsed argument, byte offset) for each opcode from ``start`` up to and including STOP."""
    cur = _Cursor(data)
    cur.pos = start
    while cur.pos < len(data):
        start = cur.pos
        op = _OPS.get(cur.take(1))
        if op is None:
            raise PickleError(f"unknown opcode {data[start]:#04x} at offset {start}")
        arg = None
        if op.arg is not None:
            try:
                arg = _READERS[op.arg.name](cur)
            except (ValueError, UnicodeError, struct.error, OverflowError) as exc:
                raise PickleError(f"bad {op.name} argument at offset {start} ({type(exc).__name__})") from None
        yield op.name, arg, start
        if op.name == "STOP":
            return
    raise PickleError("no STOP opcode")
