# refdesk — two commands: `make run` (set up and serve the demo) and `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Python >= 3.12: an explicit PYTHON wins, then pyenv's 3.12/3.13, then whatever is on PATH.
PYTHON ?= $(shell for c in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 /usr/local/bin/python3.1[23] python3; do \
	  p=$$(command -v $$c 2>/dev/null) || continue; \
	  $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { echo $$p; break; }; \
	done)
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_REFERRALS ?= 300
# The address printed in intake links; follows HOST and PORT unless set.
REFDESK_BASE_URL ?= http://$(HOST):$(PORT)
export REFDESK_BASE_URL
PYTEST_ARGS ?=

.PHONY: run test install install-test install-e2e e2e deploy-test lint format migrations-check demo serve clean

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "refdesk needs Python 3.12 or newer and none was found."; \
	  echo "Install one (e.g. 'pyenv install 3.12') or run: make PYTHON=/path/to/python3.12 run"; \
	  exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

$(VENV)/.installed-e2e: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[e2e]'
	@touch $@

# axe-core at the exact version and hash e2e/package-lock.json pins (npm ci: the lock or nothing).
e2e/node_modules/.package-lock.json: e2e/package.json e2e/package-lock.json
	npm ci --prefix e2e --no-audit --no-fund --ignore-scripts --loglevel=error

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
## make install-e2e: Playwright for Python (no browser download) and axe-core from npm
install-e2e: $(VENV)/.installed-e2e e2e/node_modules/.package-lock.json

var/secrets.env: | $(BIN)/python
	$(BIN)/python -m refdesk.devsecrets var/secrets.env

## make run: set up everything on SQLite under var/, load the demo, serve on http://$(HOST):$(PORT)
run: install var/secrets.env
	$(BIN)/refdesk migrate --no-input
	$(BIN)/refdesk collectstatic --no-input --verbosity 0
	$(BIN)/refdesk demo --referrals $(DEMO_REFERRALS)
	$(BIN)/refdesk serve --host $(HOST) --port $(PORT)

## make test: install what tests need and run the whole suite (DATABASE_URL selects PostgreSQL)
test: install-test
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

## make e2e: the browser walkthrough with axe-core, desktop and phone, as CI runs it; needs
## Debian's chromium at /usr/bin/chromium (apt-get install chromium). E2E_ARGS to change.
E2E_ARGS ?= --referrals 30 --no-screenshots --timeout 420 --report var/e2e-report.json
e2e: install-e2e
	@mkdir -p var
	$(BIN)/python e2e/walkthrough.py $(E2E_ARGS)

## make deploy-test: docs/deploy.md's commands, verbatim, on a fresh PostgreSQL database (two web
## nodes, a worker, a real SMTP server); needs PostgreSQL on 127.0.0.1:5432 as CI has it.
deploy-test: install-test
	$(BIN)/python e2e/deploy.py --timeout 900

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install-test
	DJANGO_SETTINGS_MODULE=refdesk.settings.test $(BIN)/refdesk makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var
