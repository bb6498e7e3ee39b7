# One command surface: make test, make demo, make lint, make typecheck, make bench, make soak, make dist, make all
PYTHON ?= python3
# pip's output is filtered through grep: keep pip's exit status
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# What the demo needs and nothing else: the package and the local endpoint (moto's server)
DEMO_INSTALLED := $(VENV)/.installed-demo
# pip shows what it collects and installs (no --quiet: a first run takes a while), without progress bars
PIP_INSTALL := -m pip install --progress-bar off --disable-pip-version-check
# The contract promises marshmallow 3 and 4: the codec-facing tests run again under 3
VENV3 ?= .venv-marshmallow3
INSTALLED3 := $(VENV3)/.installed
MARSHMALLOW3_TESTS := microcosm_pubsub.tests.test_codecs microcosm_pubsub.tests.test_fastcodec microcosm_pubsub.tests.test_registry \
	microcosm_pubsub.tests.test_producer microcosm_pubsub.tests.test_deferred microcosm_pubsub.tests.test_consumer \
	microcosm_pubsub.tests.test_dispatcher microcosm_pubsub.tests.test_versioning
SUMMARY := .test-summary
# Services' tests are often pytest modules: the examples' run under pytest too (nose2 runs the unittest-style
# ones with the suite); tests_pytest holds the pytest-only ones (fixtures), as docs/testing.md shows them
NOSE2_EXAMPLES := examples.old_style_service.tests examples.sample_service.tests
PYTEST_EXAMPLES := examples/old_style_service/tests examples/sample_service/tests examples/sample_service/tests_pytest
# The old microcosm-pubsub 2.30.3 and 3.0.0 (its last release), which the interoperability tests run as peers
# (tests/test_interop.py)
VENV_OLD ?= .venv-old
INSTALLED_OLD := $(VENV_OLD)/.installed
VENV_OLD3 ?= .venv-old3
INSTALLED_OLD3 := $(VENV_OLD3)/.installed
# The testing extra's dependencies as wheels: the installed-wheel test (tests/test_installed_wheel.py) installs
# the freshly built wheel from here into a new environment, with no index
WHEELHOUSE ?= .wheelhouse
WHEELHOUSE_READY := $(WHEELHOUSE)/.downloaded

# What `make test` needs; independent of one another, so they are built side by side, each one's output
# printed whole as it completes
TEST_ENVS := $(INSTALLED) $(INSTALLED3) $(INSTALLED_OLD) $(INSTALLED_OLD3) $(WHEELHOUSE_READY)
ENV_JOBS ?= 4
# Test modules run in this many nose2 worker processes at once (scripts/run_tests.py --jobs): the tests mostly
# wait on the local endpoint, sleeps and child processes, so more workers than cores pays
TEST_JOBS ?= 4
# `make test TEST_DURATIONS=scripts/test_durations.json` rewrites the per-module seconds the workers are fed by
TEST_DURATIONS ?=

.PHONY: all test test-envs postgres demo lint typecheck bench fanferro-env soak dist clean

all: lint typecheck test

# The full environment (tests, lint, typecheck, optional integrations) also serves the demo
$(INSTALLED): setup.py entrypoints.cfg pyproject.toml
	@echo "--- $(VENV): installing microcosm_pubsub with its test, lint, otel and prometheus extras ---"
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -e '.[test,lint,otel,prometheus]' | grep -v '^Requirement already satisfied'
	touch $@ $(DEMO_INSTALLED)

$(DEMO_INSTALLED): setup.py entrypoints.cfg pyproject.toml
	@echo "--- $(VENV): installing microcosm_pubsub and the local SNS/SQS endpoint (the local extra: moto) ---"
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -e '.[local]' | grep -v '^Requirement already satisfied'
	touch $@

# The second environment: the codec-facing tests again under marshmallow 3 (the contract promises 3 and 4)
$(INSTALLED3): setup.py entrypoints.cfg pyproject.toml
	@echo "--- $(VENV3): installing microcosm_pubsub with marshmallow 3, for the codec tests ---"
	$(PYTHON) -m venv $(VENV3)
	$(VENV3)/bin/python $(PIP_INSTALL) -e '.[test]' 'marshmallow>=3.18,<4' | grep -v '^Requirement already satisfied'
	touch $@

# The old package, run as a peer by the interoperability tests; its logging stack breaks with python-json-logger 3+
$(INSTALLED_OLD):
	@echo "--- $(VENV_OLD): installing the old microcosm-pubsub 2.30.3, the interoperability tests' peer ---"
	$(PYTHON) -m venv $(VENV_OLD)
	$(VENV_OLD)/bin/python $(PIP_INSTALL) 'microcosm-pubsub==2.30.3' 'python-json-logger<3' | grep -v '^Requirement already satisfied'
	touch $@

# The old package's last release, the same way (it installs and runs on Python 3.11 with the same pin)
$(INSTALLED_OLD3):
	@echo "--- $(VENV_OLD3): installing the old microcosm-pubsub 3.0.0, the interoperability tests' second peer ---"
	$(PYTHON) -m venv $(VENV_OLD3)
	$(VENV_OLD3)/bin/python $(PIP_INSTALL) 'microcosm-pubsub==3.0.0' 'python-json-logger<3' | grep -v '^Requirement already satisfied'
	touch $@

