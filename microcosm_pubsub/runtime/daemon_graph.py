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
from microcosm_pubsub.runtime.daemon_args import HEALTH, health_requested
from microcosm_pubsub.wire.errors import ConfigurationError, PubSubError


# The daemon's lines keep one logger name, whichever of its modules writes them
logger = logging.getLogger("microcosm_pubsub.daemon")

# Built before the graph is locked: the handlers' threads and the producer reach them lazily
SUPPORT_COMPONENTS = (
    "opaque", "pubsub_middleware", "sqs_message_context", "sqs_envelope",
    "pubsub_message_schema_registry", "sns_topic_arns", "sns_producer",
)
# Old services' handlers read `graph.logger` from microcosm-logging; built when that package binds it
OPTIONAL_SUPPORT_COMPONENTS = ("logger",)
# Configuration of `create_for_testing()` daemons, below the test's own loader
TESTING_DEFAULTS: dict[str, Any] = {
    # A queue URL the stub client answers for; old tests assert this exact value
    "sqs_consumer": {"sqs_queue_url": "queue"},
}
# Any testing graph: a broken receive path fails a test within a second, not a 20 s long poll
TESTING_GRAPH_DEFAULTS: dict[str, Any] = {"sqs_consumer": {"wait_seconds": 1}}


class UnboundComponentError(ConfigurationError, NotBoundError):
    """A name in the daemon's components that nothing binds; still a microcosm `NotBoundError` for old callers."""


class Unavailable:
    """Stands in a locked graph for a component that could not be built: using it raises why."""

    def __init__(self, name: str, error: Exception) -> None:
        self._name = name
        self._error = error

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
    """The daemon's graph, locked: `defaults`, the loader (else the environment), then `command_line`.

    Each layer wins over the one before. Every component the daemon and its handlers need is
    built before the lock, so a lazily built one cannot race between handler threads.
    """
    testing = bool(getattr(args, "testing", False))
    graph = create_object_graph(
        name=name,
        debug=bool(getattr(args, "debug", False)),
        testing=testing,
        import_name=import_name,
        root_path=root_path,
        loader=load_each(
            load_from_dict(defaults),
            load_from_dict(TESTING_GRAPH_DEFAULTS if testing else {}),
            loader or load_from_environ,
            load_from_dict(command_line),
        ),
        cache=cache,  # type: ignore[arg-type]  # microcosm accepts a cache instance as well as its class
    )
    if health_requested(args):
        # The old flags need no configuration: the health monitor is fed by the middleware chain
        add_middleware(graph, HEALTH)
    use_components(graph, components)
    use_support_components(graph)
    graph.lock()
    return graph


def build_shared_components(graph: Any) -> None:
    """Build now what handler threads share: microcosm's graph is not safe to build from two threads at once.

    A subclass's own `create_object_graph` may have left its graph unlocked, without them.
    """
    if not getattr(graph, "_locked", False):
        use_support_components(graph)
    client = graph.sqs_consumer.client
    if isinstance(client, Unavailable):
        # Consuming needs the client the publishing side may do without: fail at start
        client.raise_error()


def use_components(graph: Any, components: list[str]) -> None:
    """Build the daemon's components.

    :raises UnboundComponentError: naming the binding nothing registers, a close binding and the usual causes
    """
    for name in components:
        try:
            graph.use(name)
        except NotBoundError as error:
            missing = str(error.args[0]) if error.args else name
            raise UnboundComponentError(unbound_hint(graph, name, missing)) from error


def unbound_hint(graph: Any, component: str, missing: str) -> str:
    """One line on a binding nothing registers: which, needed by what, the closest bound name, the usual causes."""
    close = closest(missing, factories(graph))
    needed = f"the component {component!r}" if component != missing else "the daemon's components"
    return (
        f"no binding named {missing!r} (needed by {needed})"
        + (f"; did you mean {close!r}?" if close else "")
        + "; usual causes: the module declaring it was not imported before the graph was built, "
        f"or the handler has no @binding({missing!r})"
    )


def recording_unless_endpoint(loader: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`loader`, plus `sns_producer.mock_sns` false (the recording producer) unless it configures an SNS endpoint.

    The old `create_for_testing()` always mocked the producer; a test that points the producer at
    an endpoint (the local one) means to publish there.
    """
    def load(metadata: Any) -> Any:
        config = loader(metadata)
        producer = config.get("sns_producer") or {}
        endpoint = producer.get("endpoint_url") or any(os.environ.get(name) for name in ENDPOINT_VARIABLES["sns"])
        if "mock_sns" not in producer and not endpoint:
            config.setdefault("sns_producer", {})["mock_sns"] = False
        return config

    return load


def metrics_port(graph: Any) -> Any:
    section = graph.config.get("pubsub_metrics") or {}
    return section.get("prometheus_port")


def add_middleware(graph: Any, name: str) -> None:
    """Append `name` to `pubsub_middleware.components` unless it is there already."""
    section = graph.config.pubsub_middleware
    names = key_list(section.components)
    if name not in names:
        section.components = [*names, name]


def use_support_components(graph: Any) -> None:
    """Build what the consumer, the dispatcher and the producer reach lazily, so a locked graph has them."""
    for name in ("sqs_client", "sns_client"):
        try:
            graph.use(name)
        except PubSubError as error:
            # A daemon that never publishes needs no SNS client, one reading a file no SQS client;
            # whichever is needed raises this error on first use (the SQS one at start)
            logger.debug("no %s: %s", name, error)
            graph.assign(name, Unavailable(name, error))
    graph.use(*SUPPORT_COMPONENTS)
    for name in OPTIONAL_SUPPORT_COMPONENTS:
        if not is_bound(graph, name):
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
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)


def is_bound(graph: Any, name: str) -> bool:
    """Whether some installed package (or the application) binds `name`."""
    try:
        graph.factory_for(name)
    except NotBoundError:
        return False
    return True
