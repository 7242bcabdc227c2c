# carchain: two commands.
#   make run   - set up (idempotent) and run the demo on the embedded node (no Go needed)
#   make test  - set up everything (incl. CometBFT for network tests and chromium for the
#                explorer's browser tests, PostgreSQL for the audit-index tests), lint, type-check,
#                check the import contract (pyproject's [tool.importlinter]), test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:12])")

.PHONY: run test setup setup-network setup-browser setup-postgres lint

run: setup
	$(BIN)/carchain demo

test: setup setup-network setup-browser setup-postgres lint
	$(BIN)/pytest

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,network,index]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup-network: setup
	$(BIN)/python scripts/setup_network.py

# Debian's chromium for the explorer's browser tests (apt-get, only when missing).
setup-browser: setup
	$(BIN)/python scripts/setup_browser.py

# Debian's postgresql for the audit-index tests (apt-get, only when missing; the
# tests start their own throwaway server on a Unix socket and stop it).
setup-postgres: setup
	$(BIN)/python scripts/setup_postgres.py

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
