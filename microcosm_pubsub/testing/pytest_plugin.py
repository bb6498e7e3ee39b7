"""pytest fixtures `pubsub_environment`, `pubsub_environment_options` and `pubsub_published` (docs/testing.md)."""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from microcosm_pubsub.testing.capture import PublishCapture
from microcosm_pubsub.testing.environment import IntegrationEnvironment


def environment_fixture(pubsub_environment_options: Mapping[str, Any]) -> Iterator[IntegrationEnvironment]:
    """The `pubsub_environment` fixture, usable without pytest."""
    with IntegrationEnvironment(**pubsub_environment_options) as environment:
        yield environment


def published_fixture() -> Iterator[PublishCapture]:
    """The `pubsub_published` fixture, usable without pytest."""
    with PublishCapture() as capture:
        yield capture


def _options() -> dict[str, Any]:
    return {}


try:
    # By name, so that neither the package nor its type checking needs pytest
    pytest: Any = importlib.import_module("pytest")
except ImportError:
    pass
else:
    pubsub_environment_options = pytest.fixture(name="pubsub_environment_options")(_options)
    pubsub_environment = pytest.fixture(name="pubsub_environment")(environment_fixture)
    pubsub_published = pytest.fixture(name="pubsub_published")(published_fixture)
