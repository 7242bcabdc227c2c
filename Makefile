# carchain: two commands.
#   make run   - set up (idempotent) and run the demo on the embedded node (no Go needed)
#   make test  - set up everything (incl. CometBFT for network tests, SeaweedFS for the S3
#                blob store's tests, PostgreSQL for the audit-index tests and chromium for
#                the explorer's browser tests), lint, type-check,
#                check the import contract (pyproject's [tool.importlinter]), test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:12])")

.PHONY: run test test-setup setup setup-network setup-objectstore setup-browser setup-postgres lint

run: setup
	$(BIN)/carchain demo

# The SeaweedFS build (minutes, once) runs beside the rest of the setup and the lint.
test:
	$(MAKE) -j2 setup-objectstore test-setup
	$(BIN)/pytest

# One at a time (two apt-get runs would fight over dpkg's lock).
test-setup: setup
	$(MAKE) -j1 setup-network setup-browser setup-postgres lint

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,network,index]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup-network: setup
	$(BIN)/python scripts/setup_network.py

# SeaweedFS for the S3 blob store's tests (built once with Go into .tools/bin).
setup-objectstore:
	$(PYTHON) scripts/setup_objectstore.py

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
