"""pytest fixtures for services' tests; enable with `pytest_plugins = ["microcosm_pubsub.testing.pytest_plugin"]`.

- `pubsub_environment`: a started `IntegrationEnvironment` for the test, stopped after it.
- `pubsub_environment_options`: the keyword arguments it is built with; `{}` unless a
  conftest.py overrides this fixture (for example `{"media_types": [...]}`).
- `pubsub_published`: a `PublishCapture` open for the test: nothing reaches SNS, every
  `produce()` in the process is recorded, and `pubsub_published.assert_published(...)` checks it.

pytest is not a dependency of this package: it is imported only when pytest loads this module.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from microcosm_pubsub.testing.capture import PublishCapture
from microcosm_pubsub.testing.environment import IntegrationEnvironment


def environment_fixture(options: Mapping[str, Any]) -> Iterator[IntegrationEnvironment]:
    """The body of the `pubsub_environment` fixture, usable without pytest."""
    with IntegrationEnvironment(**options) as environment:
        yield environment


def published_fixture() -> Iterator[PublishCapture]:
    """The body of the `pubsub_published` fixture, usable without pytest."""
    with PublishCapture() as capture:
        yield capture


def _options() -> dict[str, Any]:
    return {}


def _environment(pubsub_environment_options: Mapping[str, Any]) -> Iterator[IntegrationEnvironment]:
    yield from environment_fixture(pubsub_environment_options)


def _install(pytest: Any) -> None:
    # pytest collects fixtures from the plugin module's namespace
    globals().update(
        pubsub_environment_options=pytest.fixture(name="pubsub_environment_options")(_options),
        pubsub_environment=pytest.fixture(name="pubsub_environment")(_environment),
        pubsub_published=pytest.fixture(name="pubsub_published")(published_fixture),
    )


try:
    # By name, so that neither the package nor its type checking needs pytest
    _install(importlib.import_module("pytest"))
except ImportError:
    pass
