"""`pubsub_metrics`: counts and latencies of every receive and outcome, sent to the configured sinks."""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.consume.logs import seconds_since_published
from microcosm_pubsub.consume.result import Action, Outcome
from microcosm_pubsub.graph.config import defaults, key_list, typed
from microcosm_pubsub.middleware.chain import Middleware
from microcosm_pubsub.middleware.metrics.prometheus import PrometheusSink
from microcosm_pubsub.middleware.metrics.sink import FanoutSink, InMemorySink, MetricsSink
from microcosm_pubsub.middleware.metrics.statsd import DEFAULT_PORT, StatsdSink
from microcosm_pubsub.wire.errors import ConfigurationError


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage
    from microcosm_pubsub.consume.result import MessageHandlingResult


RECEIVED = "messages_received"
HANDLED = "messages_handled"
FAILED = "messages_failed"
DEAD_LETTERED = "messages_dead_lettered"
# Deliveries an idempotent handler's store answered without a call (the same message again)
DUPLICATES = "messages_duplicate"
RECEIVE_FAILED = "receive_failures"
HANDLER_LATENCY = "handler_seconds"
END_TO_END_LATENCY = "end_to_end_seconds"
BATCH_SIZE = "receive_batch_size"
IN_FLIGHT = "messages_in_flight"
# Messages without a readable media type are still counted
UNKNOWN = "unknown"
SINKS = ("memory", "statsd", "prometheus")


class PubSubMetrics(Middleware):
    """Records receives and outcomes; `sink` is what they go to."""

    def __init__(self, sink: MetricsSink, prometheus: PrometheusSink | None = None) -> None:
        self.sink = sink
        self.prometheus = prometheus
        self.in_flight = 0
        self._lock = threading.Lock()

    def received(self, messages: Sequence[SQSMessage]) -> None:
        self.sink.observe(BATCH_SIZE, len(messages))
        for message in messages:
            self.sink.increment(RECEIVED, tags={"media_type": message.media_type or UNKNOWN})
        self.track(len(messages))

    def receive_failed(self, error: Exception) -> None:
        self.sink.increment(RECEIVE_FAILED)

    def settled(self, result: MessageHandlingResult, action: Action) -> None:
        message = result.message
        tags = {"media_type": message.media_type or UNKNOWN, "outcome": result.outcome.value}
        self.sink.increment(HANDLED, tags=tags)
        if result.outcome is Outcome.FAILED:
            self.sink.increment(FAILED, tags={"media_type": tags["media_type"]})
        if action is Action.DEAD_LETTER:
            self.sink.increment(DEAD_LETTERED, tags=tags)
        if result.extra.get("duplicate"):
            self.sink.increment(DUPLICATES, tags={"media_type": tags["media_type"]})
        if result.handler is not None:
            self.sink.observe(HANDLER_LATENCY, result.elapsed_seconds, tags=tags)
        since_published = seconds_since_published(message.opaque_data)
        if since_published is not None:
            self.sink.observe(END_TO_END_LATENCY, since_published, tags=tags)
        self.track(-1)

    def track(self, change: int) -> None:
        """Received and not yet settled; never below zero (a settle without its receive, after a restart)."""
        with self._lock:
            self.in_flight = max(self.in_flight + change, 0)
            level = self.in_flight
        self.sink.gauge(IN_FLIGHT, level)

    def close(self) -> None:
        self.sink.close()


@defaults(
    # Where metrics go: any of memory, statsd, prometheus; a comma-separated string from the environment
    sinks=typed(key_list, default_value=["memory"]),
    # Metric names start with this (pubsub.messages_handled in StatsD, pubsub_messages_handled_total in Prometheus)
    prefix=typed(str, default_value="pubsub"),
    statsd_host=typed(str, default_value="127.0.0.1"),
    statsd_port=typed(int, default_value=DEFAULT_PORT),
    # The Prometheus text endpoint stays off unless a port is set (0 picks a free one)
    prometheus_port=typed(int, default_value=None),
    # Loopback by default: exposing metrics beyond the host must be asked for
    prometheus_host=typed(str, default_value="127.0.0.1"),
)
def configure_pubsub_metrics(graph: Any) -> PubSubMetrics:
    """`pubsub_metrics`: list it in `pubsub_middleware.components` to record."""
    config = graph.config.pubsub_metrics
    names = key_list(config.sinks)
    unknown = sorted(set(names) - set(SINKS))
    if unknown or not names:
        raise ConfigurationError(f"pubsub_metrics.sinks is {names}; choose from {', '.join(SINKS)}")
    make: dict[str, Callable[[], MetricsSink]] = {
        "memory": InMemorySink,
        "statsd": lambda: StatsdSink(config.statsd_host, int(config.statsd_port), config.prefix),
        "prometheus": lambda: PrometheusSink(config.prefix),
    }
    sinks = [make[name]() for name in dict.fromkeys(names)]
    prometheus = next((sink for sink in sinks if isinstance(sink, PrometheusSink)), None)
    return PubSubMetrics(sinks[0] if len(sinks) == 1 else FanoutSink(sinks), prometheus)


def serve_metrics(graph: Any) -> tuple[str, int] | None:
    """Serve the Prometheus text endpoint when `pubsub_metrics.prometheus_port` is set; returns its address.

    :raises ConfigurationError: when a port is set but `pubsub_metrics` is not among the middleware
    """
    config = graph.config.get("pubsub_metrics") or {}
    if config.get("prometheus_port") is None:
        return None
    if "pubsub_metrics" not in key_list(graph.config.pubsub_middleware.components):
        raise ConfigurationError(
            "pubsub_metrics.prometheus_port is set but pubsub_metrics is not in pubsub_middleware.components"
        )
    metrics: PubSubMetrics = graph.pubsub_metrics
    if metrics.prometheus is None:
        raise ConfigurationError("pubsub_metrics.prometheus_port is set but pubsub_metrics.sinks has no prometheus")
    return metrics.prometheus.serve(str(config["prometheus_host"]), int(config["prometheus_port"]))
