"""Judge a ``model.keras``'s ``config.json``: plain JSON, but it tells Keras what to run on load.

A ``Lambda`` layer carries Python bytecode that ``keras.models.load_model`` executes once safe
mode is off (PtychoPINN's loader turns it off); a layer whose ``module`` lies outside Keras and
the target's namespace makes the loader import that module. Code and safe-mode switches are
hostile; unknown modules are warnings. The walk is iterative and bounded (no recursion on depth).
"""

from __future__ import annotations

import json
from typing import Any

from . import allowlist

CONFIG_CAP = 16 << 20
MAX_NODES = 2_000_000


def _module_ok(module: Any, class_name: Any) -> bool:
    if module is None:
        return True
    if not isinstance(module, str):
        return False
    if module == "builtins" and class_name == "function":  # a registered function, by name
        return True
    return any(module == ns or module.startswith(ns + ".") for ns in allowlist.KERAS_MODULES)


def _lambda_code(node: dict[str, Any]) -> bool:
    """A Lambda layer (Keras 2 or 3) whose function is code rather than a registered name."""
    if node.get("class_name") == "__lambda__":
        return True
    if node.get("class_name") not in allowlist.KERAS_CODE_CLASSES:
        return False
    config = node.get("config")
    function = config.get("function") if isinstance(config, dict) else None
    if isinstance(config, dict) and config.get("function_type") == "lambda":
        return True
    return isinstance(function, (list, str)) or (
        isinstance(function, dict) and function.get("class_name") == "__lambda__"
    )


def check_config(data: bytes) -> tuple[list[str], list[str]]:
    """(hostile findings, warnings) for one config.json; an unreadable config is hostile."""
    if len(data) > CONFIG_CAP:
        return [f"config.json is {len(data)} bytes (> {CONFIG_CAP}): cannot be verified"], []
    try:
        root = json.loads(data)
    except (ValueError, RecursionError, UnicodeError) as exc:
        return [f"config.json is not readable JSON ({type(exc).__name__}): cannot be verified"], []
    hostile: dict[str, None] = {}
    warnings: dict[str, None] = {}
    stack: list[Any] = [root]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            hostile.setdefault(f"config.json has more than {MAX_NODES} nodes: cannot be verified", None)
            break
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        _judge(node, hostile, warnings)
        stack.extend(node.values())
    return list(hostile)[:50], list(warnings)[:50]


def _judge(node: dict[str, Any], hostile: dict[str, None], warnings: dict[str, None]) -> None:
    name = node.get("class_name")
    shown = json.dumps(name, ensure_ascii=True)[:80]
    if _lambda_code(node):
        hostile.setdefault(f"layer {shown} carries Python code that load_model would run", None)
    if node.get("safe_mode") is False or node.get("enable_unsafe_deserialization") is True:
        hostile.setdefault("config turns Keras' safe mode off", None)
    if name in ("__numpy__", "__tensor__"):
        config = node.get("config")
        dtype = config.get("dtype") if isinstance(config, dict) else None
        if dtype is not None and dtype not in allowlist.KERAS_VALUE_DTYPES:
            shown_dtype = json.dumps(dtype, ensure_ascii=True)[:80]
            hostile.setdefault(
                f"a {name} value of dtype {shown_dtype}: load_model builds it with np.array(value, dtype), "
                f"which allocates what that dtype says per element (plain dtypes only: "
                f"{', '.join(allowlist.KERAS_VALUE_DTYPES)})",
                None,
            )
    if "class_name" in node and not _module_ok(node.get("module"), name):
        module = json.dumps(node.get("module"), ensure_ascii=True)[:80]
        warnings.setdefault(f"layer {shown} comes from module {module}, outside Keras and the target's namespace", None)
