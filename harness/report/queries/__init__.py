"""Facts computed from the run record, one module per subject: the call chain and shared
look-ups (`calls`), taps, `params.cfg` changes (`config`), the intensity scale (`scale`), the
archive's members and writers (`archive`), library calls and the shim surface (`library`), and
the PyTorch side read statically (`pytorch`). Plain data out; no layout (that is `views`).
"""
