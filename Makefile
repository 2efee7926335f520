# The platform's entry points. `make run` is the main job; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export APP_DATADIR ?= $(CURDIR)/data

.PHONY: run test up down worker ingest-uof ingest-betfair lint typecheck unit integration bench clean \
	venv topics

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

up:
	scripts/services.sh up

down:
	scripts/services.sh down

topics: venv
	$(BIN)/faust -A app create-topics

worker: venv up topics
	$(BIN)/faust -A app worker -l info

# The live feed ingestors, in the foreground (docs/operations.md, "Live ingestion"). UOF reads
# UOF_AMQP_URL (default: the local RabbitMQ of `make up`); Betfair needs BETFAIR_APP_KEY and
# BETFAIR_SESSION_TOKEN and serves on 6073 by default, so both can run beside each other.
ingest-uof: venv up topics
	$(BIN)/faust -A app -l info ingest uof

ingest-betfair: venv up topics
	INGEST_WEB_PORT=$${INGEST_WEB_PORT:-6073} $(BIN)/faust -A app -l info ingest betfair

run: venv up topics
	scripts/run.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit

integration: venv up
	$(BIN)/pytest tests/integration

test: venv up
	scripts/k8s-tools.sh
	scripts/browser.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest tests

bench: venv up
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .tools data .pytest_cache .mypy_cache .ruff_cache
