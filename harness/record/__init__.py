"""The run record: plain data every renderer reads, saved as `trace/run.json`.

`types` declares every field and what it means; `build` joins the traced processes' event
streams with the static evidence into one record; `complete` fills every field a renderer
reads (a run can stop anywhere); `outcome` gives the record its status and its one message.

May import: the shared helpers. Never `report` (which reads records), `runner` or `cli`.
"""
