# The two commands: `make demo` and `make test`. Each creates .venv if needed,
# installs the project, and makes sure what it needs exists (scripts/ensure-prereqs.sh).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp

.PHONY: demo test lint bench bench-quick prereqs demo-prereqs clean

prereqs:
	@bash scripts/ensure-prereqs.sh test

demo-prereqs:
	@bash scripts/ensure-prereqs.sh demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# The demo needs the project only, not the test tools.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(DEMO_STAMP)

demo: demo-prereqs $(DEMO_STAMP)
	$(BIN)/aesthetic-inventory demo

test: prereqs $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider
	$(BIN)/ruff check module jobs tests bench scripts
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check module jobs tests bench scripts
	$(BIN)/mypy

bench: prereqs $(STAMP)
	$(BIN)/python -m bench --scale full

bench-quick: prereqs $(STAMP)
	$(BIN)/python -m bench --scale quick

clean:
	rm -rf $(VENV) build dist *.egg-info
