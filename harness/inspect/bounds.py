"""What loading an archive may cost before the inspector calls it hostile.

The real loader (`dill.load` from a file: the C unpickler; Keras reading weights and config
values) pays for sizes an archive only declares. `costs`, `keys`, `argrules` and `numpyrules`
model those costs against these bounds; each is far above what a genuine archive needs and
far below what exhausts a machine (README "Inspecting an archive" lists them).
"""

from __future__ import annotations

# --- what loading a pickle may cost (the real loader: dill.load from a file, the C unpickler) -----
# Measured on the archives main, torchapi-devel, refactor and the demo write: params.dill <= 332
# opcodes, memo indices <= 122, FRAME <= 34,698 bytes, one array of <= 4,096 elements (64 KiB),
# <= 75 dict keys, nesting <= 10, no list built by a call. The bounds leave room for other N and for
# values a user adds (an N=256 probe, a 1024x1024 complex64 object: 1,048,576 elements, 8 MiB).
MiB = 1 << 20
MAX_ARRAY_ELEMENTS = 1 << 24  # per numpy array (shape product)
MAX_ARRAY_BYTES = 64 * MiB  # per numpy array (elements x itemsize)
MAX_BUILT_ITEMS = 1 << 16  # items one call builds from an iterable (list(...), set(...), bytes(range))
MAX_BUILT_BYTES = 64 * MiB  # bytes one call allocates (bytes(n), bytearray(b), a copied buffer)
MAX_ALLOCATED = 256 * MiB  # everything the calls of one pickle allocate, copies of shared objects included
MAX_MEMO_INDEX = 1 << 20  # the C unpickler grows its memo (16 bytes a slot) to the largest index
MAX_DEPTH = 64  # nesting of the loaded value
MAX_HASH_DEPTH = 32  # nesting of a dict key or set item (hashing recurses in C)
MAX_HASH_VISITS = 1 << 16  # objects hashing one key visits (tuple hashes are not cached)
MAX_HASH_WORK = 1 << 22  # hash visits of one pickle, all keys together
MAX_COLLISIONS = 1 << 20  # key comparisons of one pickle forced by distinct keys that hash alike
MAX_OPAQUE_KEYS = 1024  # keys of one container whose hash cannot be modelled (objects built by calls)
MAX_TEXT = 1 << 12  # characters of a text a constructor parses (Decimal, complex, dill's range text)
