"""View data per deliverable, shaped from the facts of `queries` for one template each:
`static` (static.md), `summary` (summary.md), `diagram` (diagram.mmd), `common` (the header
both Markdown files open with, the spec table, taps), `unknowns` (the gaps both list).
"""
