# Three commands on a fresh machine (Python 3.11 + Java 17): `make up` (the UI), `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PYTHONPATH := $(CURDIR):$(CURDIR)/plugins
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export SPARK_LOCAL_IP := 127.0.0.1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1

DEMO_OUTPUT ?= $(CURDIR)/output/demo

.PHONY: install up down demo test test-live lint clean

install: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	@touch $(STAMP)

$(AIRFLOW_HOME)/airflow.db: $(STAMP)
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -30 $(AIRFLOW_HOME)/db-migrate.log; exit 1)

## The real services (api-server, scheduler, dag-processor, triggerer; LocalExecutor) on embedded
## defaults, plus a local S3 server for the registry and the tiny base model; logs and outputs under
## $(AIRFLOW_HOME). Returns once healthy and prints the URL and the login. UI_PORT=8080 by default.
UI_PORT ?= 8080
up: $(STAMP)
	$(BIN)/python scripts/live.py up --port $(UI_PORT)

## Stop everything `make up` started.
down:
	@test -x $(BIN)/python && $(BIN)/python scripts/live.py down || python3 scripts/live.py down

## Run curate_dataset end to end on the bundled sample data (local Spark, SQLite Airflow).
demo: $(STAMP) $(AIRFLOW_HOME)/airflow.db
	$(BIN)/airflow dags test curate_dataset \
	  --conf '{"source_uri": "$(CURDIR)/include/sample_data", "output_uri": "$(DEMO_OUTPUT)"}' \
	  > $(AIRFLOW_HOME)/demo.log 2>&1 || (tail -60 $(AIRFLOW_HOME)/demo.log; exit 1)
	$(BIN)/python -m include.report $(DEMO_OUTPUT)
	$(BIN)/python scripts/demo_finetune.py --demo-output $(DEMO_OUTPUT)

## The whole test suite (unit, spark, dags, integration).
test: $(STAMP)
	$(BIN)/python -m pytest -q

## Only the live stack tests (real Airflow services, the whole chain, Chromium; `make test` runs them too).
test-live: $(STAMP)
	CI=true $(BIN)/python -m pytest -q tests/live

## Lint and format check (CI runs it before the tests).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(AIRFLOW_HOME) output .pytest_cache
