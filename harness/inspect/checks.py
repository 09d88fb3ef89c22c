"""The contract checks of ``callchain inspect``: what was read, judged clause by clause.

Every check result is ``{id, clause, text, status, detail}``: ``id`` names the check (per model
where it applies, ``tf.params[autoencoder]``), ``clause`` the stable contract clause it proves
(:data:`harness.contract.CLAUSES`). The clauses' wording and the names they speak of come from
:mod:`harness.contract`; this module only decides pass/fail/skip.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from .. import contract
from . import fallbacks
from .loaderview import entries, listed_models, manifest_of, manifest_shown, model_name_problem, model_names, scalar
from .loaderview import unusable as _unusable
from .payloads import payload_reports
from .picklevalues import Global, as_number
from .torchchecks import check as _check
from .torchchecks import payload_checks, torch_checks

GLOBAL_CHECKS = (  # (check id, clause id)
    ("manifest.present", "archive.manifest-root"),
    ("manifest.keys", "archive.manifest-keys"),
    ("manifest.backend", "archive.backend-tag"),
    ("models.required", "archive.models"),
)


def _fmt(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def torch_members(state: Any) -> list[str]:
    return [m for m in state.infos if m.lower().endswith(contract.TORCH_SUFFIXES)]


def backend_of(state: Any, manifest: Any) -> tuple[str, str]:
    tag = manifest.get("backend") if isinstance(manifest, dict) else None
    torch = torch_members(state)
    if isinstance(tag, str):
        return tag, "tag"
    if torch:
        return contract.TORCH_BACKEND, f"inferred from {sorted(torch)[0]}"
    return contract.DEFAULT_BACKEND, "default: no tag"


def model_info(state: Any, model: str) -> dict[str, Any]:
    """What one model folder holds, for the report and the per-model checks."""
    prefix = model + "/"
    members = sorted(m for m in state.infos if m.startswith(prefix) and not m.endswith("/"))
    keras = state.nested.get(prefix + "model.keras")
    h5 = state.h5.get(prefix + "model.h5")
    params = state.pickles.get(prefix + "params.dill")
    custom = state.pickles.get(prefix + "custom_objects.dill")
    params_map = entries(params.value) if params and params.usable else None
    custom_map = entries(custom.value) if custom and custom.usable else None
    params_ok, custom_ok = params_map is not None, custom_map is not None
    params_plain: dict[str, Any] = params_map or {}
    custom_plain: dict[str, Any] = custom_map or {}
    return {
        "members": members,
        "keras_members": keras if isinstance(keras, list) else None,
        "h5_attrs": h5[0] if isinstance(h5, tuple) else None,
        "h5_datasets": h5[1] if isinstance(h5, tuple) else None,
        "params_keys": sorted(params_plain) if params_ok else None,
        "params_values": (
            {k: _unwrap(scalar(params_plain[k])) for k in contract.PARAMS_REQUIRED if k in params_plain}
            if params_ok
            else None
        ),
        "custom_objects_names": sorted(custom_plain) if custom_ok else None,
        "custom_objects_refs": (
            {k: (v.name if isinstance(v, Global) else None) for k, v in sorted(custom_plain.items())}
            if custom_ok
            else None
        ),
        "checkpoints": [m for m in members if m.lower().endswith(contract.TORCH_SUFFIXES)],
        "hyperparameters": [m for m in members if contract.is_hparams(m[len(prefix) :])],
    }


def _unwrap(value: Any) -> Any:
    number = as_number(value)
    return value if number is None else number


def _pickle_check(state: Any, member: str) -> tuple[str, str] | None:
    """(status, detail) when a pickle member is missing or unusable, else None."""
    why = _unusable(state, member)
    return ("fail", why) if why else None


def _keras_check(state: Any, model: str) -> dict[str, str]:
    name = f"{model}/model.keras"
    keras = state.nested.get(name)
    cid = f"tf.model_keras[{model}]"
    if name not in state.infos:
        return _check(cid, "model.keras", "fail", f"{name} is missing", model)
    if isinstance(keras, list):
        return _check(cid, "model.keras", "pass", f"{len(keras)} members: {', '.join(keras)}", model)
    return _check(cid, "model.keras", "fail" if keras else "skip", f"{name}: {keras or 'not read'}", model)


def _params_check(state: Any, model: str, info: dict[str, Any]) -> dict[str, str]:
    cid = f"tf.params[{model}]"
    bad = _pickle_check(state, f"{model}/params.dill")
    if bad:
        return _check(cid, "model.params", *bad, model=model)
    missing = [k for k in contract.PARAMS_REQUIRED if k not in (info["params_keys"] or [])]
    values = ", ".join(f"{k}={_fmt(v)}" for k, v in (info["params_values"] or {}).items())
    return _check(
        cid,
        "model.params",
        "fail" if missing else "pass",
        (f"missing keys: {', '.join(missing)}; " if missing else "")
        + f"{len(info['params_keys'] or [])} keys; {values}",
        model,
    )


def _h5_check(state: Any, model: str) -> dict[str, str]:
    name, cid, key = f"{model}/model.h5", f"tf.model_h5[{model}]", contract.SCALE_KEY
    h5 = state.h5.get(name)
    if name not in state.infos:
        return _check(cid, "model.h5", "fail", f"{name} is missing", model)
    if not isinstance(h5, tuple):
        return _check(cid, "model.h5", "fail", f"{name}: {h5 or 'not read'}", model)
    if key not in h5[0]:
        return _check(cid, "model.h5", "fail", f"attributes: {', '.join(h5[0]) or 'none'}; {key} is missing", model)
    return _check(cid, "model.h5", "pass", f"{key}={_fmt(h5[0][key])}", model)


def _tf_checks(state: Any, model: str, info: dict[str, Any]) -> list[dict[str, str]]:
    out = [_keras_check(state, model), _params_check(state, model, info)]
    bad = _pickle_check(state, f"{model}/custom_objects.dill")
    refs = info["custom_objects_refs"] or {}
    out.append(
        _check(
            f"tf.custom_objects[{model}]",
            "model.custom-objects",
            *(bad or ("pass", f"{len(refs)} names: " + ", ".join(f"{k} -> {v}" for k, v in refs.items()))),
            model=model,
        )
    )
    out.append(_h5_check(state, model))
    out.append(_intensity_check(model, info))
    return out


def _intensity_check(model: str, info: dict[str, Any]) -> dict[str, str]:
    """params.dill and model.h5 both record intensity_scale; they must agree.

    Agreement is judged at float32 precision: ``model_manager.save()`` stores a float32 copy
    (988.2117688026185 -> 988.211669921875), which is a rounding, not a disagreement.
    """
    cid, key = f"tf.intensity_scale[{model}]", contract.SCALE_KEY
    from_params = as_number((info["params_values"] or {}).get(key))
    from_h5 = as_number((info["h5_attrs"] or {}).get(key))
    if from_params is None or from_h5 is None:
        return _check(cid, "model.intensity-scale", "skip", f"needs a numeric {key} in both params.dill and model.h5")
    both = f"params.dill {from_params!r} vs model.h5 {from_h5!r}"
    if from_params == from_h5:
        return _check(cid, "model.intensity-scale", "pass", f"both {from_params!r}")
    if math.isclose(from_params, from_h5, rel_tol=1e-6):
        return _check(cid, "model.intensity-scale", "pass", f"{both} (equal at float32 precision)")
    return _check(cid, "model.intensity-scale", "fail", f"disagree: {both}")


def _backend_check(state: Any, manifest: Any, why: str | None) -> dict[str, str]:
    cid, clause = GLOBAL_CHECKS[2]
    torch = sorted(torch_members(state))
    has_tag = isinstance(manifest, dict) and "backend" in manifest
    tag = manifest.get("backend") if has_tag else None
    if has_tag and not (isinstance(tag, str) and tag in contract.BACKENDS):
        return _check(
            cid,
            clause,
            "fail",
            f"unknown backend tag {_fmt(scalar(tag))} (expected one of {', '.join(contract.BACKENDS)})",
        )
    if torch and tag != contract.TORCH_BACKEND:
        where = contract.MANIFEST if not why else "the manifest (unreadable)"
        return _check(
            cid,
            clause,
            "fail",
            f"PyTorch archive (holds {', '.join(torch)}) but {where} has "
            f"{'backend=' + _fmt(scalar(tag)) if has_tag else 'no backend tag'}: add 'backend': 'pytorch'",
        )
    if why:
        return _check(cid, clause, "skip", why)
    if has_tag:
        return _check(cid, clause, "pass", f"backend={_fmt(scalar(tag))}")
    return _check(cid, clause, "pass", f"no tag: {contract.DEFAULT_BACKEND} by default, and no PyTorch payloads")


def _basename_check(state: Any) -> dict[str, str]:
    """The loader is given ``<folder>/wts.h5`` and opens ``wts.h5.zip``: another name is never found."""
    name = os.path.basename(state.archive or "")
    if name == contract.ARCHIVE_NAME:
        return _check("archive.basename", "archive.basename", "pass", f"named {name}")
    shown = json.dumps(name, ensure_ascii=True)
    return _check(
        "archive.basename",
        "archive.basename",
        "skip",
        f"named {shown}: a loader given <folder>/{contract.ARCHIVE_BASE} looks for {contract.ARCHIVE_NAME}",
    )


def checks(
    state: Any,
    manifest: Any,
    why: str | None,
    backend: str,
    models: dict[str, dict[str, Any]],
    checked: list[str],
    payloads: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, str]]:
    out = [_basename_check(state)]
    out.append(_check(*GLOBAL_CHECKS[0], "fail" if why else "pass", why or f"keys: {', '.join(manifest)}"))
    if why:
        out.append(_check(*GLOBAL_CHECKS[1], "skip", why))
    else:
        missing = [k for k in contract.MANIFEST_KEYS if k not in manifest]
        out.append(
            _check(
                *GLOBAL_CHECKS[1],
                "fail" if missing else "pass",
                f"missing: {', '.join(missing)}"
                if missing
                else ", ".join(f"{k}={_fmt(scalar(manifest[k]))}" for k in contract.MANIFEST_KEYS),
            )
        )
    out.append(_backend_check(state, manifest, why))
    listed = listed_models(manifest) or []
    gaps = []
    for m in contract.REQUIRED_MODELS:
        if not any(isinstance(n, str) and n == m for n in listed):
            gaps.append(f"{m} not in manifest['models']")
        if not models.get(m, {}).get("members"):
            gaps.append(f"no {m}/ folder")
    out.append(_check(*GLOBAL_CHECKS[3], "fail" if gaps else "pass", "; ".join(gaps) or "both present"))
    if backend == contract.TORCH_BACKEND:
        return out + torch_checks(state, models, checked, payloads or {}, _pickle_check)
    for m in checked:
        out += _tf_checks(state, m, models[m])
    return out


def _unsafe_model_names(state: Any, manifest: Any) -> None:
    """Manifest model names are joined onto the loader's extraction folder: only plain names."""
    for name in listed_models(manifest) or []:  # the loader joins each onto its folder
        why = model_name_problem(name)
        if why:
            shown = json.dumps(name, ensure_ascii=True)[:120]
            state.problems.add(
                "unsafe_model_name",
                contract.MANIFEST,
                f"manifest model name {shown} is {why}: the loader would join it onto its "
                f"extraction folder; refusing to trust this archive",
            )


