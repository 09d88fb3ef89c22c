"""Train the PyTorch backend for one short epoch on CPU, save it with `save_torch_bundle`, load it back.

The shipped `torch-persistence` scenario (run it with `--python .venv-torch/bin/python`, made
by `make torch-env`): the revision's PyTorch training entry point
(`ptycho_torch.workflows.components.run_cdi_example_torch`) on the tiny simulated dataset of
the tf-persistence `train` variant, `ptycho_torch.model_manager.save_torch_bundle` →
`load_torch_bundle`, then two checks of the spec run for real: save and load with the tracking
library absent (`no-tracking`), and each backend's loader handed the other backend's archive
(`tf-save`, `tf-loads-torch`, `torch-loads-tf`). A fresh process loads the PyTorch archive as
inference would. It declares `ALLOWS_TORCH = True` (the torch guard is lifted for this
scenario only; the report says so) and keeps the namespaces `ptycho_torch` and `ptycho`.
"""

from __future__ import annotations

from .torch_checks import (
    phase_no_tracking,
    phase_tf_loads_torch,
    phase_tf_save,
    phase_torch_loads_tf,
)
from .torch_cycle import phase_data, phase_import, phase_load, phase_save, phase_setup, phase_train

ALLOWS_TORCH = True
NAMESPACE = ["ptycho_torch", "ptycho"]
# Checked with `ast` before anything runs: a revision without them says so in one line (exit 2).
REQUIRES = ["ptycho_torch.model_manager:save_torch_bundle", "ptycho_torch.model_manager:load_torch_bundle"]
CONTRACT = True
VARIANTS = ("default",)
STATE = {"N": 64, "gridsize": 1, "modules": {}, "deferred": []}
PHASES = [
    ("import", phase_import),
    ("setup", phase_setup),
    ("data", phase_data),
    ("train", phase_train),
    ("save", phase_save),
    ("load", phase_load),
    ("no-tracking", phase_no_tracking),
    ("tf-save", phase_tf_save),
    ("tf-loads-torch", phase_tf_loads_torch),
    ("torch-loads-tf", phase_torch_loads_tf),
]
FRESH_PHASES = [("fresh-import", phase_import), ("fresh-load", phase_load)]
ROLES = {
    "data": ["data"],
    "train": ["train"],
    "save": ["save"],
    "load": ["load", "fresh-load"],
    "fresh-load": ["fresh-load"],
    "entry": ["train", "save", "load", "fresh-load"],
    "tracking-off": ["no-tracking"],
    "cross-backend": ["tf-loads-torch", "torch-loads-tf"],
}
CHAINS = [
    ("Train", ["train"]),
    ("Save", ["save"]),
    ("Load", ["load"]),
    ("Fresh load", ["fresh-load"]),
    ("Save and load without the tracking library", ["no-tracking"]),
    ("TensorFlow loader, PyTorch archive", ["tf-loads-torch"]),
    ("PyTorch loader, TensorFlow archive", ["torch-loads-tf"]),
]
ORDER = "train, save, load"
WHY = (
    "this is the path the PyTorch backend takes today: `run_cdi_example_torch` trains one short epoch on CPU "
    "(Lightning) on a tiny dataset simulated with the target's own API, `save_torch_bundle` writes `wts.h5.zip`, "
    "`load_torch_bundle` reads it back; the same archive is then loaded without the tracking library and handed "
    "to the TensorFlow loader, and a TensorFlow archive to the PyTorch loader."
)
PROCESS_TITLES = ("In the process that trained and saved", "In a fresh process (inference)")
