# One command surface: make test, make demo, make lint, make typecheck, make bench, make soak, make all
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# The contract promises marshmallow 3 and 4: the codec-facing tests run again under 3
VENV3 ?= .venv-marshmallow3
INSTALLED3 := $(VENV3)/.installed
MARSHMALLOW3_TESTS := microcosm_pubsub.tests.test_codecs microcosm_pubsub.tests.test_registry \
	microcosm_pubsub.tests.test_producer microcosm_pubsub.tests.test_deferred microcosm_pubsub.tests.test_consumer \
	microcosm_pubsub.tests.test_dispatcher
SUMMARY := .test-summary
# Services' tests are often pytest modules: the examples' run under pytest too (nose2 runs them in the suite)
PYTEST_EXAMPLES := examples/old_style_service/tests
# The old microcosm-pubsub 2.30.3, which the interoperability tests run as a peer (tests/test_interop.py)
VENV_OLD ?= .venv-old
INSTALLED_OLD := $(VENV_OLD)/.installed

.PHONY: all test demo lint typecheck bench soak clean

all: lint typecheck test

$(INSTALLED): setup.py entrypoints.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint,otel,prometheus]'
	touch $@

$(INSTALLED3): setup.py entrypoints.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV3)
	$(VENV3)/bin/python -m pip install --quiet --upgrade pip
	$(VENV3)/bin/python -m pip install --quiet -e '.[test]' 'marshmallow>=3.18,<4'
	touch $@

# Its logging stack breaks with python-json-logger 3 and later
$(INSTALLED_OLD):
	$(PYTHON) -m venv $(VENV_OLD)
	$(VENV_OLD)/bin/python -m pip install --quiet 'microcosm-pubsub==2.30.3' 'python-json-logger<3'
	touch $@

# Each suite records its counts; the last line sums them and fails if any failed or died
test: $(INSTALLED) $(INSTALLED3) $(INSTALLED_OLD)
	@rm -f $(SUMMARY)
	-MICROCOSM_PUBSUB_OLD_PYTHON=$(abspath $(VENV_OLD))/bin/python $(PY) -W error scripts/run_tests.py --summary $(SUMMARY) -v -s . microcosm_pubsub.tests
	@echo "--- the examples' tests under pytest ---"
	-$(PY) scripts/run_pytest.py --summary $(SUMMARY) -W error $(PYTEST_EXAMPLES)
	@echo "--- again under marshmallow 3 ---"
	-$(VENV3)/bin/python -W error scripts/run_tests.py --summary $(SUMMARY) -s . $(MARSHMALLOW3_TESTS)
	@$(PY) scripts/run_tests.py --total $(SUMMARY) 3

demo: $(INSTALLED)
	$(PY) -m microcosm_pubsub.demo

lint: $(INSTALLED)
	$(VENV)/bin/ruff check microcosm_pubsub benchmarks examples scripts setup.py

typecheck: $(INSTALLED)
	$(VENV)/bin/mypy microcosm_pubsub benchmarks examples

bench: $(INSTALLED)
	$(PY) -m benchmarks.run

# The reliability suite at full size (10,000 messages under load); rewrites docs/reliability.md's figures
soak: $(INSTALLED)
	$(PY) scripts/soak.py --scale soak

clean:
	rm -rf $(VENV) $(VENV3) $(VENV_OLD) $(SUMMARY) build *.egg-info
