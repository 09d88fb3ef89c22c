"""The tags of a hyperparameters YAML file, judged as PyYAML would resolve them, without PyYAML.

Lightning writes ``hparams.yaml`` with ``yaml.dump`` and reads it back with ``yaml.full_load``:
a tuple hyperparameter (PtychoPINN's ``grid_size``, ``x_bounds``) is written as
``!!python/tuple``, which the full loader turns into a tuple and nothing else. Every other
``python/`` tag (``object/apply``, ``name``, ``module``, ...) builds or calls Python objects in an
unsafe loader, so it is hostile, however it is spelt: ``!!python/...``, the verbatim
``!<tag:yaml.org,2002:python/...>``, a ``%TAG`` handle that expands to it, or ``%``-escapes
inside the tag (PyYAML decodes them). Standard library only; linear in the text.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

PYTHON_PREFIX = "tag:yaml.org,2002:python/"
ADMITTED = frozenset({PYTHON_PREFIX + "tuple"})  # what Lightning genuinely writes
_TAG = re.compile(rb"!<[^>\s]*>?|![^\s,\[\]{}]*")
_DIRECTIVE = re.compile(rb"^%TAG[ \t]+(\S+)[ \t]+(\S+)", re.M)


def _expand(token: str, handles: dict[str, str]) -> str:
    """The full tag a token resolves to (``!!x`` is ``tag:yaml.org,2002:x``; ``%TAG`` handles expanded)."""
    if token.startswith("!<"):
        return token[2:].rstrip(">")
    for handle in sorted(handles, key=len, reverse=True):
        if token.startswith(handle):
            return handles[handle] + token[len(handle) :]
    if token.startswith("!!"):
        return "tag:yaml.org,2002:" + token[2:]
    return token


def python_tags(data: bytes) -> list[tuple[int, str]]:
    """(offset, resolved tag) of every tag that reaches ``python/`` and is not an admitted one."""
    found: list[tuple[int, str]] = []
    handles: dict[str, str] = {}
    for match in _DIRECTIVE.finditer(data):
        handle = match.group(1).decode("utf-8", "replace")
        prefix = unquote_to_bytes(match.group(2)).decode("utf-8", "replace")
        handles[handle] = prefix
        if "python" in prefix.lower():
            found.append((match.start(), prefix))
    for match in _TAG.finditer(data):
        token = unquote_to_bytes(match.group(0)).decode("utf-8", "replace")
        tag = _expand(token, handles)
        if "python/" in tag.lower() and tag not in ADMITTED:
            found.append((match.start(), tag))
    return sorted(found)


def top_level_keys(data: bytes, limit: int = 50) -> list[str]:
    """The mapping keys at column 0 of a block YAML document (``model_config:``), for the report."""
    keys = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line[:1] not in ("", " ", "\t", "#", "-", "%") and ":" in line:
            key = line.split(":", 1)[0].strip().strip("'\"")
            if key and key not in keys:
                keys.append(key)
        if len(keys) >= limit:
            break
    return keys
