"""What a report may record about the machine it ran on, so it can be shared as is.

A report is attached to issues and mailed around, so everything copied from the machine
goes through here. Environment variables are recorded by an explicit allow-list (the ones
that change how TensorFlow, Keras, numpy and the target behave, and the ones callchain
sets itself) — never by prefix: `TF_VAR_*` are Terraform secrets, not TensorFlow settings.
Whatever its list, a name that looks secret never has its value recorded, and the same
rule applies to `NAME=value` words and `--secret-ish value` options of a command line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Variables that change what the traced run does or prints (README: "What a report records").
ENV_ALLOW = frozenset(
    {
        # TensorFlow / XLA
        "TF_CPP_MIN_LOG_LEVEL",
        "TF_CPP_MAX_VLOG_LEVEL",
        "TF_CPP_VMODULE",
        "TF_ENABLE_ONEDNN_OPTS",
        "TF_XLA_FLAGS",
        "XLA_FLAGS",
        "TF_FORCE_GPU_ALLOW_GROWTH",
        "TF_GPU_ALLOCATOR",
        "TF_DETERMINISTIC_OPS",
        "TF_CUDNN_DETERMINISTIC",
        "TF_NUM_INTEROP_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_USE_LEGACY_KERAS",
        "TF2_BEHAVIOR",
        # devices
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        # Keras
        "KERAS_BACKEND",
        "KERAS_HOME",
        # numeric libraries' threads
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        # Python, matplotlib, HDF5 (callchain sets PYTHONHASHSEED, PYTHONDONTWRITEBYTECODE, TMPDIR,
        # KERAS_HOME, MPLCONFIGDIR and a default TF_CPP_MIN_LOG_LEVEL for the traced process)
        "PYTHONHASHSEED",
        "PYTHONDONTWRITEBYTECODE",
        "TMPDIR",
        "MPLCONFIGDIR",
        "MPLBACKEND",
        "HDF5_USE_FILE_LOCKING",
    }
)

# Substrings of a name that mark its value as secret (matched case-insensitively).
SECRET_WORDS = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "PASS",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "SESSION",
    "COOKIE",
    "SIGNATURE",
    "CERT",
    "DSN",
)
REDACTED = "<redacted>"

_ASSIGNMENT = re.compile(r"^(?P<name>-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>.*)$", re.S)


def looks_secret(name: str) -> bool:
    """True when a variable or option name suggests its value is a credential."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def report_environment(env: Mapping[str, str], allow: Iterable[str] = ENV_ALLOW) -> dict[str, str]:
    """The allow-listed variables of `env`; a secret-looking name keeps its name, never its value."""
    allowed = frozenset(allow)
    return {name: (REDACTED if looks_secret(name) else str(env[name])) for name in sorted(env) if name in allowed}


def scrub_argv(argv: Iterable[str]) -> list[str]:
    """A command line fit for a report: values of secret-looking names replaced by REDACTED.

    Covers `NAME=value` words (`env TOKEN=… callchain …`, `--api-key=…`) and the word after
    a secret-looking option (`--token …`). Everything else, paths included, is kept."""
    words = list(argv)
    out: list[str] = []
    hide_next = False
    for word in words:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        assignment = _ASSIGNMENT.match(word)
        if assignment and looks_secret(assignment["name"]):
            out.append(f"{assignment['name']}={REDACTED}")
        elif word.startswith("-") and looks_secret(word.lstrip("-")):
            out.append(word)
            hide_next = True
        else:
            out.append(word)
    return out
