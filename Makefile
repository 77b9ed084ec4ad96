# The two commands of the README: `make demo` and `make test`. Each creates .venv and installs
# the project into it when needed, so a fresh machine with Python 3.11 needs nothing else;
# `make test` also installs Debian's chromium for the browser tests when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/geoverify demo --db demo/geoverify.db --host 127.0.0.1 --port 8000

test: $(STAMP)
	bash .ci/install-browser.sh
	bash .ci/install-postgres.sh
	$(BIN)/python -m pytest

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
