"""The harness side of a run, below `runner`: the report and scratch folders and the traced
process's environment (`workspace`), what the scenario's interpreter can run
(`interpreter`), finding and probing a scenario by name (`resolve`), stop signals and
process groups (`stop`), and copying a finished report into the target (`publish`).

May import: `harness.scenarios` (names of the shipped ones) and the shared helpers. Never
`record`, `report`, `static`, `inspect`, `trace`, `runner` or `cli`.
"""
