# The two commands that matter: `make run` (the whole stack) and `make test` (every check).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8

.PHONY: install run up down test lint typecheck format clean rebuild-analytics

# A virtual environment with exactly the versions in uv.lock.
$(BIN)/.installed: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv sync --frozen --quiet
	@touch $@

install: $(BIN)/.installed

run: install  ## start everything in the foreground; Ctrl-C stops it
	$(BIN)/python -m devstack run

up: install  ## start everything in the background
	$(BIN)/python -m devstack up

down:  ## stop what `make up` started
	@test -x $(BIN)/python && $(BIN)/python -m devstack down || true

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

test: lint typecheck  ## ruff, mypy, then pytest (unit, integration, end-to-end)
	$(BIN)/pytest

rebuild-analytics: install  ## recompute analytics from the expense and budget data
	$(BIN)/python -m analytics_service.rebuild

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
