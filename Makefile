# `make run` archives on the SQLite default; `make test` runs every check CI runs.
VENV ?= .venv
BIN := $(VENV)/bin
# Two test workers per core: much of the suite waits on subprocesses, servers and Chromium
# (on 2 cores: 6:56 with 2 workers, 5:30 with 4).
WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))

.PHONY: run test demo lint docs install chromium test-tools

run: install chromium
	$(BIN)/gatecam run

test: install chromium test-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/mkdocs build --strict --quiet --site-dir site
	$(BIN)/pytest -n $(WORKERS) --dist worksteal --cov --cov-report=term --durations=10

demo: install chromium
	scripts/demo

# The docs site into site/ (open site/index.html); its reference pages come from the code.
docs: install
	$(BIN)/mkdocs build --strict --site-dir site

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
