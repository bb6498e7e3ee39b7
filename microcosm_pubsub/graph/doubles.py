"""Test doubles by name: the testing toolkit registers them, the core builds one without importing the toolkit."""
# The core decides from configuration *when* a double stands in, so a production graph never loads the toolkit
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from microcosm_pubsub.wire.errors import ConfigurationError


GROUP = "microcosm_pubsub.doubles"
# The names the core asks for
RECORDING_PRODUCER = "recording_producer"
INSPECTABLE_PRODUCER = "inspectable_producer"
SNS_CLIENT = "sns_client"
SQS_CLIENT = "sqs_client"


@cache
def double_factory(name: str) -> Callable[[Any], Any]:
    """The factory registered as `name` in the `microcosm_pubsub.doubles` entry point group (looked up once)."""
    for entry_point in entry_points(group=GROUP, name=name):
        factory: Callable[[Any], Any] = entry_point.load()
        return factory
    raise ConfigurationError(f"no test double {name!r} is registered (entry point group {GROUP}): reinstall "
                             "microcosm_pubsub (`pip install -e .` in a checkout) so that its entry points are "
                             "installed")


def build_double(name: str, graph: Any) -> Any:
    """The double registered as `name`, built for `graph`."""
    return double_factory(name)(graph)
