"""Packaging for microcosm_pubsub; entry points live in entrypoints.cfg."""
from configparser import ConfigParser
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


HERE = Path(__file__).parent
# Tests of the repository itself (its benchmarks, its documents), which need what the wheel does not ship
REPOSITORY_ONLY_MODULES = {
    ("microcosm_pubsub.tests", "test_benchmarks_smoke"),
    ("microcosm_pubsub.tests", "test_docs"),
    ("microcosm_pubsub.tests", "doc_examples"),
}


class BuildPy(build_py):
    """build_py without the repository-only test modules."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules: list[tuple[str, str, str]] = super().find_package_modules(package, package_dir)
        return [module for module in modules if (module[0], module[1]) not in REPOSITORY_ONLY_MODULES]


def entry_points() -> dict[str, list[str]]:
    path = HERE / "entrypoints.cfg"
    # Without it the package would install without its graph bindings and fail only when a graph is built
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the sdist must ship it (MANIFEST.in includes it)")
    parser = ConfigParser()
    # Entry point names are case-sensitive binding keys
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return {
        section: [f"{name} = {target}" for name, target in parser.items(section)]
        for section in parser.sections()
    }


setup(
    name="microcosm_pubsub",
    # Above the old microcosm-pubsub's last release (3.0.0): to pip the two names are one
    version="4.0.0.dev0",
    description="Messaging between microcosm services over AWS SNS and SQS",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # The package with its tests (users run them against their install); benchmarks and examples stay out
    packages=find_packages(include=["microcosm_pubsub", "microcosm_pubsub.*"]),
    # The interoperability tests' old-style service is a script beside them, not a module
    package_data={"microcosm_pubsub": ["py.typed"], "microcosm_pubsub.tests": ["interop/*.py", "data/asyncapi/*"]},
    cmdclass={"build_py": BuildPy},
    zip_safe=False,
    install_requires=[
        "boto3>=1.34",
        "marshmallow>=3.18,<5",
        "microcosm>=4",
    ],
    extras_require={
        # local.py and local_speedups.py use moto's internals: the range tested (local_speedups.TESTED_MOTO)
        "local": ["moto[server]>=5.0,<5.3"],
        # For a service's own tests: microcosm_pubsub.testing's matchers (PyHamcrest) and its
        # IntegrationEnvironment (the local endpoint); pytest or nose2 is the service's choice
        "testing": ["PyHamcrest>=2.1", "moto[server]>=5.0,<5.3"],
        # The observability tests exercise OpenTelemetry spans and the Prometheus endpoint for real
        "test": [
            "moto[server]>=5.0,<5.3", "nose2>=0.14", "PyHamcrest>=2.1",
            "opentelemetry-sdk>=1.20", "prometheus-client>=0.17",
            # Property-based fuzzing of bodies and attributes in the reliability suite
            "hypothesis>=6.0",
            # Validating the AsyncAPI documents and the locked JSON Schemas against their published schemas
            # (4.18 brought the `referencing` registry these tests load AsyncAPI's bundled schemas through)
            "jsonschema>=4.18,<5", "referencing>=0.28",
            # The old package's Sentry reporting is tested with the real SDK, its transport captured
            "sentry-sdk>=2.0",
            # URI handler tests (ours and the old suite's) import requests
            "requests>=2.31",
            # The old package's suite and old services' tests import its decorators (`@logger`); tests only,
            # never a runtime dependency (its logging stack breaks on python-json-logger 3.1+)
            "microcosm-logging>=1.3",
            # Services' own tests are often pytest modules: the examples run under pytest as well as nose2
            "pytest>=8",
            # ...whose `logger` binding builds its logging stack, which breaks on python-json-logger 3.1+
            "python-json-logger<3",
            # Large payloads are interop-tested both ways against AWS's own extended clients (their wire is ours);
            # importing either replaces boto3.Session process-wide, which the interop tests undo at once
            "amazon-sns-extended-client>=1.0.1", "amazon-sqs-extended-client>=1.0.1",
            # The installed-wheel test builds the wheel (build, wheel) and installs it into a fresh
            # environment with uv, which links already-unpacked wheels from its cache (seconds, not a minute)
            "build>=1.2", "wheel>=0.42", "uv>=0.4",
            # The idempotency store and the outbox on SQLite and on a PostgreSQL server the tests start
            "sqlalchemy>=2.0,<2.2", "psycopg[binary]>=3.1,<3.4",
        ],
        # Sentry reporting of failed messages (sentry_logging_pubsub), as the old package offered
        "sentry": ["sentry-sdk>=2.0"],
        # microcosm_pubsub.handlers (URIHandler) fetches resources with requests
        "uri": ["requests>=2.31"],
        "otel": ["opentelemetry-api>=1.20", "opentelemetry-sdk>=1.20"],
        "prometheus": ["prometheus-client>=0.17"],
        # The SQL idempotency store and the transactional outbox (SQLite built in; PostgreSQL through psycopg 3)
        "sql": ["sqlalchemy>=2.0,<2.2", "psycopg[binary]>=3.1,<3.4"],
        # Pinned to the releases the code is clean under: `strict = true` and ruff's rule set change
        # between minor releases; move the pins (and fix what they find) in one change
        "lint": ["mypy~=2.4.1", "ruff~=0.17.6", "boto3-stubs[sns,sqs,dynamodb]~=1.43.126", "types-requests~=2.33.0"],
    },
    entry_points=entry_points(),
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Topic :: System :: Distributed Computing",
    ],
)
