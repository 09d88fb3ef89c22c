"""The torch-persistence phases that test two spec clauses by running them.

- `no-tracking`: "persistence SHOULD NOT depend on experiment tracking" (PtychoPINN's spec:
  "Implementations MUST NOT require MLflow in environments where it is not installed"). The
  tracking library is made absent for the phase — a finder first on `sys.meta_path` refuses
  `mlflow` (as a missing package would), modules already imported are set aside and put back
  after — and the same save and load run again into `no-tracking/`. The finding says whether
  each worked, every import of `mlflow` that was refused with the line that asked, and the
  error and its line when one failed.
- `tf-save`, `tf-loads-torch`, `torch-loads-tf`: "loaders MUST raise a descriptive error stating
  the archived backend". A TensorFlow archive is written in the same run (`tf/wts.h5.zip`, two
  untrained models saved by `ModelManager.save_multiple_models`); the TensorFlow loader is handed
  the PyTorch archive and the PyTorch loader the TensorFlow one. Each finding records the
  exception type, message and the raising line (`path:line` under the root), or a silent load.

Paths in findings are scrubbed (`<scratch>`, `<root>`), so two runs compare. Runs inside the
traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

from ..contract import ARCHIVE_BASE, REQUIRED_MODELS
from .persistence_api import custom_objects
from .torch_cycle import TORCH_PACKAGE, load_bundle, trained_models
from .torch_observe import TRACKING, TrackingFinder, raised

NO_TRACKING_FOLDER = "no-tracking"
TF_FOLDER = "tf"
# What names a backend in an error message (case-insensitive words).
BACKEND_WORDS = {"pytorch": r"pytorch|torch", "tensorflow": r"tensorflow|keras|\btf\b"}


def _attempt(ctx: Any, step: str, call: Any) -> dict[str, Any]:
    try:
        call()
    except Exception as error:  # noqa: BLE001 - the outcome is the evidence
        return dict(raised(ctx, error), step=step, ok=False)
    return {"step": step, "ok": True}


def phase_no_tracking(ctx: Any) -> None:
    """Import the PyTorch persistence module afresh with the tracking library absent, then save and
    load with it: as where MLflow is not installed. The target's `ptycho_torch` modules (and MLflow's)
    are set aside for the phase, so whatever the save and load import is imported again under the
    refusal, then put back. The finding is the verdict's evidence."""
    base = f"{ctx.out}/{NO_TRACKING_FOLDER}/{ARCHIVE_BASE}"
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    name = f"{TORCH_PACKAGE}.model_manager"
    with TrackingFinder(ctx, refuse=True, fresh=(TORCH_PACKAGE,)) as absent:
        steps = [_attempt(ctx, f"import {name}", lambda: importlib.import_module(name))]
        fresh = sys.modules.get(name)
        if steps[-1]["ok"]:
            scale = ctx.results.get("intensity_scale")
            save = fresh.save_torch_bundle  # type: ignore[union-attr]
            steps.append(
                _attempt(ctx, "save", lambda: save(trained_models(ctx), base, ctx.config, intensity_scale=scale))
            )
        if steps[-1]["ok"]:
            steps.append(_attempt(ctx, "load", lambda: fresh.load_torch_bundle(base)))  # type: ignore[union-attr]
    ctx.finding(
        "tracking",
        library=", ".join(TRACKING),
        was_imported=sorted(n for n in absent.aside if n.split(".", 1)[0] in TRACKING)[:10],
        steps=steps,
        refused_imports=absent.attempts,
        imported_in_training=getattr(ctx, "tracking_in_training", []),
    )


def phase_tf_save(ctx: Any) -> None:
    """A TensorFlow archive of the same revision: two untrained models, `ModelManager.save_multiple_models`."""
    model = importlib.import_module("ptycho.model")
    manager = importlib.import_module("ptycho.model_manager")
    params = ctx.modules["ptycho.params"]
    if "intensity_scale" not in params.cfg:
        params.set("intensity_scale", (params.cfg.get("nphotons", 1e9) ** 0.5) / (ctx.N / 2))
    built = model.create_model_with_gridsize(ctx.gridsize, ctx.N)
    base = Path(ctx.out) / TF_FOLDER / ARCHIVE_BASE
    base.parent.mkdir(parents=True, exist_ok=True)
    manager.ModelManager.save_multiple_models(
        dict(zip(REQUIRED_MODELS, built)), str(base), custom_objects("ptycho"), params.cfg["intensity_scale"]
    )


def _tf_loader(ctx: Any) -> tuple[str, Any]:
    """The TensorFlow inference loader: `load_inference_bundle(dir)`, else `load_multiple_models(base)`."""
    try:
        components = importlib.import_module("ptycho.workflows.components")
    except ImportError:
        components = None
    bundle = getattr(components, "load_inference_bundle", None)
    if bundle is not None:
        return "ptycho.workflows.components.load_inference_bundle", lambda: bundle(Path(ctx.out))
    ctx.gap(ctx.phase, "ptycho.workflows.components.load_inference_bundle", "ModelManager.load_multiple_models")
    manager = importlib.import_module("ptycho.model_manager").ModelManager
    return "ptycho.model_manager.ModelManager.load_multiple_models", lambda: manager.load_multiple_models(
        f"{ctx.out}/{ARCHIVE_BASE}"
    )


def _cross(ctx: Any, loader: str, archived: str, active: str, call: Any) -> None:
    outcome = _attempt(ctx, "load", call)
    message = outcome.get("message") or ""
    ctx.finding(
        "cross-backend",
        loader=loader,
        archived_backend=archived,
        loader_backend=active,
        raised=not outcome["ok"],
        names_archived_backend=bool(re.search(BACKEND_WORDS[archived], message, re.I)),
        names_loader_backend=bool(re.search(BACKEND_WORDS[active], message, re.I)),
        **{k: v for k, v in outcome.items() if k not in ("ok", "step")},
    )


def phase_tf_loads_torch(ctx: Any) -> None:
    """The TensorFlow loader handed the PyTorch archive (`<out>/wts.h5.zip`)."""
    name, call = _tf_loader(ctx)
    _cross(ctx, name, "pytorch", "tensorflow", call)


def phase_torch_loads_tf(ctx: Any) -> None:
    """The PyTorch loader handed the TensorFlow archive (`<out>/tf/wts.h5.zip`)."""
    base = f"{ctx.out}/{TF_FOLDER}/{ARCHIVE_BASE}"
    _cross(ctx, "ptycho_torch.model_manager.load_torch_bundle", "tensorflow", "pytorch", lambda: load_bundle(ctx, base))
