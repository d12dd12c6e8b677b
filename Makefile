# `make run` archives on the SQLite default; `make test` runs every check CI runs.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test demo lint install chromium test-tools

run: install chromium
	$(BIN)/gatecam run

test: install chromium test-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto --dist worksteal --cov --cov-report=term --durations=10

demo: install chromium
	scripts/demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

chromium:
	@scripts/ensure-chromium

test-tools:
	@scripts/ensure-test-tools
