# Cercle — every command a developer or an admin needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
TEST_STACK := .stack/test/env

.DEFAULT_GOAL := help
.PHONY: help install lock tools stack run down test test-unit lint format token bench chaos clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(INSTALLED) ## Create the virtual environment from the lock (requirements-dev.lock)
# Every package comes from the lock, checked against its hashes; then the project itself,
# editable, with nothing more (--no-deps) and built by the locked setuptools.
$(INSTALLED): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes -r requirements-dev.lock
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $@

lock: ## Re-pin the locks after editing pyproject.toml (uv; see the README's Development)
	bash tools/lock/lock.sh

tools: install ## Install the test tools that live in their own environments
	bash tools/openbadges/install.sh
	bash tools/k8s/install.sh

stack: install ## Start Kafka, the MongoDB wire server and Redis (the dev instance)
	$(PY) -m devstack up --name dev

run: install ## Run the whole system with a demo organisation (foreground; Ctrl-C stops it)
	$(PY) -m devstack run

down: ## Stop everything `make run` or `make stack` started
	-$(PY) -m devstack down --all

test: install tools ## Unit, integration, end-to-end and a short chaos run, on fresh local stacks
	$(PY) -m devstack up --name test --fresh
	set -a; source $(TEST_STACK); set +a; \
	  $(PY) -m pytest tests/unit -q \
	  && $(PY) -m pytest tests/deploy tests/integration -q \
	  && $(PY) -m pytest tests/e2e -q; \
	  status=$$?; $(PY) -m devstack down --name test; exit $$status
	$(PY) -m pytest tests/chaos -q

test-unit: install ## The pure unit tests only (no services, seconds)
	$(PY) -m pytest tests/unit -q

lint: install ## ruff (lint and format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy cercle_common services gateway devstack
	$(VENV)/bin/mypy --strict --explicit-package-bases --follow-imports=silent \
	  services/points/domain tests/unit/points/fakes.py tests/integration/points/test_contracts.py
	$(VENV)/bin/mypy tests/unit/badges/fakes.py

format: install ## Format the code with ruff
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

token: install ## Print a development JWT: make token EMPLOYEE=e-1 [ROLE=admin]
	@$(PY) -m gateway.token --employee "$(EMPLOYEE)" $(if $(ROLE),--role $(ROLE))

bench: install ## Benchmarks on a stack instance of their own (never the dev data); prints figures
	$(PY) -m devstack up --name bench --fresh
	set -a; source .stack/bench/env; set +a; $(PY) bench/run.py; \
	  status=$$?; $(PY) -m devstack down --name bench; exit $$status

chaos: install ## Kill consumers, restart Kafka, FerretDB and Redis under load; check nothing is lost
	$(PY) bench/chaos.py

clean: down ## Remove the local stack's data (downloads and builds stay cached)
	rm -rf .stack
