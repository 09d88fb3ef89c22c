"""A verdict for each spec clause, from this run's evidence only.

A clause about the archive is judged by the archive contract checks (`harness/inspect/checks.py`
today; the contract module will name the same checks `archive.basename`,
`archive.manifest-root`, `archive.backend-tag`, …): the tables below map keywords of a
clause to check ids, and list both names so either module's ids resolve. A clause about
loading or the global config is judged by what the run did (`load_inference_bundle` called,
`params.cfg` restored in a fresh process). A clause about the PyTorch side cannot be proven by
a TensorFlow run: it points at the static PyTorch delta instead. No evidence, no claim: the
verdict is then "not exercised by this scenario".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from re import Pattern
from typing import Any

from ..contract import ARCHIVE_NAME
from ..scenarios.persistence import ROLES as LEGACY_ROLES
from .runchecks import CROSS_BACKEND, TRACKING, judge_findings

HOLDS = "holds"
BROKEN = "broken"
NOT_EXERCISED = "not exercised by this scenario"
TORCH_SIDE = "PyTorch side: see delta"
VERDICTS = (HOLDS, BROKEN, NOT_EXERCISED, TORCH_SIDE)


Evidence = dict[str, Any]


def _rx(pattern: str) -> Pattern[str]:
    return re.compile(pattern, re.I)


# Clause keywords → archive checks that prove it. Each check is named by its contract id and by
# the id harness/inspect/checks.py gives it today; per-model checks match as `id[model]`.
CLAUSE_CHECKS: tuple[tuple[Pattern[str], tuple[tuple[str, ...], ...]], ...] = (
    (_rx(r"base ?name|file ?name|canonical name|\bnamed\b"), (("archive.basename",),)),
    (_rx(r"manifest"), (("archive.manifest-root", "manifest.present"),)),
    (_rx(r"manifest.*\b(models|version)\b"), (("archive.manifest-keys", "manifest.keys"),)),
    (_rx(r"backend\W{0,3}:|'backend'|backend (tag|field)|this field"), (("archive.backend-tag", "manifest.backend"),)),
    (
        _rx(r"two models|both models|autoencoder|diffraction_to_obj"),
        (("archive.models", "models.required", "torch.weights"),),
    ),
    (_rx(r"keras|savedmodel"), (("model.keras", "tf.model_keras"),)),
    (_rx(r"custom (objects|layers)|custom_objects"), (("model.custom-objects", "tf.custom_objects"),)),
    (_rx(r"params\.cfg|params\.dill"), (("model.params", "tf.params", "torch.params"),)),
    (
        _rx(r"intensity_scale"),
        (
            ("model.intensity-scale", "tf.intensity_scale", "torch.intensity-scale", "torch.intensity_scale"),
            ("model.h5", "tf.model_h5"),
        ),
    ),
    (_rx(r"\.ckpt|lightning"), (("torch.ckpt", "payload.lightning", "payload.torch"),)),
    (_rx(r"hyperparameters"), (("torch.hparams", "payload.yaml"),)),
)

# The archive member a check reads, for the evidence's own anchor (None: the archive itself).
CHECK_MEMBERS = {
    "archive.basename": None,
    "archive.manifest-root": "manifest.dill",
    "manifest.present": "manifest.dill",
    "archive.manifest-keys": "manifest.dill",
    "manifest.keys": "manifest.dill",
    "archive.backend-tag": "manifest.dill",
    "manifest.backend": "manifest.dill",
    "tf.model_keras": "model.keras",
    "model.keras": "model.keras",
    "tf.params": "params.dill",
    "model.params": "params.dill",
    "tf.custom_objects": "custom_objects.dill",
    "model.custom-objects": "custom_objects.dill",
    "tf.model_h5": "model.h5",
    "model.h5": "model.h5",
}

# Clauses a save/load scenario cannot exercise, whatever else they mention, unless it ran the
# check itself (`FINDING_JUDGES`: a scenario's findings, e.g. torch-persistence's).
OUT_OF_SCENARIO = (
    (
        CROSS_BACKEND,
        "the scenario loads only the archive it wrote, with the same backend: no cross-backend load was attempted",
    ),
    (
        TRACKING,
        "the scenario never saved or loaded with the tracking library absent (the torch-persistence scenario does)",
    ),
)

# Words that make a clause the PyTorch side's (a TensorFlow run cannot prove it).
TORCH_WORDS = _rx(r"\bpytorch\b|\blightning\b|\.ckpt\b|\btorch\b|ptycho_torch")

# Delta surface kinds (tap_points/torch_persistence.toml) that answer a PyTorch clause, by its keywords.
DELTA_KINDS: tuple[tuple[Pattern[str], tuple[str, ...]], ...] = (
    (_rx(r"\.ckpt|lightning|checkpoint"), ("lightning-checkpoint", "save-checkpoint", "checkpoint-hook")),
    (_rx(r"hyperparameters"), ("save-hyperparameters",)),
    (_rx(r"mlflow|experiment tracking"), ("mlflow-setup", "mlflow-artifact", "mlflow-other")),
    (_rx(r"backend\W{0,3}:|'backend'|backend (tag|field)|manifest"), ("manifest-writer",)),
    (_rx(r"archive|wts\.h5"), ("archive-writer", "archive-member")),
)
MAX_DELTA_ITEMS = 3


def judge_spec(record: Any) -> None:
    """Give each clause of `record['spec']` (read by harness.static.spec) its verdict, once the record holds the whole run."""
    spec = record.get("spec")
    if spec:
        spec["clauses"] = judge_clauses(spec["clauses"], record)


def judge_clauses(clauses: list[dict[str, Any]], record: dict[str, Any]) -> list[dict[str, Any]]:
    """The clauses with `verdict` and `evidence` (a list, each item with its own anchor) added."""
    return [dict(clause, **judge(clause["text"], record)) for clause in clauses]


def judge(text: str, record: dict[str, Any]) -> dict[str, Any]:
    found = judge_findings(text, record)  # what the scenario itself ran for a clause comes first
    if found is not None:
        return found
    for pattern, why in OUT_OF_SCENARIO:
        if pattern.search(text):
            return {"verdict": NOT_EXERCISED, "evidence": [_evidence("scenario", None, "none", why, None)]}
    torch = bool(TORCH_WORDS.search(text)) and (record.get("archive_description") or {}).get("backend") != "pytorch"
    # A TensorFlow run's calls say nothing about a PyTorch demand; its archive checks still show the TF half.
    evidence = _archive_evidence(text, record) + ([] if torch else _run_evidence(text, record))
    if any(item["status"] == "fail" for item in evidence):
        verdict = BROKEN
    elif torch:
        verdict = TORCH_SIDE
        evidence = evidence + _delta_evidence(text, record)
    elif any(item["status"] == "pass" for item in _deciding(evidence)):
        verdict = HOLDS
    else:
        verdict = NOT_EXERCISED
        if not evidence:
            evidence = [
                _evidence("scenario", None, "none", "no archive check and no recorded call bears on this clause", None)
            ]
    return {"verdict": verdict, "evidence": evidence}


def _deciding(evidence: list[Evidence]) -> list[Evidence]:
    """A clause about what the code does (load, restore, save) holds only on what the run did;
    archive checks then only support it. A clause about the archive holds on its checks."""
    run = [item for item in evidence if item["source"] == "run"]
    return run or evidence


def _evidence(
    source: str, check: str | None, status: str, detail: str, anchor: str | None, written_by: str | None = None
) -> Evidence:
    """One piece of evidence; `anchor` is where it sits (a `path:line`, or an archive member),
    `written_by` the line that wrote that member when the recorder saw it."""
    return {
        "source": source,
        "check": check,
        "status": status,
        "detail": detail,
        "anchor": anchor,
        "written_by": written_by,
    }


# -- the archive ------------------------------------------------------------------------


def archive_checks(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The contract checks of this run's archive, plus the file-name check where the contract has none yet."""
    description = record.get("archive_description")
    if not description:
        return []
    # inspect only describes a renamed copy (skip); the file a run's save wrote is judged by its name.
    checks = [
        c for c in description.get("clauses") or [] if not (c["id"] == "archive.basename" and c["status"] == "skip")
    ]
    if not any(_family(c["id"]) in ("archive.basename",) for c in checks):
        name = str(description.get("path") or record.get("archive") or "").replace("\\", "/").rsplit("/", 1)[-1]
        checks.insert(
            0,
            {
                "id": "archive.basename",
                "text": f"the archive is named {ARCHIVE_NAME}",
                "status": "pass" if name == ARCHIVE_NAME else "fail",
                "detail": f"the save wrote `{name}`" + ("" if name == ARCHIVE_NAME else f", not `{ARCHIVE_NAME}`"),
            },
        )
    return checks


