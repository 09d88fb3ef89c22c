"""The deliverables, from the run record alone: `queries` compute facts, `views` shape them
per deliverable, `render` lays them out with the Jinja templates (templates/) and writes the
report folder; `fold` folds repeated calls in dynamic.txt, `perfetto` writes trace.json,
`diff` compares two records.

May import: `harness.record` and the shared helpers. Never `trace`, `runner` or `cli`.
"""
