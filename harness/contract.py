"""The archive persistence contract, written once: what a ``wts.h5.zip`` holds and what it may import.

Everything that knows what a PtychoPINN model archive must look like reads it from here:
``callchain inspect`` (the checks in :mod:`harness.inspect.checks`, the allow-lists in
:mod:`harness.inspect.safepickle` and the argument rules of :mod:`harness.inspect.argrules`, the loader
bounds in :mod:`harness.inspect.costs`), the deliverables (member roles in static.md and summary.md) and
the scenario (the archive's base name and its two models). Adding a clause touches this module only.

Every check carries a stable *clause id* (``archive.manifest-root``, ``archive.backend-tag``, ...),
so that the spec's SHALL/MUST sentences can be tied to the checks that prove them.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- names ------------------------------------------------------------------------------------

ARCHIVE_NAME = "wts.h5.zip"
ARCHIVE_BASE = "wts.h5"  # callers pass the path without .zip
MANIFEST = "manifest.dill"
REQUIRED_MODELS = ("autoencoder", "diffraction_to_obj")
MANIFEST_KEYS = ("models", "version")
PARAMS_REQUIRED = ("N", "gridsize", "intensity_scale")
SCALE_KEY = "intensity_scale"
BACKENDS = ("tensorflow", "pytorch")
DEFAULT_BACKEND = "tensorflow"  # TensorFlow archives may omit the tag
TORCH_BACKEND = "pytorch"  # ... PyTorch archives MUST carry it
PICKLE_SUFFIXES = (".dill", ".pkl", ".pickle")
TORCH_SUFFIXES = (".ckpt", ".pth", ".pt")  # .ckpt is Lightning's; PtychoPINN's shim writes .pth
TARGET_NAMESPACES = ("ptycho", "ptycho_torch")  # the target's own code: class references allowed


@dataclass(frozen=True)
class Member:
    """One member a model folder (or the root) holds, and what a PyTorch shim needs for it."""

    name: str
    role: str  # what the contract asks of it
    torch_kinds: tuple[str, ...]  # torchscan surface kinds that would write it on the PyTorch side
    hook: str  # the hook a PyTorch shim needs
    pickle_kind: str | None = None  # which allow-list judges it, when it is a pickle


MEMBERS: tuple[Member, ...] = (
    Member(
        MANIFEST,
        "root manifest: {'models': [...], 'version': 'X.Y'}; PyTorch adds 'backend': 'pytorch'",
        ("manifest-writer", "archive-member"),
        "archive writer that emits manifest.dill with the backend tag",
        "manifest",
    ),
    Member(
        "model.keras",
        "the weights (Keras format); PyTorch carries a Lightning .ckpt payload instead",
        ("lightning-checkpoint", "save-checkpoint", "torch-save"),
        "save hook that writes each model's .ckpt into <model>/",
    ),
    Member(
        "params.dill",
        "all of params.cfg + intensity_scale + _version, restored into params.cfg on load",
        ("save-hyperparameters", "pickle-dump"),
        "params snapshot: dump the config (incl. intensity_scale) as params.dill",
        "params",
    ),
    Member(
        "custom_objects.dill",
        "name → class map needed to deserialise custom layers",
        ("pickle-dump",),
        "none needed for .ckpt; document what replaces it (hyperparameters + model class)",
        "custom_objects",
    ),
    Member(
        "model.h5",
        "HDF5 holding only the attribute intensity_scale",
        (),
        "write intensity_scale where the TensorFlow loader looks for it, or record it in params.dill",
    ),
)
MEMBER_BY_NAME = {m.name: m for m in MEMBERS}


MACOS_FOLDER = "__MACOSX"  # where macOS Archive Utility puts AppleDouble '._*' files when it re-zips


def never_loaded(member: str) -> bool:
    """A member no loader opens: macOS metadata (``__MACOSX/...``, AppleDouble ``._name`` sidecars),
    extracted beside the models and never read (a manifest naming such a folder is refused)."""
    return member.split("/", 1)[0] == MACOS_FOLDER or member.rsplit("/", 1)[-1].startswith("._")


def role_of(member: str) -> str:
    """The contract role of an archive member, by its base name ('' when the contract says nothing)."""
    found = MEMBER_BY_NAME.get(member.rsplit("/", 1)[-1])
    return found.role if found else ""


def is_hparams(base: str) -> bool:
    """Whether a member base name holds serialized hyperparameters (PyTorch archives)."""
    base = base.lower()
    return base in ("hparams.yaml", "hparams.yml", "params.dill") or "hyperparameters" in base or "hparams" in base


def pickle_kind(name: str) -> str:
    """Which allow-list judges the pickle member ``name`` (``a/b.dill``, ``a/m.ckpt::archive/data.pkl``)."""
    outer, _, inner = name.partition("::")
    if outer.lower().endswith(TORCH_SUFFIXES):
        return "checkpoint"
    base = (inner or outer).rsplit("/", 1)[-1]
    found = MEMBER_BY_NAME.get(base)
    if found and found.pickle_kind and not inner and (base != MANIFEST or "/" not in outer):
        return found.pickle_kind
    if is_hparams(base):
        return "params"
    return "data"


# --- clauses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """A sentence of the contract and the stable id that checks proving it carry."""

    id: str
    text: str
    hostile: bool = False  # breaking it makes the archive hostile (exit 2), not merely non-compliant


CLAUSES: tuple[Clause, ...] = (
    Clause("archive.basename", f"the archive is named {ARCHIVE_NAME} (callers pass {ARCHIVE_BASE})"),
    Clause("archive.readable", "the archive is a complete, unencrypted zip file", hostile=True),
    Clause(
        "archive.member-names",
        "every member extracts inside the target folder, to a file of its own "
        "(no absolute path, '..', backslash, or two members landing on one file)",
        hostile=True,
    ),
    Clause("archive.no-links", "no member is a symbolic link", hostile=True),
    Clause("archive.bounded", "members and their expansion stay within the reader's limits", hostile=True),
    Clause(
        "archive.pickle-allowlist",
        "each pickle imports only what a genuine member of its kind needs, "
        "and calls only the constructors of plain data",
        hostile=True,
    ),
    Clause("archive.pickle-readable", "each pickle decodes to its end", hostile=True),
    Clause(
        "archive.loader-cost",
        "loading each pickle costs the real unpickler no more memory and time than the loader bounds allow "
        "(allocations, memo, frames, hashing, nesting)",
        hostile=True,
    ),
    Clause(
        "archive.keras-config", "each model.keras config.json carries no code and keeps Keras' safe mode", hostile=True
    ),
    Clause(
        "archive.loader-fallback",
        "each listed model loads from its model.keras: no saved_model.pb the loader would fall back to "
        "(tf.saved_model.load runs the archive's own graph)",
        hostile=True,
    ),
    Clause("archive.manifest-root", f"{MANIFEST} at the archive root, decodable as a dict"),
    Clause("archive.manifest-keys", "manifest holds " + " and ".join(repr(k) for k in MANIFEST_KEYS)),
    Clause("archive.manifest-models", "manifest model names are plain folder names", hostile=True),
    Clause(
        "archive.backend-tag",
        f"backend tag: absent means {DEFAULT_BACKEND}; PyTorch archives must set 'backend': '{TORCH_BACKEND}'",
    ),
    Clause("archive.models", f"both {' and '.join(REQUIRED_MODELS)} present, in the manifest and as folders"),
    Clause("model.keras", "<model>/model.keras present (a Keras zip)"),
    Clause("model.params", f"<model>/params.dill decodable, with keys {', '.join(PARAMS_REQUIRED)}"),
    Clause("model.custom-objects", "<model>/custom_objects.dill decodable (name -> class map)"),
    Clause("model.h5", f"<model>/model.h5 readable, with attribute {SCALE_KEY}"),
    Clause("model.intensity-scale", f"params.dill and model.h5 agree on {SCALE_KEY} (at float32 precision)"),
    Clause("torch.ckpt", "<model>/ holds a Lightning .ckpt payload"),
    Clause("torch.hparams", "<model>/ carries serialized hyperparameters"),
    Clause("torch.weights", "<model>/ holds the model's weights (tensors), not a placeholder"),
    Clause(
        "torch.intensity-scale",
        f"params.dill records a finite, positive {SCALE_KEY}, the same in every model folder",
    ),
    Clause("payload.torch", "a torch.save file holds tensors and plain data only (a state dict or a checkpoint)"),
    Clause("payload.lightning", "a Lightning checkpoint carries its state_dict and hyper_parameters"),
    Clause("payload.yaml", "a hyperparameters YAML file builds plain data only"),
)
CLAUSE_BY_ID = {c.id: c for c in CLAUSES}


def clause_text(clause_id: str, model: str | None = None) -> str:
    text = CLAUSE_BY_ID[clause_id].text
    return text.replace("<model>", model) if model else text


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

# --- the two backends side by side (callchain parity) -----------------------------------------
# The spec: "TensorFlow archives contain Keras/SavedModel payloads and serialized custom objects;
# PyTorch archives contain Lightning .ckpt payload(s) and serialized hyperparameters ... The outer
# archive structure remains identical." A clause of one backend is met on the other by its
# counterpart; the clauses of neither list are the same for both.
COUNTERPARTS: dict[str, str] = {
    "model.keras": "torch.ckpt",
    "model.custom-objects": "torch.hparams",
    "model.h5": "torch.intensity-scale",
    "model.intensity-scale": "torch.intensity-scale",
}
# ... and what the counterpart must also pass: a PyTorch model folder whose payload is a placeholder
# (no tensor) does not hold one of the two models, whatever the manifest lists.
COUNTERPART_ALSO: dict[str, tuple[str, ...]] = {"archive.models": ("torch.weights",)}
# Member kinds, by base name, for the member table of a comparison (what a member is, not whether it is right).
MEMBER_KINDS: tuple[tuple[str, str], ...] = (
    (MANIFEST, "manifest (pickle)"),
    ("params.dill", "params (pickle)"),
    ("custom_objects.dill", "custom objects (pickle)"),
    ("model.keras", "Keras model (zip)"),
    ("model.h5", "HDF5 attributes"),
    (".ckpt", "Lightning checkpoint"),
    (".pth", "torch.save payload"),
    (".pt", "torch.save payload"),
    (".yaml", "hyperparameters (YAML)"),
    (".yml", "hyperparameters (YAML)"),
)


def member_kind(member: str) -> str:
    base = member.rsplit("/", 1)[-1].lower()
    for suffix, kind in MEMBER_KINDS:
        if base == suffix or (suffix.startswith(".") and base.endswith(suffix)):
            return kind
    return "other"


def counterpart(clause_id: str, backend: str) -> str:
    """The clause that plays ``clause_id``'s part in an archive of ``backend`` (itself when shared)."""
    if backend == TORCH_BACKEND:
        return COUNTERPARTS.get(clause_id, clause_id)
    back = {v: k for k, v in COUNTERPARTS.items() if k != "model.h5"}
    return back.get(clause_id, clause_id)