def _family(check_id: str) -> str:
    return check_id.split("[", 1)[0]


def _archive_evidence(text: str, record: dict[str, Any]) -> list[Evidence]:
    wanted = [names for pattern, groups in CLAUSE_CHECKS if pattern.search(text) for names in groups]
    if not wanted:
        return []
    checks = archive_checks(record)
    if not checks:
        return [_evidence("archive", "/".join(wanted[0]), "none", "no archive was produced by this run", None)]
    found: list[Evidence] = []
    for names in wanted:
        for check in checks:
            if _family(check["id"]) in names and not any(f["check"] == check["id"] for f in found):
                where, writer = _member_anchor(record, check["id"])
                found.append(_evidence("archive", check["id"], check["status"], check["detail"], where, writer))
    return found


def _member_anchor(record: dict[str, Any], check_id: str) -> tuple[str, str | None]:
    """Where the evidence sits (the archive, or the member a check read) and what wrote that file."""
    description = record.get("archive_description") or {}
    archive = description.get("display_path") or ARCHIVE_NAME
    member = CHECK_MEMBERS.get(_family(check_id))
    model = check_id[check_id.index("[") + 1 : -1] if "[" in check_id else None
    name = f"{model}/{member}" if model and member else member
    return archive + (f" › {name}" if name else ""), _writer(record, name or ARCHIVE_NAME)


