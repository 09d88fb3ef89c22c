"""Tap queries: what each declared tap observed, per tap and as plain values.

Taps are the run's measurements at named places in the target (`tap_points/*.toml`); the
tap table, the trained scale and the summary's singleton read them through here.
"""

from __future__ import annotations

from typing import Any

from .calls import anchor_of, calls_by_index


def tap_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per declared tap: where it lives, what it saw, and whether it was hit."""
    calls = calls_by_index(record)
    rows = []
    for tap in sorted(record.get("taps_declared", []), key=lambda t: t["key"]):
        hits = [hit for hit in record.get("tap_hits", []) if hit["key"] == tap["key"]]
        observed = _observed(hits, calls)
        errors = sorted({hit["error"] for hit in hits if hit["status"] == "error"})
        status = (
            "hit"
            if any(h["status"] == "hit" for h in hits)
            else ("error: " + "; ".join(errors) if errors else "not hit")
        )
        rows.append(
            dict(tap, owner_anchor=anchor_of(record, tap["function"]), observed=observed, hits=len(hits), status=status)
        )
    return rows


def _observed(hits: list[dict[str, Any]], calls: dict[int, dict[str, Any]]) -> str:
    values: dict[str, list[str]] = {}
    for hit in hits:
        if hit["status"] != "hit":
            continue
        phase = calls[hit["call"]]["phase"] if hit["call"] in calls else "?"
        values.setdefault(hit["value"], [])
        if phase not in values[hit["value"]]:
            values[hit["value"]].append(phase)
    if not values:
        return "—"
    if len(values) == 1:
        value = next(iter(values))
        return value + (f" ({len(hits)} hits)" if len(hits) > 1 else "")
    return "; ".join(f"{', '.join(phases)}: {value}" for value, phases in values.items())


def tap_values(record: dict[str, Any], key: str) -> list[str]:
    """Values a tap observed (hits only), in observation order."""
    return [hit["value"] for hit in record.get("tap_hits", []) if hit["key"] == key and hit["status"] == "hit"]
