# callchain: `make trace` records the evidence run, `make test` runs the test suite.
# Both create the virtual environment .venv on first use (Python 3.12+ when the machine
# has it, for the sys.monitoring recorder; else python3).

VENV        ?= .venv
OUT         ?= artifacts
PTYCHO_ROOT ?=
ARGS        ?=
# Interpreters `make bench` runs the scenario with (default: each Python 3.10-3.13 found that imports TensorFlow);
# with PTYCHO_ROOT and .venv-torch (make torch-env) it adds the torch-persistence row (ARGS=--torch-only: that row alone).
BENCH_PYTHONS ?=
# pytest workers (pytest-xdist): the slow tests wait on traced subprocesses, two workers fill two cores.
TEST_WORKERS ?= 2
PY          := $(VENV)/bin/python
# First interpreter that really runs (pyenv shims exist for versions that are not active).
BOOT_PYTHON ?= $(shell for c in python3.12 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3 2>/dev/null | sort -V | tail -1) python3.13 python3; do \
                 $$c -c 'import sys; assert sys.version_info >= (3, 10)' >/dev/null 2>&1 && { echo $$c; break; }; done)

.PHONY: install trace test lint matrix bench soak clean-venv torch-env

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(BOOT_PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip >/dev/null
	@$(PY) -m pip install --quiet -e '.[test,demo]'
	@touch $@

$(VENV)/.installed-ptychopinn: $(VENV)/.installed
	@$(PY) -m pip install --quiet -e '.[test,demo,ptychopinn]'
	@touch $@

$(VENV)/.installed-lint: $(VENV)/.installed
	@$(PY) -m pip install --quiet -e '.[test,demo,lint]'
	@touch $@

# `make install` (add PTYCHO_ROOT=... to also install what PtychoPINN's TensorFlow side imports)
install: $(VENV)/.installed $(if $(PTYCHO_ROOT),$(VENV)/.installed-ptychopinn)

trace: install
	@$(VENV)/bin/callchain trace $(if $(PTYCHO_ROOT),--root "$(PTYCHO_ROOT)") --out "$(OUT)" $(ARGS)

test: install
	@$(PY) -m pytest -n $(TEST_WORKERS) $(ARGS)

# ruff (lint + format check) and mypy on the package; the tests, benchmarks and noxfile are
# linted too; lint-imports checks the layers and contracts of [tool.importlinter].
lint: $(VENV)/.installed-lint
	@$(VENV)/bin/ruff check harness tests benchmarks noxfile.py
	@$(VENV)/bin/ruff format --check harness tests benchmarks noxfile.py
	@$(VENV)/bin/mypy harness
	@$(VENV)/bin/lint-imports --no-cache

$(VENV)/.installed-matrix: $(VENV)/.installed
	@$(PY) -m pip install --quiet -e '.[matrix]'
	@touch $@

# The fast layer on the users' interpreters (noxfile.py); NOX_SESSIONS picks others, e.g. "fast-3.12 fast-3.13".
NOX_SESSIONS ?= fast-3.10 fast-3.11
matrix: $(VENV)/.installed-matrix
	@$(VENV)/bin/nox --sessions $(NOX_SESSIONS)

bench: install
	@$(PY) benchmarks/bench.py --out "$(OUT)/bench" $(if $(PTYCHO_ROOT),--root "$(PTYCHO_ROOT)") $(foreach p,$(BENCH_PYTHONS),--python "$(p)") $(if $(wildcard $(TORCH_VENV)/bin/python),--torch-python $(TORCH_VENV)/bin/python) $(ARGS)

# ≥ 40 demo runs, two at a time, 0 failures (CALLCHAIN_SOAK_RUNS, CALLCHAIN_SOAK_PARALLEL change it).
soak: install
	@$(PY) -m pytest tests/e2e/test_soak.py -m soak -s $(ARGS)

clean-venv:
	rm -rf $(VENV)

# `make torch-env`: .venv-torch, the environment the torch-persistence scenario runs in
# (`--python .venv-torch/bin/python`). Python 3.11 (PtychoPINN's requires-python), torch on CPU,
# lightning, mlflow-skinny (the optional tracking library) and what the target's TensorFlow side
# imports. callchain itself is not installed there: the traced process needs only the standard
# library (the harness puts its own package on that process's path).
TORCH_VENV   ?= .venv-torch
TORCH_PYTHON ?= $(shell for c in python3.11 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.11*/bin/python3 2>/dev/null | sort -V | tail -1); do \
                 $$c -c 'import sys; assert sys.version_info[:2] == (3, 11)' >/dev/null 2>&1 && { echo $$c; break; }; done)
# torch is pinned to the CPU build this machine's wheel folder holds (an open spec pulls the CUDA build, GBs).
TORCH_SPEC   ?= torch==2.13.0
TORCH_PKGS   ?= $(TORCH_SPEC) lightning mlflow-skinny tensordict \
                tensorflow-cpu tensorflow-probability dill h5py pyyaml numpy scipy scikit-image matplotlib pandas imageio tqdm ujson

$(TORCH_VENV)/.installed: Makefile
	@test -n "$(TORCH_PYTHON)" || { echo "error: no Python 3.11 found (PtychoPINN's requires-python is <3.12)"; echo "  fix: install one (e.g. pyenv install 3.11) or pass TORCH_PYTHON=/path/to/python3.11"; exit 2; }
	@test -x $(TORCH_VENV)/bin/python || $(TORCH_PYTHON) -m venv $(TORCH_VENV)
	@$(TORCH_VENV)/bin/python -m pip install --quiet --upgrade pip >/dev/null
	@$(TORCH_VENV)/bin/python -m pip install --quiet $(TORCH_PKGS)
	@# tf-keras declares a dependency on `tensorflow`, which would add a second TensorFlow beside tensorflow-cpu.
	@$(TORCH_VENV)/bin/python -m pip install --quiet --no-deps tf-keras
	@$(TORCH_VENV)/bin/python -m pip check >/dev/null || $(TORCH_VENV)/bin/python -m pip check | grep -v '^tf-keras' || true
	@touch $@
	@echo "$(TORCH_VENV): $$(du -sh $(TORCH_VENV) | cut -f1)"

torch-env: $(TORCH_VENV)/.installed
