"""What a torch/Lightning payload holds, read from its decoded (never unpickled) ``data.pkl``.

A ``torch.save`` file is a zip whose records sit under one folder (``<stem>/`` when saved to a
file, ``archive/`` when saved to a buffer, as Lightning and ``torch_scaling_metadata.pt`` are):
``data.pkl`` (the object, tensors as calls of torch's rebuild functions on storage ids),
``data/<n>`` (the raw storages), ``byteorder``, ``version`` / ``.format_version``. Older
``torch.save`` wrote one raw pickle stream instead. Either way the object is judged with the
``checkpoint`` allow-list, and this module says what it is:

* ``state_dict``: a mapping of names to tensors (what ``torch.save(model.state_dict())`` writes);
* ``lightning_checkpoint``: a mapping with ``state_dict`` and ``pytorch-lightning_version``;
* ``module``: a whole ``nn.Module`` pickled by ``torch.save(model)`` (instances of torch.nn classes);
* ``placeholder``: plain data without a single tensor (ptycho_torch's ``{'_sentinel': ...}``);
* ``plain data``: anything else without tensors (``torch_scaling_metadata.pt``).

Every walk is bounded in nodes and depth.
"""

from __future__ import annotations

from typing import Any

from .. import contract
from . import allowlist
from .picklevalues import Call, Dict, as_number, json_number

TENSOR_REBUILDS = frozenset(
    {
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._tensor._rebuild_from_type_v2",
    }
)
MAPPINGS = frozenset(
    {"collections.OrderedDict", "builtins.dict"}
    | {n for n in allowlist.CALLABLE["checkpoint"] if n.endswith(".AttributeDict")}
)
TORCH_ZIP_RECORDS = ("byteorder", "version", ".format_version", ".storage_alignment")
WALK_NODES = 200_000
WALK_DEPTH = 40
MAX_KEYS = 40


def items_of(value: Any) -> list[tuple[Any, Any]] | None:
    """(key, value) pairs of a decoded mapping (a dict, an OrderedDict or Lightning's AttributeDict)."""
    if isinstance(value, Dict):
        return value.pairs
    if isinstance(value, Call) and value.name in MAPPINGS:
        pairs: list[tuple[Any, Any]] = []
        if value.args and isinstance(value.args[0], (list, tuple)):
            pairs += [tuple(p) for p in value.args[0] if isinstance(p, (list, tuple)) and len(p) == 2]
        pairs += list(zip(value.extra[0::2], value.extra[1::2]))
        return pairs
    return None


class _Walk:
    """One bounded pass over a decoded value: tensors, torch.nn classes, intensity_scale keys."""

    def __init__(self) -> None:
        self.left = WALK_NODES
        self.tensors = 0
        self.classes: dict[str, None] = {}
        self.scales: dict[str, Any] = {}

    def visit(self, value: Any, path: str, depth: int) -> None:
        self.left -= 1
        if self.left < 0 or depth > WALK_DEPTH:
            return
        if isinstance(value, Call):
            if value.name in TENSOR_REBUILDS:
                self.tensors += 1
                return
            if (
                value.name
                and value.op.startswith("NEWOBJ")
                and value.name.startswith(allowlist.TORCH_MODULE_NAMESPACES)
            ):
                self.classes.setdefault(value.name, None)
        pairs = items_of(value)
        if pairs is not None:
            for key, item in pairs:
                where = f"{path}.{key}" if path else str(key)
                if key == contract.SCALE_KEY and as_number(item) is not None:
                    self.scales[where] = json_number(as_number(item))
                self.visit(item, where, depth + 1)
            return
        for child in _children(value):
            self.visit(child, path, depth + 1)


def _children(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Call):
        args = list(value.args) if isinstance(value.args, tuple) else []
        return args + [value.state] + list(value.extra)
    return []


def summarize(value: Any) -> dict[str, Any]:
    """What one decoded torch payload is (see the module docstring), for the report and the checks."""
    walk = _Walk()
    walk.visit(value, "", 0)
    pairs = items_of(value)
    keys = [str(k) for k, _ in pairs[:MAX_KEYS]] if pairs is not None else None
    top = dict((str(k), v) for k, v in pairs) if pairs is not None else {}
    hparams = items_of(top.get("hyper_parameters"))
    if walk.classes and not pairs:
        form = "module"
    elif "state_dict" in top and "pytorch-lightning_version" in top:
        form = "lightning_checkpoint"
    elif walk.tensors:
        form = "state_dict"
    else:
        form = "placeholder" if any(k.startswith("_sentinel") for k in top) else "plain data"
    sentinel = {k: v for k, v in top.items() if k.startswith("_sentinel") and isinstance(v, (str, int, float))}
    return {
        "form": form,
        "tensors": walk.tensors,
        "keys": keys,
        "hyper_parameters": [str(k) for k, _ in hparams[:MAX_KEYS]] if hparams is not None else None,
        "sentinel": sentinel or None,
        "classes": sorted(walk.classes),
        "scales": walk.scales,
    }


def torch_zip_prefix(names: list[str]) -> str | None:
    """The record folder of a torch.save zip (``archive``, ``model``), or None when it is not one."""
    folders = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(folders) != 1:
        return None
    prefix = next(iter(folders))
    if f"{prefix}/data.pkl" in names and any(f"{prefix}/{r}" in names for r in TORCH_ZIP_RECORDS):
        return prefix
    return None


def payload_reports(pickles: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Summaries of every torch payload among the decoded pickles, by the member that holds it."""
    out: dict[str, dict[str, Any]] = {}
    for label in sorted(pickles):
        report = pickles[label]
        outer, _, inner = label.partition("::")
        if report.kind != "checkpoint" or report.error or (inner and not inner.endswith("/data.pkl")):
            continue
        out[outer] = summarize(report.value)
    return out


def describe_form(summary: dict[str, Any]) -> str:
    """One phrase for a payload summary: ``a state dict of 63 tensors``."""
    form, n = summary["form"], summary["tensors"]
    if form == "lightning_checkpoint":
        hp = summary["hyper_parameters"]
        return f"a Lightning checkpoint ({n} tensors; hyper_parameters: {', '.join(hp) if hp else 'none'})"
    if form == "state_dict":
        return f"a state dict of {n} tensors"
    if form == "module":
        return f"a whole nn.Module pickle ({', '.join(summary['classes'][:4])}; {n} tensors)"
    if form == "placeholder":
        return f"a placeholder {summary['sentinel'] or summary['keys']} without a single tensor"
    return f"plain data (keys: {', '.join(summary['keys'] or []) or 'none'}) without tensors"
