# The two commands that matter: `make run` (the whole stack) and `make test` (every check).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8

.PHONY: help install run up down test test-unit lint typecheck format clean rebuild-analytics

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

# A virtual environment with exactly the versions in uv.lock.
$(BIN)/.installed: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv sync --frozen --quiet
	@touch $@

install: $(BIN)/.installed  ## the virtual environment (.venv) from uv.lock

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

test: lint typecheck  ## ruff, mypy, then pytest (unit, integration, end-to-end)
	$(BIN)/pytest

test-unit: install  ## the fast tier alone: tests that need no server (under a second or two)
	$(BIN)/pytest -m "not integration" -q

rebuild-analytics: install  ## recompute analytics from the expense and budget data
	$(BIN)/python -m analytics_service.rebuild

format: install  ## ruff's fixes and formatting, applied
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
