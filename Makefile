# Sanad: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(PY):
	$$(command -v $(PYTHON) || command -v python3) -m venv $(VENV)

$(STAMP): requirements.lock pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned dependencies

run: $(STAMP) ## Run NATS and the four services on 127.0.0.1 (Ctrl-C stops all)
	$(PY) -m tools.run

test: $(STAMP) ## Run the whole suite, end-to-end tests included
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## Run the suite without the end-to-end tests
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff, mypy --strict and the import-linter contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared services tools bench tests
	$(VENV)/bin/lint-imports

format: $(STAMP) ## Format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

rebuild-reporting: $(STAMP) ## Re-fold reporting's read model from the streams (stop reporting first; NATS ops user)
	$(PY) -m services.reporting.rebuild

security: $(STAMP) ## The access matrix, the fuzzing and the canaries
	$(PY) -m pytest tests/security tests/fuzz tests/e2e/test_canaries.py

access-matrix: $(STAMP) ## Rewrite the access table in docs/security.md from the routes
	$(PY) -m tests.security.matrix

bench-reporting: $(STAMP) ## Reporting's fold rate through the real consumer code
	$(PY) -m bench.reporting

bench-reporting-scale: $(STAMP) ## Reporting at 1,000,000 tickets: report latency and fold rate over NATS (TICKETS=n to shrink)
	$(PY) -m bench.reporting_scale $(if $(TICKETS),--tickets $(TICKETS))

bench-triage: $(STAMP) ## Classifier latency against a one-regex baseline
	$(PY) -m bench.triage

bench-hardening: $(STAMP) ## Cost of the security middleware per request
	$(PY) -m bench.hardening

bench: $(STAMP) ## Benchmark intake and the journey against a stack it starts (N=, C=)
	$(PY) -m bench.intake $(if $(N),--tickets $(N)) $(if $(C),--concurrency $(C))

eval-triage: $(STAMP) ## Measure the triage classifier on the labelled dev set (DATA= to choose)
	$(PY) -m tools.eval_triage $(or $(DATA),../shared/data/triage_dev.jsonl)

trace: $(STAMP) ## Print one ticket's trace as a timeline: make trace TICKET=<id>
	@test -n "$(TICKET)" || { echo "usage: make trace TICKET=<ticket id>"; exit 2; }
	$(PY) -m tools.trace $(TICKET)

migration: $(STAMP) ## New revision for one service: make migration SERVICE=intake M="add tags"
	@test -n "$(SERVICE)" -a -n "$(M)" || { echo 'usage: make migration SERVICE=<name> M="<message>"'; exit 2; }
	$(PY) -m tools.migrate $(SERVICE) revision --autogenerate -m "$(M)"

migrate: $(STAMP) ## Upgrade the services' databases to head (SERVICE=<name> for one)
	@for s in $(or $(SERVICE),intake triage escalation reporting); do $(PY) -m tools.migrate $$s upgrade head || exit 1; done

contract-schemas: $(STAMP) ## Rewrite the committed event schemas after a deliberate change
	$(PY) -m tests.contract.schemas_io

lock: ## Re-pin requirements.lock from the current .venv
	$(VENV)/bin/pip freeze --exclude-editable | grep -v '^sanad' > requirements.lock

clean: ## Remove caches (keeps var/ and .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help install run test test-fast lint format rebuild-reporting security access-matrix bench-reporting bench-reporting-scale bench-triage bench-hardening bench eval-triage trace migration migrate contract-schemas lock clean