def _writer(record: dict[str, Any], member: str) -> str | None:
    for sink in record.get("sinks") or []:
        if (
            sink["op"] == "write"
            and sink["phase"] in _role(record, "save")
            and sink["path"].endswith("/" + member)
            and sink.get("by")
        ):
            return sink["by"]
    return None


# -- what the run did -------------------------------------------------------------------


def _role(record: dict[str, Any], name: str) -> tuple[str, ...]:
    """The phases the scenario gave a role; a record without a scenario (written before the
    scenario carried its roles) is read with the shipped scenario's roles."""
    scenario = record.get("scenario")
    roles = scenario.get("roles") if isinstance(scenario, dict) and "roles" in scenario else LEGACY_ROLES
    return tuple((roles or {}).get(name, ()))


def _first_call(record: dict[str, Any], names: tuple[str, ...], phases: tuple[str, ...]) -> dict[str, Any] | None:
    for call in record.get("calls") or []:
        if call["phase"] in phases and call["qualname"].rsplit(".", 1)[-1] in names:
            return call
    return None


def _errors_in(record: dict[str, Any], phases: tuple[str, ...]) -> list[dict[str, Any]]:
    return [e for e in record.get("errors") or [] if e.get("phase") in phases]


# The loaders and savers a run's load and save phases may call (TensorFlow, then PyTorch's).
LOADERS = ("load_inference_bundle", "load_multiple_models", "load_torch_bundle", "load_inference_bundle_torch")
SAVERS = ("save_multiple_models", "save", "save_torch_bundle")


def _judge_load(record: dict[str, Any]) -> Evidence:
    call = _first_call(record, LOADERS, _role(record, "load"))
    if call is None:
        return _evidence(
            "run", None, "none", "no call of `load_inference_bundle` or `load_multiple_models` was recorded", None
        )
    failed = _errors_in(record, (call["phase"],))
    name = call["function"]
    if failed:
        return _evidence(
            "run",
            None,
            "fail",
            f"`{name}` ran but the {call['phase']} phase raised {failed[0]['type']}: {failed[0]['message']}",
            f"def {call['anchor']}",
        )
    return _evidence(
        "run", None, "pass", f"`{name}` loaded the archive this run wrote ({call['phase']})", f"def {call['anchor']}"
    )


