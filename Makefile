# The two commands of the README's quick start, and what they need. Everything installs into .venv at the root.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lint browser bench-load

# (re)install when pyproject.toml changes; pip's cache (~/.cache/pip) keeps re-runs fast
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## make demo: set up, load Amazon Beauty into the embedded store, train (quick preset) and promote a model or reuse
## the promoted one, serve it over GraphQL, print what it learned beside the observed lists
demo: setup
	$(VENV)/bin/kgrec demo

## make test: set up, then the whole suite; the suite starts the project's real Neo4j itself
test: setup browser
	$(VENV)/bin/python -m pytest

## make test-fast: the suite without Neo4j, the browser or the full Beauty set (a minute or two)
test-fast: setup
	$(VENV)/bin/python -m pytest -m "not neo4j and not slow and not browser"

## make lint: ruff (lint and format) and mypy on the library packages, as CI runs them
lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

# Debian's Chromium for the browser tests (GraphiQL, Neo4j Browser); Playwright never downloads one
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium (browser tests will be skipped)"; fi; }
