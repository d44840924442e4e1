# The project's commands. Each installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TENANT ?= demo
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test test-fast lint format lab bench up down status clean compat

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) (first time: a few minutes)..."
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@echo "Building the pipeline definition once, on a throwaway localaws (the first demo reuses it)..."
	$(PY) -m helpers.pipeline.prebuild
	@touch $(STAMP)

up: install
	$(VENV)/bin/localaws start

down: install
	$(VENV)/bin/localaws stop

status: install
	$(VENV)/bin/localaws status

# The chain checks TENANT first, then starts localaws (if it is not running; with its job
# worker at once, which imports during notebooks 00-01) while the first notebook's kernel starts.
demo: install
	@$(PY) -m helpers.chain --tenant $(TENANT) --out runs/$(TENANT)

LINTED := src tests benchmarks compat conftest.py

lint: install
	$(VENV)/bin/ruff check $(LINTED) notebooks
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy src/helpers

format: install
	$(VENV)/bin/ruff format $(LINTED)

# pytest-xdist workers: one test module (the notebooks: the whole chain) at a time each; see
# conftest.py. Three on two cores: tests mostly wait on their servers. WORKERS=0: one process.
WORKERS ?= 3

test: install lint
	$(PY) -m pytest -n $(WORKERS)

# The edit loop: unit and fast integration tests (no notebook chains, no kill -9 runs).
test-fast: install
	$(PY) -m pytest -q -n $(WORKERS) -m "not slow" tests

lab: up
	@$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install -q -e ".[dev,lab]"
	source <($(VENV)/bin/localaws env) && $(VENV)/bin/jupyter lab notebooks/

bench: up
	$(PY) -m benchmarks

# SDK v2 code against localaws, in its own venv (not part of `make test`): prints a table of
# what works. localaws's own dependencies come from pyproject.toml, minus the v3 SDK pins.
COMPAT_VENV := .venv-compat
COMPAT_STAMP := $(COMPAT_VENV)/.installed
COMPAT_DEPS = $(shell $(PYTHON) -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print(' '.join(repr(d) for d in deps if not d.startswith(('sagemaker==', 'sagemaker-core', 'sagemaker-train==', 'papermill', 'ipykernel', 'matplotlib'))))")

compat: $(COMPAT_STAMP)
	$(COMPAT_VENV)/bin/python -m compat.run_v2

$(COMPAT_STAMP): pyproject.toml
	@test -x $(COMPAT_VENV)/bin/python || $(PYTHON) -m venv $(COMPAT_VENV)
	@echo "Installing SageMaker SDK v2 and localaws into $(COMPAT_VENV) (first time: a few minutes)..."
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q "sagemaker>=2.200,<3" $(COMPAT_DEPS)
	$(COMPAT_VENV)/bin/python -m pip install -q --no-deps -e .
	@touch $(COMPAT_STAMP)

clean: down
	rm -rf runs
