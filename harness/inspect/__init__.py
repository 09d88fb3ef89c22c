"""`callchain inspect`: a `wts.h5.zip` judged without trusting it, standalone.

`sandbox.describe_archive` runs `reader.describe_in_process` in a bounded child; the reader
lists members as `zipread` sees them, decodes pickles opcode by opcode (`pickleops` reads,
`pickleruns` executes on a safe stack, `picklevalues` holds the inert values, `safepickle`
judges names by allow-list, `argrules`/`numpyrules` the arguments of each allowed call and
`built` what it builds, `costs`/`keys` price what the real unpickler would pay), judges Keras
configs (`kerascfg`) and checks the contract (`checks`) on the loader's view of each dict
(`loaderview`) and the branch the loader takes per model folder (`fallbacks`); `cli` prints text
or JSON.

May import: only `harness.contract` (the clauses and allow-lists). Nothing of a run: a
trace's archive section calls this package, never the reverse.
"""
