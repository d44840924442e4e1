# The project's commands. Each installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TENANT ?= demo
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test test-fast lint format lab bench up down status clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) (first time: a few minutes)..."
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

up: install
	$(VENV)/bin/localaws start

down: install
	$(VENV)/bin/localaws stop

status: install
	$(VENV)/bin/localaws status

# The chain checks TENANT first; notebook 00's connect() starts localaws if it is not running.
demo: install
	@$(PY) -m helpers.chain --tenant $(TENANT) --out runs/$(TENANT)

LINTED := src tests benchmarks conftest.py

lint: install
	$(VENV)/bin/ruff check $(LINTED) notebooks
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy src/helpers

format: install
	$(VENV)/bin/ruff format $(LINTED)

# pytest-xdist workers: one test module (the notebooks: the whole chain) at a time each; see
# conftest.py. WORKERS=0 runs everything in one process.
WORKERS ?= 2

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

clean: down
	rm -rf runs
