"""Building the daemon's object graph: configuration layers, the components handlers share, testing graphs."""
from __future__ import annotations

import logging
import os
from argparse import Namespace
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from microcosm.api import create_object_graph, load_each, load_from_dict, load_from_environ
from microcosm.caching import Cache
from microcosm.errors import NotBoundError

from microcosm_pubsub.aws.clients import ENDPOINT_VARIABLES
from microcosm_pubsub.graph.config import closest, factories, key_list
from microcosm_pubsub.runtime.daemon_args import HEALTH, health_config, logger
from microcosm_pubsub.wire.errors import ConfigurationError, PubSubError


# Built before the graph is locked: the handlers' threads and the producer reach them lazily
SUPPORT_COMPONENTS = ("opaque", "pubsub_middleware", "sqs_message_context", "sqs_envelope",
                      "pubsub_message_schema_registry", "sns_topic_arns", "sns_producer")
# Old services' handlers read `graph.logger` from microcosm-logging; built when that package binds it
OPTIONAL_SUPPORT_COMPONENTS = ("logger",)
# Below a `create_for_testing()` test's own loader: a queue URL the stub client answers for (old tests assert it)
TESTING_DEFAULTS: dict[str, Any] = {"sqs_consumer": {"sqs_queue_url": "queue"}}
# Any testing graph: a broken receive path fails a test within a second, not a 20 s long poll
TESTING_GRAPH_DEFAULTS: dict[str, Any] = {"sqs_consumer": {"wait_seconds": 1}}


class UnboundComponentError(ConfigurationError, NotBoundError):
    """A name in the daemon's components that nothing binds; still a microcosm `NotBoundError` for old callers."""


class Unavailable:
    """Stands in a locked graph for a component that could not be built: using it raises why."""

    def __init__(self, name: str, error: Exception) -> None:
        self._name, self._error = name, error

    def __getattr__(self, attribute: str) -> Any:
        self.raise_error()

    def raise_error(self) -> NoReturn:
        raise self._error

    def __repr__(self) -> str:
        return f"<{self._name} unavailable: {self._error}>"


def build_graph(
    name: str, args: Namespace, components: list[str], defaults: dict[str, Any], command_line: dict[str, Any],
    cache: Cache | None = None, loader: Any = None, import_name: str | None = None, root_path: str | None = None,
) -> Any:
    """The daemon's graph, locked: `defaults`, the loader (else the environment), then `command_line`, each winning.

    Every component the daemon and its handlers need is built before the lock, so none races between threads.
    """
    testing = bool(getattr(args, "testing", False))
    graph = create_object_graph(
        name=name, debug=bool(getattr(args, "debug", False)), testing=testing, import_name=import_name,
        root_path=root_path, loader=load_each(
            load_from_dict(defaults), load_from_dict(TESTING_GRAPH_DEFAULTS if testing else {}),
            loader or load_from_environ, load_from_dict(command_line),
        ),
        cache=cache,  # type: ignore[arg-type]  # microcosm accepts a cache instance as well as its class
    )
    if health_config(args) and HEALTH not in key_list(graph.config.pubsub_middleware.components):
        # The old flags need no configuration: the health monitor is fed by the middleware chain
        graph.config.pubsub_middleware.components = [*key_list(graph.config.pubsub_middleware.components), HEALTH]
    for component in components:
        try:
            graph.use(component)
        except NotBoundError as error:
            missing = str(error.args[0]) if error.args else component
            close = closest(missing, factories(graph))
            needed = f"the component {component!r}" if component != missing else "the daemon's components"
            raise UnboundComponentError(
                f"no binding named {missing!r} (needed by {needed})"
                + (f"; did you mean {close!r}?" if close else "")
                + "; usual causes: the module declaring it was not imported before the graph was built, "
                f"or the handler has no @binding({missing!r})"
            ) from error
    use_support_components(graph)
    graph.lock()
    return graph


def build_shared_components(graph: Any) -> None:
    """Build now what handler threads share: microcosm's graph is not safe to build from two threads at once."""
    if not getattr(graph, "_locked", False):
        # A subclass's own `create_object_graph` may have left its graph unlocked, without them
        use_support_components(graph)
    client = graph.sqs_consumer.client
    if isinstance(client, Unavailable):
        # Consuming needs the client the publishing side may do without: fail at start
        client.raise_error()


def testing_loader(loader: Any) -> Callable[[Any], Any]:
    """`TESTING_DEFAULTS` below `loader` (else the environment), and the recording producer unless it names an endpoint.

    The old `create_for_testing()` always mocked the producer; a test pointing it at an endpoint means to publish.
    """
    layered = load_each(load_from_dict(TESTING_DEFAULTS), loader or load_from_environ)

    def load(metadata: Any) -> Any:
        config = layered(metadata)
        producer = config.get("sns_producer") or {}
        endpoint = producer.get("endpoint_url") or any(os.environ.get(name) for name in ENDPOINT_VARIABLES["sns"])
        if "mock_sns" not in producer and not endpoint:
            config.setdefault("sns_producer", {})["mock_sns"] = False
        return config

    return load


def use_support_components(graph: Any) -> None:
    """Build what the consumer, the dispatcher and the producer reach lazily, so a locked graph has them."""
    for name in ("sqs_client", "sns_client"):
        try:
            graph.use(name)
        except PubSubError as error:
            # A daemon that never publishes needs no SNS client, one reading a file no SQS client: error on use
            logger.debug("no %s: %s", name, error)
            graph.assign(name, Unavailable(name, error))
    graph.use(*SUPPORT_COMPONENTS)
    for name in OPTIONAL_SUPPORT_COMPONENTS:
        try:
            graph.factory_for(name)
        except NotBoundError:
            continue
        try:
            # microcosm-logging configures the root logger as it builds; the daemon's logging stays its own
            with root_logging_kept():
                graph.use(name)
        except Exception as error:
            # microcosm-logging's logging stack breaks with python-json-logger 3.1 and later
            logger.warning("%s is bound but cannot be built (%s: %s); handlers reading graph.%s will fail",
                           name, type(error).__name__, error, name)


@contextmanager
def root_logging_kept() -> Iterator[None]:
    """Restore the root logger's handlers and level after the block, whatever it configured."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
