"""What the real loader sees of a decoded pickle: its dicts as Python builds them, its model names.

PtychoPINN's loader does ``manifest = dill.load(...)``, ``manifest['models']``,
``params = dill.load(...)``, ``params.get('N')``, ``params.cfg.update(params)``. Python's dict keeps
one entry per key — the first key's place, the *last* value — and ``'N'``, ``numpy.str_('N')`` are
one key. :func:`entries` gives the same view of a decoded dict (or OrderedDict) over the whole value,
however large (the decode's own bounds hold it), so a key repeated after 25,000 others, re-set
after the dict was closed (``BINGET``, ``SETITEM``) or spelt as a numpy string is what the report
shows and the checks judge. :func:`names` is what ``for name in manifest['models']`` yields.
Rendering for the report (:func:`shown`) is bounded separately and never decides a verdict.
"""

from __future__ import annotations

from typing import Any

from .. import contract
from .built import iterate, kind_of, length, pairs
from .picklevalues import key_text, plain

NOT_A_MAPPING = None


def entries(value: Any) -> dict[str, Any] | None:
    """Key (as the report shows it) -> decoded value, as the loader's dict holds them; None if not a dict."""
    found = pairs(value)
    if found is None:
        return NOT_A_MAPPING
    out: dict[str, Any] = {}
    for key, item in found:
        out[key_text(key)] = item
    return out


def names(value: Any) -> list[Any] | None:
    """What iterating ``value`` yields (list, tuple, set, dict keys, text: characters); None if not iterable."""
    if length(value) is None or isinstance(value, bytes):
        return None
    return list(iterate(value))


def shown(value: Any) -> Any:
    """The value as the report shows it (bounded; never what a verdict is decided on)."""
    return plain(value)


def scalar(value: Any) -> Any:
    """A plain value for a check to compare (a number, a text), or its rendering."""
    return plain(value, nodes=200)


def unusable(state: Any, member: str) -> str | None:
    """Why the loader's view of a pickle member cannot be judged (missing, undecodable, refused), or None."""
    if member not in state.infos:
        return f"{member} is missing"
    report = state.pickles.get(member)
    if report is None:
        return f"{member} was not read"
    if report.error:
        return f"{member} is not decodable ({report.error})"
    if report.costs:
        return f"{member} is refused: loading it costs more than the bounds allow"
    if entries(report.value) is None:
        return f"{member} holds a {kind_of(report.value)}, not a dict"
    return None


def manifest_of(state: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the manifest as the loader's dict holds it: key -> decoded value, or None; why it is unusable)."""
    name = contract.MANIFEST
    if name not in state.infos:
        return None, f"no {name} at the archive root"
    why = unusable(state, name)
    return (None, why) if why else (entries(state.pickles[name].value), None)


SHOWN_KEYS = 1000  # other keys of a manifest the report shows (200 nodes each)


def manifest_shown(state: Any) -> Any:
    """The manifest as the report shows it: the contract's keys whole and first, then the others, bounded."""
    report = state.pickles.get(contract.MANIFEST)
    if report is None or not report.usable:
        return None
    found = entries(report.value)
    if found is None:
        return shown(report.value)
    first = [k for k in (*contract.MANIFEST_KEYS, "backend") if k in found]
    out = {k: shown(found[k]) for k in first}
    others = [k for k in found if k not in out]
    out.update({k: plain(found[k], nodes=200) for k in others[:SHOWN_KEYS]})
    if len(others) > SHOWN_KEYS:
        out["<truncated>"] = f"{len(others) - SHOWN_KEYS} more keys not shown (all were judged)"
    return out


def listed_models(manifest: Any) -> list[Any] | None:
    """What ``for name in manifest['models']`` yields, or None."""
    return names(manifest.get("models")) if isinstance(manifest, dict) else None


def model_name_problem(name: Any) -> str | None:
    """Why a manifest model name is not a plain folder name (the loader joins it onto its folder)."""
    if not isinstance(name, str):
        return f"a {kind_of(name)}, not a folder name"
    if not name or name in (".", ".."):
        return "empty or a relative-path component"
    if any(c in name for c in "/\\:\x00") or not name.isprintable() or len(name) > 255:
        return "a path, not a plain folder name"
    if contract.never_loaded(name):
        return "a macOS metadata name, whose members are not judged"
    return None


def model_names(state: Any, manifest: Any) -> tuple[list[str], list[str]]:
    """(models that get per-model checks, all model folders/names to describe)."""
    named = [m for m in listed_models(manifest) or [] if isinstance(m, str) and not model_name_problem(m)]
    required = list(contract.REQUIRED_MODELS)
    checked = required + [m for m in dict.fromkeys(named) if m not in required]
    folders = sorted({name.split("/", 1)[0] for name in state.infos if "/" in name and not contract.never_loaded(name)})
    return checked, checked + [f for f in folders if f not in checked and f]
