# One Workforce — the README's commands. Every target sets up what it needs from the
# project's own files (pyproject.toml, constraints.txt): nothing has to be installed by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export OWF_HOME ?= $(CURDIR)/var

.PHONY: demo test dev bench lint docs lock clean help

help:
	@echo "make demo   run the whole system end to end on the synthetic default and say where the results are"
	@echo "make test   run the tests"
	@echo "make dev    start the Dagster UI on http://127.0.0.1:3000"
	@echo "make bench  benchmark the monthly cycle (not part of make test)"
	@echo "make lint   ruff"
	@echo "make docs   build the dbt docs"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/owf demo

# One worker per core (TEST_WORKERS=0 runs them in this process); a test file stays on one
# worker, so the module fixtures that build a small system are built once.
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# dagster dev's notice that `dg dev` (the dagster-dg package, not used here) supersedes it is
# silenced: it is about Dagster's own command line, not the hub.
dev: $(STAMP)
	@$(BIN)/python -m pipelines.defs.instance
	PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
		$(BIN)/dagster dev -m pipelines.definitions -h 127.0.0.1 -p 3000

bench: $(STAMP)
	$(BIN)/python -m pipelines.bench --out bench-results

lint: $(STAMP)
	$(BIN)/ruff check pipelines tests
	$(BIN)/ruff format --check pipelines tests

docs: $(STAMP)
	$(BIN)/owf models docs

lock:
	rm -rf /tmp/owf-lock && $(PYTHON) -m venv /tmp/owf-lock
	/tmp/owf-lock/bin/pip install --quiet --upgrade pip && /tmp/owf-lock/bin/pip install --quiet -e '.[dev]'
	( echo "# Exact versions installed and tested together (python 3.11, this machine). Regenerate with 'make lock'."; \
	  /tmp/owf-lock/bin/pip freeze --exclude-editable | grep -v '^one-workforce' ) > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dbt_project/target dbt_project/logs
