# Gridwatch: `make run` serves the demo, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test fuzz bench lint install install-test clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "Gridwatch needs Python >= 3.11: run 'make PYTHON=python3.11 …'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed-run
	$(BIN)/pip install -q -e '.[test,bench]'
	@touch $@

include assets.mk

install: $(VENV)/.installed-run assets translations

install-test: install $(VENV)/.installed-test

run: install
	$(BIN)/gridwatch db upgrade
	$(BIN)/gridwatch seed-demo-if-empty
	exec $(BIN)/gridwatch serve

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest --doctest-modules grid dispatch/triage dispatch/recommend.py dispatch/services/photos.py dispatch/fastjson.py dispatch/realtime/broadcast.py dispatch/services/supervision.py dispatch/web/bulletin.py dispatch/cap dispatch/open311/render.py tests

# The bad-input fuzzers for longer than `make test` runs them: more examples for every
# property, socket and REST fuzz, and schemathesis's coverage phase (boundary values).
FUZZ_EXAMPLES ?= 200
fuzz: install-test
	GRIDWATCH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz tests/grid/test_grid_properties.py

bench: install-test
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) node_modules static/vendor

# A scripted week of activity on the demo (scripts/demo_week.py), so that a week's bulletin
# has something to show; on an empty database `make demo-week DEMO_WEEK_ARGS=--seed-demo`.
DEMO_WEEK_ARGS ?=
.PHONY: demo-week
demo-week: install-test
	$(BIN)/python scripts/demo_week.py $(DEMO_WEEK_ARGS)

# docs/asyncapi.yaml is generated from the pydantic schemas; a test fails until it is
# regenerated after a schema or an event changes.
.PHONY: asyncapi
asyncapi: $(VENV)/.installed-run
	$(BIN)/python -m dispatch.realtime.asyncapi --out docs/asyncapi.yaml
