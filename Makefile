# One command surface: make test, make demo, make lint, make typecheck, make bench, make all
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: all test demo lint typecheck bench clean

all: lint typecheck test

$(INSTALLED): setup.py entrypoints.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $@

test: $(INSTALLED)
	$(PY) -W error scripts/run_tests.py -v -s . microcosm_pubsub.tests

demo: $(INSTALLED)
	$(PY) -m microcosm_pubsub.demo

lint: $(INSTALLED)
	$(VENV)/bin/ruff check microcosm_pubsub scripts setup.py

typecheck: $(INSTALLED)
	$(VENV)/bin/mypy microcosm_pubsub

bench: $(INSTALLED)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info
