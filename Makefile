# The two commands of the README: `make demo` and `make test`. Each creates .venv and installs
# the project into it when needed, so a fresh machine with Python 3.11 needs nothing else.
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
	$(BIN)/geoverify verify --grids grids/dongcheng_sample.geojson --tracks sample_tracks/ \
		--events sample_tracks/events/events.csv --sites sample_tracks/sites/sites.csv \
		--now 2026-11-03T00:00:00+08:00 --format table

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
