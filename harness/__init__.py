"""callchain: record how a ptycho-like codebase really runs, with path:line evidence."""

__version__ = "0.1.0"