def _verdict(
    state: Any, failed: list[dict[str, str]], hostile: frozenset[str], unreadable: frozenset[str]
) -> tuple[str, int, str]:
    kinds = state.problems.kinds()
    if kinds & (hostile | unreadable):
        first = next(p for p in state.problems.items if p["kind"] in (hostile | unreadable))
        return ("hostile" if kinds & hostile else "unreadable"), 2, first["message"]
    if failed:
        return "violations", 1, f"{len(failed)} contract clause(s) failed: " + ", ".join(c["id"] for c in failed)
    return "ok", 0, "meets the persistence contract"


def _params_files(state: Any) -> dict[str, Any]:
    """Every params.dill's whole decoded value (bounded), for comparisons key by key."""
    out = {}
    for name, report in sorted(state.pickles.items()):
        if name.rsplit("/", 1)[-1] == "params.dill" and "::" not in name and not report.error:
            out[name] = report.plain()
    return out


def build_report(state: Any, hostile: frozenset[str], unreadable: frozenset[str]) -> dict[str, Any]:
    """Assemble the description in a fixed key order."""
    readable = state.archive is not None and not (
        state.problems.kinds() & {"not_found", "not_a_file", "io_error", "empty", "not_zip", "truncated"}
    )
    manifest, why = manifest_of(state) if readable and not state.refused and not state.payload else (None, None)
    backend = backend_of(state, manifest) if readable else (None, None)
    models: dict[str, dict[str, Any]] = {}
    payloads = payload_reports(state.pickles)
    if readable and not state.refused and state.payload:
        backend = (contract.TORCH_BACKEND, f"a {state.payload} payload given on its own, not a {contract.ARCHIVE_NAME}")
        results = payload_checks(state, payloads)
    elif readable and not state.refused:
        _unsafe_model_names(state, manifest)
        fallbacks.judge(state, manifest)
        checked, described = model_names(state, manifest)
        models = {m: model_info(state, m) for m in described}
        results = checks(state, manifest, why, backend[0], models, checked, payloads)  # type: ignore[arg-type]
    else:
        reason = state.refused or "not checked: the archive could not be opened"
        results = [_check(cid, clause, "skip", reason) for cid, clause in GLOBAL_CHECKS]
    status, code, summary = _verdict(state, [c for c in results if c["status"] == "fail"], hostile, unreadable)
    if state.problems.more:
        state.problems.items.append(
            {"kind": "more", "clause": None, "member": None, "message": f"... and {state.problems.more} more problems"}
        )
    return {
        "path": state.path,
        "archive": state.archive,
        "status": status,
        "exit_code": code,
        "summary": summary,
        "backend": backend[0],
        "backend_source": backend[1],
        "members": state.members,
        "total_size": sum(m["size"] for m in state.members),
        "total_compressed_size": sum(m["compressed_size"] for m in state.members),
        "manifest": manifest_shown(state) if readable and not state.refused else None,
        "models": models,
        "pickles": {name: state.pickles[name].as_dict() for name in sorted(state.pickles)},
        "payload": state.payload,
        "payloads": payloads,
        "params": _params_files(state),
        "clauses": results,
        "problems": state.problems.items,
        "warnings": state.warnings,
    }
