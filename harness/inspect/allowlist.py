"""What each kind of pickle in an archive may import, and what a Keras config may name.

`callchain inspect`'s allow-lists (judged by `safepickle` and `argrules`, `kerascfg`): the
contract (harness/contract.py) says which members an archive holds and which clauses it
meets; this module says which names a genuine member of each kind needs, learnt from the
archives the real revisions write and the files torch and Lightning write. Anything not here
is refused: refusals are the safe side of an allow-list.
"""

from __future__ import annotations

from ..contract import TARGET_NAMESPACES

# --- what each pickle kind may import ---------------------------------------------------------
# Learnt from the archives that main, torchapi-devel and refactor write (callchain trace), and the
# demo's. A name is judged after pickle's own fix_imports mapping (protocol 0-2) and exactly as
# spelt: ``tempfile._os.system`` is not ``os.system`` and is in no list, so it is hostile.
# CALLABLE: globals a genuine pickle calls (REDUCE/NEWOBJ) to rebuild plain data.
# REFERENCE: globals it may only name (never call): classes a loader looks up.

_NUMPY = (
    tuple(f"numpy.{core}.multiarray.{name}" for core in ("core", "_core") for name in ("_reconstruct", "scalar"))
    + tuple(f"numpy.{core}.numeric._frombuffer" for core in ("core", "_core"))
    + ("numpy.ndarray", "numpy.dtype", "numpy.core.multiarray._frombuffer", "dill._dill._create_array")
)  # dill's ndarray: _create_array(_reconstruct, args, state, npdict)
# params.dill of main/torchapi-devel/refactor holds the probe as a tf.Tensor: EagerTensor pickles
# as convert_to_tensor(<ndarray>).
_TENSORFLOW = ("tensorflow.python.framework.ops.convert_to_tensor",)
_PLAIN = (
    "builtins.set",
    "builtins.frozenset",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.complex",
    "builtins.slice",
    "builtins.range",
    "collections.OrderedDict",
    "builtins.list",
    "builtins.dict",
    "builtins.tuple",
    "dill._dill._load_type",
)
# Inert standard-library values a config may hold (real dill writes them as these calls); each is
# admitted only with the arguments :mod:`harness.inspect.argrules` allows.
_STDLIB_VALUES = (
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "copyreg._reconstructor",  # protocols 0-1: an object rebuilt without calling it (as NEWOBJ)
    "dill._dill._eval_repr",  # range(...), Ellipsis, NotImplemented: only the exact texts dill writes
)
_PATHS = (
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib.Path",
    "pathlib.PurePosixPath",
    "pathlib.PureWindowsPath",
    "pathlib._local.PosixPath",
    "pathlib._local.WindowsPath",
)
# torch's tensor rebuild functions, by name: a checkpoint is read without importing torch.
_TORCH = (
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_tensor_v3",
    "torch._tensor._rebuild_from_type_v2",
    "torch.Size",
    "torch.device",
    "collections.OrderedDict",
    "torch.FloatStorage",
    "torch.DoubleStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
    "torch.ComplexFloatStorage",
    "torch.ComplexDoubleStorage",
    "torch.storage.UntypedStorage",
    "torch.storage.TypedStorage",
    "torch.float32",
    "torch.float64",
    "torch.complex64",
    "torch.int64",
    "torch.int32",
    "torch.bool",
    "torch.uint8",
    "torch.float16",
    "torch.bfloat16",
    "torch.nn.parameter.Parameter",
    "torch.Tensor",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
    "builtins.set",
    "argparse.Namespace",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch.serialization._get_layout",
    "torch.strided",
    # Lightning's hyperparameters container (a dict subclass), under its three package names
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning.pytorch.utilities.parsing.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "pathlib.PosixPath",
    "builtins.slice",
)

CALLABLE: dict[str, frozenset[str]] = {
    "manifest": frozenset(_PLAIN),
    "params": frozenset(_NUMPY + _PLAIN + _PATHS + _TENSORFLOW + _STDLIB_VALUES),
    "data": frozenset(_NUMPY + _PLAIN + _PATHS + _STDLIB_VALUES),
    "custom_objects": frozenset(_PLAIN),
    "checkpoint": frozenset(_TORCH + _NUMPY + _PLAIN),
}
# _codecs.encode(text, 'latin1') is how protocols 0-2 spell bytes: decoded as data, never called.
REFERENCE: dict[str, frozenset[str]] = {
    kind: names
    | frozenset(
        {"builtins.NoneType", "builtins.int", "builtins.float", "builtins.str", "builtins.bool", "_codecs.encode"}
    )
    for kind, names in CALLABLE.items()
}
# custom_objects.dill maps names to the target's classes and functions: references only (a loader
# hands them to keras.models.load_model, which calls them), and only inside the target's namespace.
# torch.save of a whole module (torch.save(model)) names torch's own layer classes: a checkpoint may
# instantiate them (NEWOBJ, then BUILD of their __dict__), never call anything else of torch.nn.
TORCH_MODULE_NAMESPACES = ("torch.nn.modules",)
REFERENCE_NAMESPACES: dict[str, tuple[str, ...]] = {
    "custom_objects": TARGET_NAMESPACES,
    "checkpoint": TARGET_NAMESPACES + TORCH_MODULE_NAMESPACES,
    "data": TARGET_NAMESPACES,  # a pickle of no known kind may name the target's classes, never call them
    "params": TARGET_NAMESPACES,  # config dataclasses and Enums, rebuilt by default means only (argrules)
}
# dill's _load_type(name) returns a type by name: only these names rebuild plain data.
LOAD_TYPE_NAMES: dict[str, str] = {
    **{
        n: f"builtins.{n}"
        for n in (
            "set",
            "frozenset",
            "bytearray",
            "bytes",
            "complex",
            "list",
            "tuple",
            "dict",
            "str",
            "int",
            "float",
            "bool",
            "slice",
            "range",
        )
    },
    "NoneType": "builtins.NoneType",
    "PosixPathType": "pathlib.PosixPath",
    "WindowsPathType": "pathlib.WindowsPath",
    "OrderedDictType": "collections.OrderedDict",
}

# --- Keras config.json ------------------------------------------------------------------------
KERAS_MODULES = ("keras", "tf_keras", "tensorflow") + TARGET_NAMESPACES
KERAS_CODE_CLASSES = ("Lambda", "__lambda__", "TFOpLambda", "SlicingOpLambda")
# dtypes a config.json '__numpy__' / '__tensor__' value may name (keras.backend.standardize_dtype's
# names): np.array(value, dtype=...) allocates itemsize bytes per element, and a dtype such as
# '(8192,8192)f8' or 'V2147483647' makes each element gigabytes.
KERAS_VALUE_DTYPES = tuple(
    "bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 bfloat16 float16 float32 float64 complex64 complex128 "
    "string".split()
)
