"""Argument rules for the numpy (and TensorFlow) calls a genuine ``params.dill`` makes.

A genuine probe is ``convert_to_tensor(_create_array(_reconstruct, (ndarray, (0,), b'b'),
(1, shape, dtype, False, data), None))`` (main) or ``_reconstruct(...)`` + BUILD (numpy's own
spelling): a dtype from a short list of plain codes, a shape whose elements times itemsize is
exactly the length of the data bytes that follow, and every size within
:data:`~harness.bounds.MAX_ARRAY_ELEMENTS` / :data:`~harness.bounds.MAX_ARRAY_BYTES`. Object
and void dtypes (numpy's ``__setstate__`` of an object array from a short list crashes the loader),
subarray dtypes (``'(8192,8192)f8'``), a BUILD state that changes a dtype's item size, and
``_create_array`` calling anything but ``_reconstruct`` are refused.
"""

from __future__ import annotations

import math
import re
from typing import Any

from . import bounds
from .built import Built, built
from .picklevalues import NUMPY_MULTIARRAY, Call, Dict, Global

# dtype codes numpy pickles for plain data (no object, void, subarray or structured dtypes).
DTYPE_CODE = re.compile(r"(b1|[iu][1248]|f(2|4|8|16)|c(8|16|32)|[US][0-9]{1,4}|[Mm]8(\[[A-Za-z]{1,3}\])?)\Z")
RECONSTRUCT = tuple(f"{m}._reconstruct" for m in NUMPY_MULTIARRAY)
FROMBUFFER = ("numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer", "numpy.core.multiarray._frombuffer")


class Shape(Exception):
    """Arguments a genuine member never passes to this callable: judged as hostile."""


def _itemsize(code: str) -> int:
    if code[0] in "US":
        return int(code[1:]) * (4 if code[0] == "U" else 1)
    if code[0] in "Mm":
        return 8
    return int(code[1:])


def dtype_call(m: Any, call: Call) -> Call:
    """``numpy.dtype(code, align, copy)``: a plain code only."""
    args = call.args
    if not (1 <= len(args) <= 3 and isinstance(args[0], str)):
        raise Shape("a dtype is built from its code")
    if not DTYPE_CODE.match(args[0]):
        raise Shape(f"dtype code {args[0][:40]!r} is not a plain numeric, text or date code")
    call.built = Built("dtype", itemsize=_itemsize(args[0]), text=args[0])
    return call


def dtype_state(call: Call, state: Any) -> None:
    """BUILD of a dtype: (3, order, None, None, None, elsize, alignment, flags[, metadata]); sizes unchanged."""
    b = call.built
    if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)):
        raise Shape("a dtype's state is numpy's 8-tuple")
    order, sub, names, fields, elsize, alignment = state[1:7]
    if order not in ("<", ">", "|", "=") or (sub, names, fields) != (None, None, None):
        raise Shape("a plain dtype has no subarray, names or fields")
    if elsize not in (-1, b.itemsize) or not (isinstance(alignment, int) and -1 <= alignment <= 16):
        raise Shape(f"the state sets an item size of {elsize} on dtype {b.text!r} (its own: {b.itemsize})")


def _dtype(value: Any) -> Built:
    b = built(value)
    if b is None or b.kind != "dtype":
        raise Shape("the dtype is not a plain numpy.dtype")
    return b


def _elements(m: Any, shape: Any, itemsize: int, what: str) -> int:
    dims = (shape,) if isinstance(shape, int) else shape
    if not isinstance(dims, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) for n in dims):
        raise Shape("a shape is a tuple of ints")
    if any(n < 0 for n in dims) or len(dims) > 32:
        raise Shape("a shape has at most 32 non-negative dimensions")
    elements = math.prod(dims)
    if elements > bounds.MAX_ARRAY_ELEMENTS:
        raise m.costs.refuse(
            f"{what} of shape {tuple(dims)} holds {elements} elements (bound: {bounds.MAX_ARRAY_ELEMENTS})"
        )
    m.costs.charge(elements * itemsize, f"{what} of shape {tuple(dims)}", bounds.MAX_ARRAY_BYTES)
    return elements


def reconstruct(m: Any, call: Call) -> Call:
    """``_reconstruct(ndarray, shape, typecode)``: the empty array numpy's ``__setstate__`` then fills."""
    args = call.args
    if not (len(args) == 3 and isinstance(args[0], Global) and args[0].name == "numpy.ndarray"):
        raise Shape("_reconstruct rebuilds a numpy.ndarray")
    if not (isinstance(args[2], bytes) and len(args[2]) == 1):
        raise Shape("_reconstruct takes a one-character type code")
    call.built = Built("array", _elements(m, args[1], 1, "_reconstruct"), itemsize=1, text="pending")
    return call


