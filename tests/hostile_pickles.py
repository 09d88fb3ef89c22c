"""Pickles spelt opcode by opcode, as an attacker writes them, and spliced into genuine members.

Nothing here unpickles anything. The genuine members come from real dill (``archive_builders``);
:func:`splice` adds ``key value`` pairs after every genuine key of a dict pickle, which is what a
hand-edited ``params.dill`` / ``manifest.dill`` / ``custom_objects.dill`` looks like.
"""

from __future__ import annotations

import io
import pickletools
import struct
from pathlib import Path

import dill
from archive_builders import tf_members, write_zip

P4 = b"\x80\x04"
NONE = b"N"
TRUE = b"\x88"
FALSE = b"\x89"
MARK = b"("
MERSENNE = 2**61 - 1  # CPython hashes ints modulo this prime: k * MERSENNE all hash to 0


def sbu(text: str) -> bytes:
    """SHORT_BINUNICODE (BINUNICODE when long)."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + struct.pack("<I", len(data)) + data


def g(module: str, name: str) -> bytes:
    """STACK_GLOBAL module.name."""
    return sbu(module) + sbu(name) + b"\x93"


def b(name: str) -> bytes:
    """A builtin by name."""
    return g("builtins", name)


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + b"t"


def call(func: bytes, *args: bytes) -> bytes:
    """func(*args): MARK args TUPLE REDUCE."""
    return func + tup(*args) + b"R"


def integer(n: int) -> bytes:
    """The shortest integer opcode pickle would use."""
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    if -(2**31) <= n < 2**31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def flt(x: float) -> bytes:
    return b"G" + struct.pack(">d", x)


def binbytes(data: bytes) -> bytes:
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    return b"B" + struct.pack("<I", len(data)) + data


def put(i: int) -> bytes:
    """LONG_BINPUT i."""
    return b"r" + struct.pack("<I", i)


def get(i: int) -> bytes:
    """LONG_BINGET i."""
    return b"j" + struct.pack("<I", i)


def frame(n: int) -> bytes:
    return b"\x95" + struct.pack("<Q", n)


def lst(*items: bytes) -> bytes:
    """EMPTY_LIST, then MARK items APPENDS."""
    return b"]" + (MARK + b"".join(items) + b"e" if items else b"")


def rng(n: int) -> bytes:
    return call(b("range"), integer(n))


def dtype(code: str, order: str = "<", elsize: int = -1, alignment: int = -1, flags: int = 0) -> bytes:
    """numpy.dtype(code, False, True) + BUILD state, as numpy pickles a dtype."""
    state = tup(integer(3), sbu(order), NONE, NONE, NONE, integer(elsize), integer(alignment), integer(flags))
    return call(g("numpy", "dtype"), sbu(code), FALSE, TRUE) + state + b"b"


RECONSTRUCT = g("numpy._core.multiarray", "_reconstruct")
NDARRAY = g("numpy", "ndarray")
CREATE_ARRAY = g("dill._dill", "_create_array")
EVAL_REPR = g("dill._dill", "_eval_repr")


def nd_state(shape: tuple[int, ...], dtype_ops: bytes, data: bytes) -> bytes:
    """An ndarray's pickled state: (1, shape, dtype, fortran, data)."""
    return tup(integer(1), tup(*(integer(n) for n in shape)), dtype_ops, FALSE, data)


def dill_array(shape: tuple[int, ...], dtype_ops: bytes, data: bytes, base: tuple[int, ...] = (0,)) -> bytes:
    """dill's spelling of an ndarray: _create_array(_reconstruct, (ndarray, base, b'b'), state, None)."""
    args = tup(NDARRAY, tup(*(integer(n) for n in base)), binbytes(b"b"))
    return call(CREATE_ARRAY, RECONSTRUCT, args, nd_state(shape, dtype_ops, data), NONE)


def colliding(n: int, sign: int = 1) -> list[bytes]:
    """n distinct ints that all hash to 0."""
    return [integer(sign * k * MERSENNE) for k in range(1, n + 1)]


def t80(levels: int = 80, memo: bool = False) -> bytes:
    """t(i+1) = (t(i), t(i)): 2**levels leaves in a few hundred bytes (DUP, or memo GETs)."""
    if not memo:
        return b")" + b"2\x86" * levels
    out = b")" + put(7000) + b"0"
    for i in range(levels):
        out += get(7000 + i) + get(7000 + i) + b"\x86" + put(7001 + i) + b"0"
    return out + get(7000 + levels)


def unframe(data: bytes) -> bytes:
    """The same pickle without FRAME opcodes (the unpickler reads both alike)."""
    cuts = [pos for op, _arg, pos in pickletools.genops(data) if op.name == "FRAME"]
    out, last = [], 0
    for pos in cuts:
        out.append(data[last:pos])
        last = pos + 9
    return b"".join(out) + data[last:]


def splice(genuine: bytes, pairs: bytes, tail: bytes = b"u.") -> bytes:
    """A genuine dill dict pickle with ``key value`` pairs added after its last key (inside its MARK)."""
    flat = unframe(genuine)
    assert flat.endswith(b"u."), "not a dict pickle ending in SETITEMS STOP"
    return flat[:-2] + pairs + tail


def body(obj: object) -> bytes:
    """The opcodes that rebuild ``obj`` (dill, protocol 4, no memo), without PROTO/FRAME/STOP."""
    buf = io.BytesIO()
    pickler = dill.Pickler(buf, protocol=4)
    pickler.fast = True
    pickler.dump(obj)
    flat = unframe(buf.getvalue())
    return flat[2:-1]


def hostile_archive(
    folder: Path, member: str, pairs: bytes = b"", data: bytes | None = None, both: bool = True
) -> Path:
    """A genuine archive in ``folder`` with ``member`` replaced by ``data`` or the genuine one plus ``pairs``.

    ``both``: a params.dill/custom_objects.dill payload lands in both models' folders (the loader
    loads both; the first it reaches fires).
    """
    members = tf_members()
    replace = data if data is not None else splice(members[member], pairs)
    targets = [member]
    if both and "/" in member:
        base = member.split("/", 1)[1]
        targets = [f"{m}/{base}" for m in ("autoencoder", "diffraction_to_obj")]
    members.update({t: replace for t in targets})
    folder.mkdir(parents=True, exist_ok=True)
    return write_zip(folder / "wts.h5.zip", members)


def touch(marker: Path) -> str:
    """Python text that creates ``marker``: the witness that a payload ran."""
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


def expect(desc: dict, code: int, kinds: set[str] | None = None, *needles: str) -> None:
    """The verdict: exit code, the problem kinds (when given), and the words the messages hold."""
    found = {p["kind"] for p in desc["problems"]}
    assert desc["exit_code"] == code, (desc["summary"], desc["problems"][:3])
    if kinds is not None:
        assert found == kinds, (found, desc["problems"][:3])
    text = " ".join(p["message"] for p in desc["problems"]) + " " + desc["summary"]
    for needle in needles:
        assert needle in text, (needle, text[:1500])


def inspected(path: Path, witness: Path | None = None) -> dict:
    """``describe_archive(path)``, witnessed: nothing appears beside the archive (no payload ran, no
    file was extracted) and the marker a payload would create is absent."""
    from harness.inspect.sandbox import describe_archive

    root = path.parent.parent if path.parent.name == "a" else path.parent
    before = sorted(root.rglob("*"))
    desc = describe_archive(path)
    assert sorted(root.rglob("*")) == before, "the inspection left files behind"
    assert witness is None or not witness.exists()
    return desc