# Downloaded again whenever setup.py (the testing extra) changes; the wheel itself is built by the test.
# $(PYTHON)'s pip, reading the package's metadata with build isolation, so it need not wait for $(VENV)
$(WHEELHOUSE_READY): setup.py
	@echo "--- $(WHEELHOUSE): downloading the testing extra's dependencies, for the installed-wheel test ---"
	rm -rf $(WHEELHOUSE)
	$(PYTHON) -m pip download --progress-bar off --disable-pip-version-check \
		--dest $(WHEELHOUSE) '.[testing]' | grep -v '^File was already downloaded'
	touch $@

# Each suite records its counts; the last line sums them and fails if any failed or died.
# Progress is a line per test module and a dot per test; failures print in full with their log records,
# the logging of passing tests stays captured (scripts/run_tests.py, scripts/nose2.cfg)
test: test-envs
	@rm -f $(SUMMARY)
	@echo "--- the suite (nose2) with the examples' tests, and the codec tests again under marshmallow 3" \
		"($(VENV3)), in $(TEST_JOBS) worker processes; the examples' pytest run alongside ---"
	-@log=$$(mktemp); \
		$(PY) scripts/run_pytest.py --summary $(SUMMARY) -W error $(PYTEST_EXAMPLES) > $$log 2>&1 & \
		MICROCOSM_PUBSUB_OLD_PYTHON=$(abspath $(VENV_OLD))/bin/python \
		MICROCOSM_PUBSUB_OLD3_PYTHON=$(abspath $(VENV_OLD3))/bin/python \
		MICROCOSM_PUBSUB_WHEELHOUSE=$(abspath $(WHEELHOUSE)) \
		$(PY) -W error scripts/run_tests.py --summary $(SUMMARY) --jobs $(TEST_JOBS) \
		$(if $(TEST_DURATIONS),--record-durations $(TEST_DURATIONS)) \
		-s . microcosm_pubsub.tests $(NOSE2_EXAMPLES) --also $(VENV3)/bin/python "$(MARSHMALLOW3_TESTS)"; \
		wait; echo "--- the examples' tests under pytest ---"; cat $$log; rm -f $$log
	@$(PY) scripts/run_tests.py --total $(SUMMARY) 3

# A make already running in parallel (make -jN) lends its job slots; otherwise ENV_JOBS at once
test-envs:
	@$(MAKE) --no-print-directory --output-sync=target $(if $(filter -j%,$(MAKEFLAGS)),,-j$(ENV_JOBS)) $(TEST_ENVS) postgres

# The SQL stores' tests start a real PostgreSQL server (microcosm_pubsub/testing/postgres.py) from Debian's
# package: installed here, quietly, when neither PATH nor /usr/lib/postgresql/*/bin has initdb and pg_ctl.
# Without apt-get it says what to install; those tests then fail saying the same
postgres:
	@if { command -v initdb && command -v pg_ctl; } > /dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl > /dev/null 2>&1; \
	then :; \
	elif command -v apt-get > /dev/null; then \
		echo "--- installing PostgreSQL (Debian's postgresql package) for the SQL stores' tests ---"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq > /dev/null && $$sudo env DEBIAN_FRONTEND=noninteractive \
			apt-get install -qq -y --no-install-recommends postgresql > /dev/null; \
	else \
		echo "--- PostgreSQL's initdb and pg_ctl are missing and there is no apt-get: install PostgreSQL" \
			"for the SQL stores' tests ---"; \
	fi

# Works with only the demo's install; a full one (make test) serves it too
demo: $(DEMO_INSTALLED)
	@$(PY) -m microcosm_pubsub.demo

lint: $(INSTALLED)
	$(VENV)/bin/ruff check microcosm_pubsub benchmarks examples scripts setup.py

typecheck: $(INSTALLED)
	$(VENV)/bin/mypy microcosm_pubsub benchmarks examples

# fanferro (Python >= 3.12) runs beside us in its own interpreter and venv, built first by the script (minutes
# the first time, cached after). If it cannot be built, the benchmark runs without it and its report says why
bench: $(INSTALLED) fanferro-env
	$(PY) -m benchmarks.run

fanferro-env:
	@scripts/fanferro_env.sh || echo "--- fanferro's environment could not be built (above): make bench goes on without it ---"

# The reliability suite at full size (10,000 messages under load); rewrites docs/reliability.md's figures
soak: $(INSTALLED)
	$(PY) scripts/soak.py --scale soak

# An sdist and a wheel in dist/, built by `python -m build` (the test extra installs it) with $(VENV)'s setuptools
# and wheel, which meet pyproject.toml's build requirements: no index needed, and built exactly as the
# installed-wheel test builds it. The wheel is built from the sdist, so a file the sdist misses shows here
dist: $(INSTALLED)
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .
	@ls -l dist

clean:
	rm -rf $(VENV) $(VENV3) $(VENV_OLD) $(VENV_OLD3) $(WHEELHOUSE) $(SUMMARY) build dist *.egg-info .venv-fanferro .venv-py313 .cache
