# fairdistill: `make run` refreshes the built-in Adult dataset; `make test` runs the test suite.
# Both create .venv and install the tested versions (constraints.txt) when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DATASET ?= adult

.PHONY: run test lint bench clean

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

run: $(INSTALLED)
	$(BIN)/fairdistill refresh --dataset $(DATASET)

test: $(INSTALLED)
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) lake mlflow.db mlartifacts .prefect .pytest_cache
