"""`python -m harness.scenarios.probe SOURCE ROOT RESULT.json`: check a scenario file, describe it.

Runs in its own subprocess, before anything is traced, so that the harness process never
imports a scenario file (which may import the target). Writes `{"scenario": {...}}` or
`{"error": {"file", "line", "problem"}}` to RESULT.json (stdout belongs to the file's own
prints); exit 0 or 2.
"""

from __future__ import annotations

import json
import sys

from .contract import ScenarioFileError, describe
from .loader import load


def main(argv: list) -> int:
    source, root, result = argv
    sys.dont_write_bytecode = True
    sys.path.insert(0, root)
    try:
        answer = {"scenario": describe(load(source))}
    except ScenarioFileError as error:
        answer = {"error": error.as_data()}
    with open(result, "w", encoding="utf-8") as handle:
        json.dump(answer, handle)
    return 2 if "error" in answer else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
