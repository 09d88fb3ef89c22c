"""The archive persistence contract, written once: what a ``wts.h5.zip`` holds and which clauses it meets.

Everything that knows what a PtychoPINN model archive must look like reads it from here:
``callchain inspect`` (the checks in :mod:`harness.inspect.checks`; which names each pickle may
import is the inspector's own judgement, :mod:`harness.inspect.allowlist`, with its loader bounds in
:mod:`harness.inspect.bounds`), ``callchain parity`` (the clauses one backend meets with another's
counterpart), the deliverables (member roles in static.md and summary.md) and the scenario (the
archive's base name and its two models). Adding a clause touches this module only.

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
