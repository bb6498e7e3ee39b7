"""Test doubles by name: the testing toolkit registers them, the core builds one without importing the toolkit.

The toolkit declares its doubles as entry points of the `microcosm_pubsub.doubles` group (see
entrypoints.cfg), each a factory taking the graph, as microcosm's own bindings are. The core decides
*when* a double stands in (a testing graph with no endpoint, `sns_producer.record`), from
configuration alone, so a production graph never loads the toolkit; the toolkit decides *what* it is.
A test that wants its own double assigns it: `graph.assign("sns_producer", double)`.
"""
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
    """The factory registered as `name` (looked up once per process).

    :raises ConfigurationError: when none is registered: the package's entry points are not installed
    """
    for entry_point in entry_points(group=GROUP, name=name):
        factory: Callable[[Any], Any] = entry_point.load()
        return factory
    raise ConfigurationError(
        f"no test double {name!r} is registered (entry point group {GROUP}): reinstall microcosm_pubsub "
        "(`pip install -e .` in a checkout) so that its entry points are installed"
    )


def build_double(name: str, graph: Any) -> Any:
    """The double registered as `name`, built for `graph`."""
    return double_factory(name)(graph)
