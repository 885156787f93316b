# The two README commands. Both set up (or re-check) the environment through tools/install.sh.
VENV ?= $(or $(VMLP_VENV),$(CURDIR)/.venv)
PYTHON := $(VENV)/bin/python
export VMLP_VENV := $(VENV)
MODEL ?= msmlp

.PHONY: install demo test lint

install:
	bash tools/install.sh

demo: install
	$(PYTHON) tools/run_demo.py --model $(MODEL)

test: install
	$(PYTHON) -m pytest tests

# ruff (pyproject.toml): pyflakes, pycodestyle and isort's import order over the tree
lint: install
	$(VENV)/bin/ruff check .
