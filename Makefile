# The two commands that matter: `make run` (the whole stack) and `make test` (every check).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8

.PHONY: help install web run up down test test-unit compose-test lint typecheck lint-web test-web format clean rebuild-analytics

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

# A virtual environment with exactly the versions in uv.lock.
$(BIN)/.installed: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv sync --frozen --quiet
	@touch $@

install: $(BIN)/.installed web  ## the virtual environment (.venv) from uv.lock, and the web app

# The web app (web/): npm ci when the lock file changed, a build when the sources did. Without
# Node the API still runs; one line says how to get the web app.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts \
	web/tsconfig.json web/package.json
HAVE_NPM := $(shell command -v npm 2>/dev/null)

web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web/dist/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run --silent build
	@touch $@

ifeq ($(HAVE_NPM),)
web:
	@echo "web app not built: Node.js 20+ and npm are missing (apt-get install nodejs npm, then make install); the API runs without it"
else
web: web/dist/index.html  ## build the web app (npm ci, then vite build) when its sources changed
endif

run: install  ## start everything in the foreground; Ctrl-C stops it
	$(BIN)/python -m devstack run

up: install  ## start everything in the background
	$(BIN)/python -m devstack up

down:  ## stop what `make up` started
	@test -x $(BIN)/python && $(BIN)/python -m devstack down || true

lint: install  ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install  ## mypy, strict
	$(BIN)/mypy .

test: lint typecheck lint-web test-web  ## ruff, mypy, eslint, tsc, vitest, then pytest (incl. browser, compose)
	$(BIN)/pytest

lint-web: install  ## eslint and tsc --noEmit (strict) on web/
	@test -n "$(HAVE_NPM)" || { echo "make test needs Node.js 20+ and npm for web/ (apt-get install nodejs npm)"; exit 1; }
	cd web && npm run --silent lint && npm run --silent typecheck

test-web: install  ## Vitest: the web app's own logic
	@test -n "$(HAVE_NPM)" || { echo "make test needs Node.js 20+ and npm for web/ (apt-get install nodejs npm)"; exit 1; }
	cd web && npm run --silent test

test-unit: install  ## the fast tier alone: tests that need no server (under a second or two)
	$(BIN)/pytest -m "not integration" -q

# Also part of `make test` (tests/compose/), which skips it in one line where no engine answers.
compose-test: install  ## docker-compose.yml for real: build, up, drive through the gateway, down -v
	$(BIN)/pytest tests/compose -q

rebuild-analytics: install  ## recompute analytics from the expense and budget data
	$(BIN)/python -m analytics_service.rebuild

format: install  ## ruff's fixes and formatting, applied
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache web/node_modules web/dist test-output
