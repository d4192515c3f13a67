# fairdistill: `make run` refreshes the built-in Adult dataset; `make test` runs the test suite.
# Both create .venv and install the tested versions (constraints.txt) when needed.
# `make serve` / `make stop`: served mode, Prefect + MLflow servers on 127.0.0.1 (deployments/README.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DATASET ?= adult

.PHONY: run test lint bench clean serve stop

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

BENCH_INSTALLED := $(VENV)/.installed-bench

$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	@touch $@

# `make bench`: fairdistill vs ablations and peers (issue #6; about an hour on 2 cores, resumable;
# not part of `make test`). Results in benchmarks/results/, published to docs/benchmarks.md.
bench: $(BENCH_INSTALLED)
	$(BIN)/python benchmarks/run.py --profile full --budget-min 55 --publish

clean:
	rm -rf $(VENV) lake mlflow.db mlartifacts .prefect .pytest_cache

serve: $(INSTALLED)
	$(BIN)/fairdistill serve

stop:
	$(BIN)/fairdistill stop
