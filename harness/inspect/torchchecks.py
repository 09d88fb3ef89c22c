"""The contract checks of a PyTorch archive, and of a torch/Lightning/YAML payload given on its own.

A PyTorch ``wts.h5.zip`` keeps the outer structure of TensorFlow's (manifest, two model folders,
``params.dill`` in each, which both loaders restore into ``params.cfg``) and carries, per model,
a Lightning ``.ckpt`` payload and serialized hyperparameters. Beside those two clauses the
checks here read what the payloads are (:mod:`harness.inspect.payloads`): a model folder whose
payload holds no tensor (ptycho_torch's ``{'_sentinel': 'autoencoder'}``) carries no model, and
``params.dill`` must hold ``N``, ``gridsize`` and a usable ``intensity_scale``.

A payload given directly (a ``.pt``/``.pth``/``.ckpt`` file, a torch zip, an ``hparams.yaml``) is
not an archive: the archive clauses do not apply, only what such a file can itself be judged on.
"""

from __future__ import annotations

import math
from typing import Any

from .. import contract
from .payloads import describe_form
from .picklevalues import as_number

Check = dict[str, str]


def check(cid: str, clause: str, status: str, detail: str, model: str | None = None) -> Check:
    """One check result: ``{id, clause, text, status, detail}`` (the shape every inspect check has)."""
    return {
        "id": cid,
        "clause": clause,
        "text": contract.clause_text(clause, model),
        "status": status,
        "detail": detail,
    }


def _payloads_of(model: str, payloads: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: p for name, p in payloads.items() if name.startswith(model + "/")}


def _weights_check(model: str, payloads: dict[str, dict[str, Any]]) -> Check:
    cid, mine = f"torch.weights[{model}]", _payloads_of(model, payloads)
    if not mine:
        return check(cid, "torch.weights", "fail", f"no readable torch payload under {model}/", model)
    good = {n: p for n, p in mine.items() if p["form"] in ("state_dict", "lightning_checkpoint")}
    shown = "; ".join(f"{n}: {describe_form(p)}" for n, p in sorted(mine.items()))
    if good:
        return check(cid, "torch.weights", "pass", shown, model)
    hint = (
        "torch.load(weights_only=True) refuses it; save model.state_dict()"
        if any(p["form"] == "module" for p in mine.values())
        else "a loader rebuilds a blank model from it"
    )
    return check(cid, "torch.weights", "fail", f"{shown}: {hint}", model)


def _ckpt_check(model: str, info: dict[str, Any]) -> Check:
    ckpts = [m for m in info["checkpoints"] if m.lower().endswith(".ckpt")]
    found = ", ".join(info["members"]) or "nothing"
    detail = ", ".join(ckpts) if ckpts else f"no .ckpt under {model}/ (found: {found})"
    return check(f"torch.ckpt[{model}]", "torch.ckpt", "pass" if ckpts else "fail", detail, model)


def _hparams_check(state: Any, model: str, info: dict[str, Any], usable: Any) -> Check:
    hparams = info["hyperparameters"]
    bad = [b for b in (usable(state, h) for h in hparams if h.lower().endswith(contract.PICKLE_SUFFIXES)) if b]
    detail = ", ".join(hparams) if hparams else f"no hparams.yaml / params.dill / hyperparameters member under {model}/"
    status = "pass" if hparams and not bad else "fail"
    return check(f"torch.hparams[{model}]", "torch.hparams", status, "; ".join(b[1] for b in bad) or detail, model)


def _params_check(state: Any, model: str, info: dict[str, Any], usable: Any) -> Check:
    cid, member = f"torch.params[{model}]", f"{model}/params.dill"
    bad = usable(state, member)
    if bad:
        why = " (both loaders restore params.cfg from it)" if member not in state.infos else ""
        return check(cid, "model.params", bad[0], bad[1] + why, model)
    keys = info["params_keys"] or []
    missing = [k for k in contract.PARAMS_REQUIRED if k not in keys]
    head = f"missing keys: {', '.join(missing)}; " if missing else ""
    return check(cid, "model.params", "fail" if missing else "pass", f"{head}{len(keys)} keys", model)


def _scale_check(model: str, info: dict[str, Any], reference: tuple[str, float] | None) -> Check:
    cid, key = f"torch.intensity_scale[{model}]", contract.SCALE_KEY
    raw = (info["params_values"] or {}).get(key)
    value = as_number(raw)
    if info["params_keys"] is None:
        return check(cid, "torch.intensity-scale", "skip", f"no readable {model}/params.dill", model)
    if value is None:
        shown = "missing" if key not in (info["params_keys"] or []) else f"not a number ({raw!r})"
        return check(cid, "torch.intensity-scale", "fail", f"{key} is {shown} in {model}/params.dill", model)
    if not math.isfinite(value) or value <= 0:
        return check(cid, "torch.intensity-scale", "fail", f"{key}={value!r} is not finite and positive", model)
    if reference and not math.isclose(value, reference[1], rel_tol=1e-6):
        detail = f"{key}={value!r} here but {reference[1]!r} in {reference[0]}/params.dill"
        return check(cid, "torch.intensity-scale", "fail", detail, model)
    return check(cid, "torch.intensity-scale", "pass", f"{key}={value!r}", model)


def torch_checks(
    state: Any, models: dict[str, dict[str, Any]], checked: list[str], payloads: dict[str, dict[str, Any]], usable: Any
) -> list[Check]:
    """Per model: .ckpt, hyperparameters, weights, params keys, intensity_scale (``usable`` judges a pickle member)."""
    out: list[Check] = []
    reference: tuple[str, float] | None = None
    for model in checked:
        info = models[model]
        scale = _scale_check(model, info, reference)
        value = as_number((info["params_values"] or {}).get(contract.SCALE_KEY))
        if reference is None and scale["status"] == "pass" and value is not None:
            reference = (model, float(value))
        out += [
            _ckpt_check(model, info),
            _hparams_check(state, model, info, usable),
            _weights_check(model, payloads),
            _params_check(state, model, info, usable),
            scale,
        ]
    return out


# --- a payload given on its own -----------------------------------------------------------------


def payload_checks(state: Any, payloads: dict[str, dict[str, Any]]) -> list[Check]:
    """The checks a standalone payload can be judged on (the archive clauses do not apply to it)."""
    name = state.payload_name
    if state.payload == "yaml":
        keys = state.yaml_keys
        return [check("payload.yaml", "payload.yaml", "pass", f"top-level keys: {', '.join(keys) or 'none'}")]
    summary = payloads.get(name)
    if summary is None:
        return [check("payload.torch", "payload.torch", "fail", f"{name}: no data.pkl could be read")]
    form = describe_form(summary)
    out = [check("payload.torch", "payload.torch", "fail" if summary["form"] == "module" else "pass", form)]
    if summary["form"] == "module":
        out[0]["detail"] += ": torch.load(weights_only=True) refuses it; save model.state_dict() instead"
    if name.lower().endswith(".ckpt"):
        keys = summary["keys"] or []
        missing = [k for k in ("state_dict", "hyper_parameters") if k not in keys]
        detail = f"missing {', '.join(missing)} (call self.save_hyperparameters())" if missing else form
        out.append(check("payload.lightning", "payload.lightning", "fail" if missing else "pass", detail))
    return out
