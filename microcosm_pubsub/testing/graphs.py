"""Testing graphs and daemons: configured to record what they produce, with no network at all."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.testing.events import TESTING_TOPIC_ARN
from microcosm_pubsub.testing.recording import RecordingProducer
from microcosm_pubsub.wire.errors import ConfigurationError


if TYPE_CHECKING:
    from microcosm_pubsub.runtime.daemon import ConsumerDaemon

D = TypeVar("D", bound="ConsumerDaemon")
F = TypeVar("F", bound=Callable[..., Any])


def not_a_test(function: F) -> F:
    """Keep pytest from collecting a `test*`-named helper a test module imports (nose2 reads `__name__`: `make_*`)."""
    setattr(function, "__test__", False)  # noqa: B010 (functions declare no such attribute to mypy)
    return function


def merge_config(*configs: Mapping[str, Any]) -> dict[str, Any]:
    """Configuration dicts merged left to right, nested sections key by key."""
    merged: dict[str, Any] = {}
    for config in configs:
        for key, value in config.items():
            if isinstance(value, Mapping):
                value = merge_config(merged[key] if isinstance(merged.get(key), Mapping) else {}, value)
            merged[key] = value
    return merged


def make_testing_config(**overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Configuration of a recording graph, with `overrides` (binding sections) merged over it."""
    # Produce resolves a topic as in production; tests of mappings override this default
    return merge_config({"sns_producer": {"record": True}, "sns_topic_arns": {"default": TESTING_TOPIC_ARN}}, overrides)


def make_testing_graph(
    name: str = "testing", *, components: Sequence[str] = (), eager: bool = False, **config: Mapping[str, Any],
) -> Any:
    """A testing graph whose `sns_producer` records (with `eager`, also dispatches to its handlers at once)."""
    graph = create_object_graph(name, testing=True, loader=load_from_dict(make_testing_config(**config)))
    graph.use(*components)
    recording_producer(graph).eager = eager
    return graph


def make_testing_daemon(daemon_class: type[D], *, eager: bool = False, **config: Mapping[str, Any]) -> D:
    """`daemon_class.create_for_testing()` with a recording producer; its graph is `daemon.graph`."""
    daemon = cast(D, daemon_class.create_for_testing(loader=load_from_dict(make_testing_config(**config))))
    recording_producer(daemon.graph).eager = eager
    return daemon


# The documented names (see not_a_test)
testing_config = not_a_test(make_testing_config)
testing_graph = not_a_test(make_testing_graph)
testing_daemon = not_a_test(make_testing_daemon)


def recording_producer(graph: Any) -> RecordingProducer:
    """The graph's recording producer; a `ConfigurationError` when the graph publishes for real."""
    producer = graph.sns_producer
    if not isinstance(producer, RecordingProducer):
        raise ConfigurationError(
            f"the graph's sns_producer is a {type(producer).__name__}, not a RecordingProducer: "
            "build the graph with testing_graph()/testing_daemon(), or set sns_producer.record"
        )
    return producer