def _judge_restore(record: dict[str, Any]) -> Evidence:
    fresh = _role(record, "fresh-load")
    changes = [c for c in (record.get("config") or {}).get("changes", []) if c["phase"] in fresh]
    ran = any(span["name"] in fresh for span in record.get("phases") or [])
    if not ran:
        return _evidence(
            "run", None, "none", "no fresh-process load ran, the only load that can restore the global config", None
        )
    if not changes:
        return _evidence("run", None, "none", "loading in a fresh process changed no key of the global config", None)
    calls = {call["i"]: call for call in record.get("calls") or []}
    by = calls.get(changes[0]["by"]) if changes[0]["by"] is not None else None
    keys = sorted({c["key"] for c in changes})
    shown = ", ".join(f"`{k}`" for k in keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")
    who = f" by `{by['function']}`" if by else ""
    return _evidence(
        "run",
        None,
        "pass",
        f"a fresh-process load set {len(keys)} keys of the global config{who}: {shown}",
        f"def {by['anchor']}" if by and by["anchor"] else None,
    )


def _judge_save(record: dict[str, Any]) -> Evidence:
    call = _first_call(record, SAVERS, _role(record, "save"))
    if call is None:
        return _evidence("run", None, "none", "no save call of the namespace was recorded", None)
    produced = bool(record.get("archive_description"))
    return _evidence(
        "run",
        None,
        "pass" if produced else "fail",
        f"`{call['function']}` " + ("wrote the archive that was then loaded back" if produced else "wrote no archive"),
        f"def {call['anchor']}",
    )


RUN_JUDGES: tuple[tuple[Pattern[str], Callable[[dict[str, Any]], Evidence]], ...] = (
    (_rx(r"load_inference_bundle|open_model|load_multiple_models|load paths?|\breload|\bloaded\b"), _judge_load),
    (_rx(r"\brestor|\bload(s|ing|ers?)?\b[^.]*\b(params\.cfg|global config)"), _judge_restore),
    (_rx(r"save_multiple_models|model_manager\.save|persist archives|\bproduce"), _judge_save),
)


def _run_evidence(text: str, record: dict[str, Any]) -> list[Evidence]:
    return [judge_run(record) for pattern, judge_run in RUN_JUDGES if pattern.search(text)]


# -- the PyTorch side -------------------------------------------------------------------


def _delta_evidence(text: str, record: dict[str, Any]) -> list[Evidence]:
    """The first PyTorch surface of each kind the clause speaks of (read statically, never run)."""
    delta = record.get("torch_delta") or {}
    package = delta.get("package", "ptycho_torch")
    if not delta.get("present"):
        why = delta.get("error") or f"no `{package}/` package under the target root"
        return [_evidence("delta", None, "none", f"the PyTorch side was not read: {why}", None)]
    surfaces = delta.get("surfaces", [])
    groups = [kinds for pattern, kinds in DELTA_KINDS if pattern.search(text)]
    if not groups:
        return [
            _evidence(
                "delta",
                None,
                "none",
                f"{len(surfaces)} persistence surfaces in `{package}/`; none is specific to "
                "this clause (see the PyTorch delta)",
                None,
            )
        ]
    found: list[Evidence] = []
    for kinds in groups:
        matching = [s for s in surfaces if s["kind"] in kinds]
        if matching and len(found) < MAX_DELTA_ITEMS:
            more = f" (+{len(matching) - 1} more)" if len(matching) > 1 else ""
            found.append(
                _evidence("delta", None, "none", f"{matching[0]['kind']} in `{package}/`{more}", matching[0]["anchor"])
            )
    return found or [_evidence("delta", None, "none", f"no {' / '.join(groups[0])} in `{package}/` yet", None)]
