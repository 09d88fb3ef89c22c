"""Everything that runs inside the traced process.

`child` is the process's entry point (and `boot/sitecustomize.py` that of the Python
processes it spawns): it installs the torch guard (`guard`), starts a recorder backend
(`tracer`, `accel` + `_ctrace.c`), runs the scenario's phases and streams what the
`recorder` keeps (calls, `taps`, `configflow` changes, `sinks` writes, `libcalls`, program
starts) as `eventstream` lines. The traced process has only this package on its path and
runs the user's interpreter (3.10+), so modules here use the standard library only (hunter
for the hunter backend).

May import: `harness.scenarios` and the shared helpers (`contract`, `errors`, `frames`,
`printable`, `resources`, `summarize`). Never the harness side (`record`, `report`, `static`,
`inspect`, `run`, `runner`, `cli`), never jinja2 or h5py.
"""