def array_state(m: Any, call: Call, state: Any) -> None:
    """``ndarray.__setstate__((version, shape, dtype, fortran, data))``: data bytes of exactly the array's size."""
    if isinstance(state, tuple) and len(state) == 5:
        state = state[1:]
    if not (isinstance(state, tuple) and len(state) == 4):
        raise Shape("an array's state is (version, shape, dtype, fortran, data)")
    shape, dtype, fortran, data = state
    b = _dtype(dtype)
    if not isinstance(fortran, (bool, int)):
        raise Shape("an array's fortran flag is a bool")
    elements = _elements(m, shape, b.itemsize, f"a {b.text} array")
    if not isinstance(data, (bytes, str)):
        raise Shape("an array's data is a bytes object (an object array's list crashes numpy's __setstate__)")
    if len(data) != elements * b.itemsize:
        raise Shape(f"{len(data)} data bytes for {elements} elements of {b.itemsize} bytes")
    call.built = Built("array", elements, itemsize=b.itemsize, text=b.text)


def create_array(m: Any, call: Call) -> Call:
    """dill's ``_create_array(f, args, state, npdict)`` calls ``f(*args)``: only numpy's ``_reconstruct``."""
    args = call.args
    if not (3 <= len(args) <= 4 and isinstance(args[1], tuple)):
        raise Shape("_create_array takes (f, args, state[, npdict])")
    f = args[0]
    if not (isinstance(f, Global) and f.name in RECONSTRUCT):
        shown = f.name if isinstance(f, Global) else type(f).__name__
        raise Shape(f"dill's _create_array would call {shown}(...); it may only call numpy's _reconstruct")
    reconstruct(m, Call(f, args[1], None, "REDUCE"))
    npdict = args[3] if len(args) == 4 else None
    if not (npdict is None or (isinstance(npdict, Dict) and all(isinstance(k, str) for k, _ in npdict.pairs))):
        raise Shape("an array's extra attributes are a dict of names")
    array_state(m, call, args[2])
    return call


def ndarray(m: Any, call: Call) -> Call:
    """``numpy.ndarray(shape[, dtype])``: an uninitialised array of that size."""
    args = call.args
    if not 1 <= len(args) <= 2:
        raise Shape("numpy.ndarray takes (shape[, dtype])")
    b = _dtype(args[1]) if len(args) == 2 else Built("dtype", itemsize=8, text="f8")
    call.built = Built("array", _elements(m, args[0], b.itemsize, "numpy.ndarray"), itemsize=b.itemsize, text=b.text)
    return call


def frombuffer(m: Any, call: Call) -> Call:
    """``_frombuffer(buffer, dtype, shape, order)`` (protocol 5): the buffer is exactly the array's bytes."""
    args = call.args
    if not (len(args) == 4 and isinstance(args[0], bytes) and args[3] in ("C", "F")):
        raise Shape("_frombuffer takes (bytes, dtype, shape, order)")
    b = _dtype(args[1])
    elements = _elements(m, args[2], b.itemsize, f"a {b.text} array")
    if len(args[0]) != elements * b.itemsize:
        raise Shape(f"{len(args[0])} buffer bytes for {elements} elements of {b.itemsize} bytes")
    call.built = Built("array", elements, itemsize=b.itemsize, text=b.text)
    return call


def scalar(m: Any, call: Call) -> Call:
    """``numpy...scalar(dtype, raw)``: one element's bytes."""
    args = call.args
    if not (len(args) == 2 and isinstance(args[1], bytes)):
        raise Shape("a numpy scalar is (dtype, its bytes)")
    b = _dtype(args[0])
    if len(args[1]) != b.itemsize:
        raise Shape(f"{len(args[1])} bytes for a scalar of {b.itemsize}")
    call.built = Built("scalar", 1, itemsize=b.itemsize, text=b.text)
    return call


def convert_to_tensor(m: Any, call: Call) -> Call:
    """TensorFlow's ``convert_to_tensor(array)``: how main pickles the probe; an array or a number only."""
    args = call.args
    value = args[0] if len(args) == 1 else None
    b = built(value)
    if b is not None and b.kind in ("array", "scalar"):
        m.costs.charge(b.size * b.itemsize, "convert_to_tensor", bounds.MAX_ARRAY_BYTES)
        call.built = Built("array", b.size, itemsize=b.itemsize, text=b.text)
        return call
    if isinstance(value, (int, float, complex)):
        call.built = Built("scalar", 1)
        return call
    raise Shape("convert_to_tensor of anything but a numpy array or a number")


RULES = {
    "numpy.dtype": dtype_call,
    "numpy.ndarray": ndarray,
    "dill._dill._create_array": create_array,
    "tensorflow.python.framework.ops.convert_to_tensor": convert_to_tensor,
    **{name: reconstruct for name in RECONSTRUCT},
    **{name: frombuffer for name in FROMBUFFER},
    **{f"{m}.scalar": scalar for m in NUMPY_MULTIARRAY},
}
