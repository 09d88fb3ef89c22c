"""Evidence read without running the target: the spec's normative clauses (`spec`) and their
verdicts on a finished run (`verdicts`), the PyTorch side's persistence surfaces read with
`ast` (`torchscan`, rules in `torchpatterns` from tap_points/torch_persistence.toml), the
candidate entry points (`analysis`), and the target root, its revision and the
evidence-only comparison (`target`), all within one time and size budget (`bounded`).

May import: `harness.scenarios` (the shipped roles), `harness.trace.anchors` (def lines) and
the shared helpers. Never `record`, `report`, `inspect`, `run`, `runner` or `cli`.
"""
