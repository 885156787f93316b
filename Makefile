# The two README commands. Both set up (or re-check) the environment through tools/install.sh.
VENV ?= $(or $(VMLP_VENV),$(CURDIR)/.venv)
PYTHON := $(VENV)/bin/python
export VMLP_VENV := $(VENV)
MODEL ?= msmlp

.PHONY: install demo test test-all cuda-build lint

install:
	bash tools/install.sh

demo: install
	$(PYTHON) tools/run_demo.py --model $(MODEL)

# the quick tier (at most 10 minutes on 2 cores): every test but those marked `slow`, which the
# summary counts
test: install
	$(PYTHON) -m pytest tests --quick

# everything, with the 25 slowest tests listed at the end (CI runs this)
test-all: install
	$(PYTHON) -m pytest tests --durations=25

# the CUDA kernels of vmlp_mm._ext compiled in build/cuda-check (no GPU needed; skipped without nvcc)
cuda-build: install
	bash tools/check_cuda_build.sh

# ruff (pyproject.toml): pyflakes, pycodestyle and isort's import order over the tree
lint: install
	$(VENV)/bin/ruff check .
