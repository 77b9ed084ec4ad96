# The two commands of the README: `make demo` and `make test`, and the fast tier `make check`.
# Each creates .venv and installs the project into it when needed, so a fresh machine with Python
# 3.11 needs nothing else. `make test` also installs Debian's chromium for the browser tests and
# Debian's PostgreSQL for the store tests when they are missing (as root), and runs the tests' own
# PostgreSQL server for the length of the run (.ci/test-postgres.sh); GEOVERIFY_TEST_POSTGRES=0
# skips all of that and the PostgreSQL cases. docs/development.md says more.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo lint check test bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/geoverify demo --db demo/geoverify.db --host 127.0.0.1 --port 8000

# Lint, layout and types (rules in pyproject.toml; docs/development.md, "Checks").
lint: $(STAMP)
	$(BIN)/ruff check geoverify tests bench
	$(BIN)/ruff format --check geoverify tests bench
	$(BIN)/mypy

# The fast tier: lint, types, the library tests and the service tests on SQLite, less those marked
# `slow` (real crashes and process fleets, which `make test` runs); no PostgreSQL, no browser, no
# root; the property tests run a fifth of their examples, the API fuzzing 10 per operation (not
# 25). The tests run on CHECK_WORKERS processes (pytest-xdist; 0: in this one); only failures and
# errors are summed up at the end (-rfE), not the PostgreSQL cases skipped on purpose.
CHECK_WORKERS ?= auto
check: lint
	GEOVERIFY_TEST_POSTGRES=0 GEOVERIFY_PROPERTY_QUICK=1 GEOVERIFY_FUZZ_EXAMPLES=10 $(BIN)/python -m pytest -m "not browser and not slow" -q -rfE -n $(CHECK_WORKERS)

# The whole suite (after lint and types), PostgreSQL and browser included.
test: lint
	bash .ci/install-browser.sh
	@if [ "$${GEOVERIFY_TEST_POSTGRES:-1}" = 0 ]; then \
	    echo "GEOVERIFY_TEST_POSTGRES=0: PostgreSQL is neither installed nor started; its cases are skipped"; \
	    echo "$(BIN)/python -m pytest"; \
	    $(BIN)/python -m pytest; \
	else \
	    set -e; \
	    echo "bash .ci/install-postgres.sh"; \
	    bash .ci/install-postgres.sh; \
	    echo "bash .ci/test-postgres.sh run -- $(BIN)/python -m pytest"; \
	    bash .ci/test-postgres.sh run -- $(BIN)/python -m pytest; \
	fi

# docs/cli-reference.md again from the commands' --help (tests/test_cli_reference.py fails when it is stale).
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m geoverify.cli.reference > docs/cli-reference.md.tmp
	mv docs/cli-reference.md.tmp docs/cli-reference.md

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
