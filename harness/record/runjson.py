"""`trace/run.json`: the run record on disk, written and read back in one place.

Every renderer (`callchain render`, `callchain diff`, the pytest plugin) starts from this
file, often long after the run and from a moved report folder, so reading it checks what
it is (a run record, of the schema version this callchain reads) and says how to fix it.
Writing keeps one key order, so two runs' files diff cleanly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ..errors import HarnessError
from .types import SCHEMA_VERSION, RunRecord


def load(path: str) -> RunRecord:
    """The run record of a report folder, its trace/ folder, or the run.json file itself."""
    given = Path(path).expanduser()
    candidates = [given] if given.is_file() else [given / "trace" / "run.json", given / "run.json"]
    source = next((c for c in candidates if c.is_file()), None)
    if source is None:
        raise HarnessError(
            f"no trace/run.json in {given}",
            "pass a report folder written by callchain trace (…/<plan phase>/) or its trace/run.json",
        )
    try:
        record = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise HarnessError(f"cannot read {source} ({error})", "check the path and its permissions") from None
    except json.JSONDecodeError as error:
        raise HarnessError(
            f"{source} is not valid JSON ({error})", "re-run callchain trace; the run record is damaged"
        ) from None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("calls"), list)
        or not isinstance(record.get("edges"), list)
    ):
        raise HarnessError(
            f"{source} is not a callchain run record (no calls/edges)",
            "pass the trace/run.json of a callchain trace report",
        )
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        written = f"schema version {version}" if version is not None else "an older callchain (no schema_version)"
        raise HarnessError(
            f"{source} was written by {written}; this callchain reads schema version {SCHEMA_VERSION}",
            "re-run callchain trace with this version, or use the callchain version that wrote the report",
        )
    # Name the folder the user gave (report folders can be moved), not where it was written.
    folder = source.parent.parent if source.parent.name == "trace" else source.parent
    record["report"] = str(folder.resolve())
    return cast(RunRecord, record)


def dumps(record: Mapping[str, Any]) -> str:
    """`trace/run.json`: `schema_version` first, every other key sorted, so the file diffs cleanly."""
    rest = {key: value for key, value in record.items() if key != "schema_version"}
    body = json.dumps(rest, indent=2, sort_keys=True, default=str)
    if not rest:
        return json.dumps({"schema_version": record.get("schema_version")}, indent=2) + "\n"
    return "{\n  " + f'"schema_version": {json.dumps(record.get("schema_version"))},' + body[1:] + "\n"
