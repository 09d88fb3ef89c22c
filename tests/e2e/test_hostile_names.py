"""Names the target chooses, printed as data: a qualified name, a module name, a file path, a
thread name and an exception message that hold newlines, a forged `[phase …]` header and call
line, Markdown pipes, ANSI and bidi characters forge nothing in any deliverable or message."""

from __future__ import annotations

import pytest
from helpers import delimiters, markdown_tables, tiny_target
from tracing import trace

pytestmark = pytest.mark.slow  # traced subprocesses

FORGED = "\n[phase forged · 1 call kept]\nptycho.fake:evil  ptycho/evil.py:1  => None\n| a | b |\x1b[31m\u202e\u2028"

MODEL = f"""
import importlib.util, os, threading

HERE = os.path.dirname(os.path.abspath(__file__))
FORGED = {FORGED!r}


def helper(n):
    return n + 1


if hasattr(helper.__code__, "co_qualname"):
    helper.__code__ = helper.__code__.replace(co_qualname="helper" + FORGED)
_spec = importlib.util.spec_from_file_location("ptycho.odd" + FORGED, os.path.join(HERE, "we|rd.py"))
odd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(odd)


def create_model_with_gridsize(gridsize, N):
    helper(1)
    odd.f()
    worker = threading.Thread(target=helper, args=(2,), name="worker" + FORGED)
    worker.start()
    worker.join()
    return 'autoencoder', 'diffraction_to_obj'
"""

MANAGER = f"""
import zipfile


class ModelManager:
    @staticmethod
    def save_multiple_models(models, base_path, custom_objects, intensity_scale):
        with zipfile.ZipFile(base_path + '.zip', 'w') as zf:
            zf.writestr('manifest.dill', b'')

    @staticmethod
    def load_multiple_models(base_path, model_names=None):
        raise ValueError("cannot load" + {FORGED!r})
"""


@pytest.mark.parametrize("backend", ["settrace", "default"])
def test_hostile_names_forge_no_line_in_any_deliverable_or_message(tmp_path, backend):
    root = tiny_target(
        tmp_path / "target",
        {"ptycho/model.py": MODEL, "ptycho/model_manager.py": MANAGER, "ptycho/we|rd.py": "def f():\n    return 1\n"},
    )
    extra = ("--backend", backend) if backend != "default" else ()
    run = trace(root, tmp_path / "out", "--no-fresh-load", *extra).fails(3, "cannot load\\n[phase forged")
    assert all(line.isprintable() for line in run.stderr.splitlines())
    assert not [line for line in run.stderr.splitlines() if line.lstrip().startswith(("[phase", "ptycho.fake", "|"))]
    assert any(call["function"].startswith("ptycho.model:helper") for call in run.record["calls"])
    names = ("callgraph/dynamic.txt", "callchain/static.md", "callchain/diagram.mmd", "trace/tap_points.md")
    for name in (*names, "summary.md"):
        text = run.text(name)
        assert all(char == "\n" or char.isprintable() for char in text), name
        lines = text.splitlines()
        assert not [line for line in lines if line.lstrip().startswith(("[phase forged", "ptycho.fake:evil"))], name
        for table in markdown_tables(text) if name.endswith(".md") else []:
            assert len({delimiters(row) for row in table}) == 1, (name, table)
    dynamic = run.text("callgraph/dynamic.txt")
    assert [line for line in dynamic.splitlines() if line.startswith("[thread worker\\n[phase forged")]
    assert "ptycho/we|rd.py:1" in dynamic and "ptycho/we\\|rd.py:1" in run.text("callchain/static.md")
