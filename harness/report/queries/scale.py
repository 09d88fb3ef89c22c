"""Scale queries: which intensity_scale the archive carries, the trained or the configured one.

The answer joins three sources (the `train.log_scale` and `save.cfg_intensity_scale`
taps, params.cfg changes during training, the archived params.dill and model.h5 values)
and compares them within a relative tolerance, so it has a module of its own.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .calls import role
from .taps import tap_values

SCALE_TOLERANCE = 1e-6  # relative: float32 round trips and exp(log(x)) stay within it


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")  # not the 32 of float32


def number(text: Any) -> float | None:
    """The first number in a summary ('float32(988.2)', '[6.89] (Variable float32)', 988.2)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    found = _NUMBER.search(str(text)) if text is not None else None
    return float(found.group()) if found else None


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= SCALE_TOLERANCE * max(abs(a), abs(b))


def trained_scale(record: dict[str, Any]) -> dict[str, Any] | None:
    """Which intensity_scale the archive carries: the trained one (exp of the log-scale variable
    after training, tap `train.log_scale`) or the configured one (params.cfg at save, tap
    `save.cfg_intensity_scale`), against params.dill and model.h5. None when neither tap ran."""
    logs = tap_values(record, "train.log_scale")
    log_value = number(logs[-1]) if logs else None
    trained = math.exp(log_value) if log_value is not None else None
    configured_values = tap_values(record, "save.cfg_intensity_scale")
    configured, source = (number(configured_values[-1]), "at save") if configured_values else (None, None)
    if configured is None:  # e.g. a revision that restores params.cfg when training returns
        during = [
            c["new"]
            for c in record.get("config", {}).get("changes", [])
            if c["key"] == "intensity_scale" and c["phase"] in role(record, "train") and c["new"] is not None
        ]
        configured, source = (
            (number(during[-1]), "during training (absent from params.cfg at save)") if during else (None, None)
        )
    if trained is None and configured is None:
        return None
    models = (record.get("archive_description") or {}).get("models") or {}
    archived = [
        {
            "model": name,
            "params": number((info.get("params_values") or {}).get("intensity_scale")),
            "h5": number((info.get("h5_attrs") or {}).get("intensity_scale")),
        }
        for name, info in sorted(models.items())
    ]
    values = [v for row in archived for v in (row["params"], row["h5"]) if v is not None]
    verdict = scale_verdict(trained, configured, values)
    return {
        "log_scale": log_value,
        "trained": trained,
        "configured": configured,
        "configured_source": source,
        "archived": archived,
        "verdict": verdict,
        "tolerance": SCALE_TOLERANCE,
        "nearest": nearest_scale(trained, configured, values),
    }


def nearest_scale(trained: float | None, configured: float | None, archived: list[float]) -> str | None:
    """`trained` or `configured`: the one every archived value is nearer to (even inside the
    tolerance, e.g. a float32 round trip of one of them); None when they disagree or tie."""
    if trained is None or configured is None or not archived:
        return None
    sides = {
        "trained"
        if abs(v - trained) < abs(v - configured)
        else "configured"
        if abs(v - configured) < abs(v - trained)
        else "tie"
        for v in archived
    }
    return next(iter(sides)) if len(sides) == 1 and "tie" not in sides else None


def scale_verdict(trained: float | None, configured: float | None, archived: list[float]) -> str:
    """`trained`, `configured`, `indistinct` (training left the scale where it was), `neither`, or
    `unknown` (a value is missing)."""
    if not archived or trained is None or configured is None:
        return "unknown"
    if _close(trained, configured):
        return "indistinct" if all(_close(v, trained) for v in archived) else "neither"
    if all(_close(v, trained) for v in archived):
        return "trained"
    if all(_close(v, configured) for v in archived):
        return "configured"
    return "neither"
