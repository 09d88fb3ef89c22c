"""Miniature ``ptycho`` package: a demo target for callchain (not PtychoPINN)."""
