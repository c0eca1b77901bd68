# prefer: the commands the README promises. Each target creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO ?= demo

.PHONY: demo test lint bench clean help

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' Makefile | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "prefer needs Python 3.11 or newer; set PY=python3.11")'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)  ## build a demo project from sample_data/ and open the annotation TUI
	@test -f $(DEMO)/prefer.toml || $(BIN)/prefer init $(DEMO)
	$(BIN)/prefer import sample_data/prompts.jsonl -p $(DEMO)
	$(BIN)/prefer status -p $(DEMO)
	$(BIN)/prefer annotate -p $(DEMO)

# Two workers (CI has 2 cores); tests that create OS users or change shared ACLs stay on one
# worker, one after the other (the scheduler in tests/conftest.py).
test: $(STAMP)  ## run the whole test suite (benchmarks excluded), on 2 workers
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)  ## ruff over core, tui and tests
	$(BIN)/ruff check core tui tests

bench: $(STAMP)  ## benchmarks: import, export, generation, server, saves, agreement, annotation latency; see docs/benchmarks.md
	$(BIN)/python tests/benchmarks/run.py

clean:  ## remove the virtualenv and the demo project
	rm -rf $(VENV) $(DEMO)
