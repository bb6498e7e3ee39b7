"""Metrics: the in-memory sink, the `pubsub_metrics` middleware on the local endpoint, StatsD and Prometheus."""
from __future__ import annotations

import importlib.util
import logging
import socket
import unittest
import urllib.request
from typing import Any

from botocore.exceptions import ClientError
from hamcrest import (
    assert_that,
    calling,
    contains_string,
    equal_to,
    greater_than_or_equal_to,
    has_item,
    has_items,
    has_length,
    has_properties,
    is_,
    is_not,
    raises,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.metrics import InMemorySink
from microcosm_pubsub.middleware.metrics.middleware import serve_metrics
from microcosm_pubsub.middleware.metrics.statsd import StatsdSink
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema, encode
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.testing import dispatch
from microcosm_pubsub.testing.events import delivered, media_type_attributes
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError, PubSubError


PREFIX = "application/vnd.microcosm.pubsub._.tests.metrics"
HAS_PROMETHEUS = importlib.util.find_spec("prometheus_client") is not None


@schema
class TickSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.tick"

    name = fields.String(required=True)


def tick_handler(message: dict[str, Any]) -> bool:
    if message["name"] == "fail":
        raise ValueError("failing on purpose")
    return True


def close_clients(graph: Any) -> None:
    fixtures.close_clients(graph)
    metrics = graph.get("pubsub_metrics")
    if metrics is not None:
        metrics.close()


class MetricsGraphTestCase(unittest.TestCase):
    def given(self, metrics: dict[str, Any] | None = None, dead_letter_queue: bool = False) -> Any:
        self.stack = fixtures.new_stack("metrics")
        dispatcher = {"dead_letter_queue_url": self.stack.dead_letter_queue_url} if dead_letter_queue else {}
        self.graph = fixtures.make_graph(
            self.stack,
            pubsub_middleware={"components": ["pubsub_metrics"]},
            pubsub_metrics=metrics or {},
            sqs_message_dispatcher=dispatcher,
        )
        self.addCleanup(close_clients, self.graph)
        self.graph.sqs_message_handler_registry.register(TickSchema.MEDIA_TYPE, tick_handler)
        return self.graph


class MiddlewareTestCase(MetricsGraphTestCase):
    def test_consumed_message_increments_the_metrics(self) -> None:
        """One produced-then-consumed message: received, handled, latencies and batch size recorded."""
        graph = self.given()
        graph.sns_producer.produce(TickSchema.MEDIA_TYPE, name="one")
        graph.sqs_message_dispatcher.handle_batch(fixtures.receive(graph))
        sink = graph.pubsub_metrics.sink
        media_type = TickSchema.MEDIA_TYPE
        assert_that(sink.count("messages_received", media_type=media_type), is_(equal_to(1)))
        assert_that(sink.count("messages_handled", media_type=media_type, outcome="succeeded"), is_(equal_to(1)))
        assert_that(sink.summary("handler_seconds", media_type=media_type), has_properties(count=1))
        assert_that(sink.summary("end_to_end_seconds", media_type=media_type), has_properties(
            count=1, minimum=greater_than_or_equal_to(0),
        ))
        assert_that(sink.summary("receive_batch_size"), has_properties(maximum=1))
        assert_that(sink.gauge_value("messages_in_flight"), is_(equal_to(0)))

    def test_in_flight_counts_received_until_settled(self) -> None:
        """Received messages are in flight until their outcome is settled."""
        graph = self.given()
        graph.sns_producer.produce(TickSchema.MEDIA_TYPE, name="one")
        messages = fixtures.receive(graph)
        assert_that(graph.pubsub_metrics.sink.gauge_value("messages_in_flight"), is_(equal_to(1)))
        graph.sqs_message_dispatcher.handle_batch(messages)
        assert_that(graph.pubsub_metrics.sink.gauge_value("messages_in_flight"), is_(equal_to(0)))

    def test_failure_is_counted(self) -> None:
        """A handler that raises counts as handled/failed and as failed."""
        graph = self.given()
        graph.sns_producer.produce(TickSchema.MEDIA_TYPE, name="fail")
        # Captured so the expected traceback stays out of the test output
        with self.assertLogs("microcosm_pubsub.dispatcher", logging.WARNING):
            graph.sqs_message_dispatcher.handle_batch(fixtures.receive(graph))
        sink = graph.pubsub_metrics.sink
        assert_that(sink.count("messages_handled", outcome="failed"), is_(equal_to(1)))
        assert_that(sink.count("messages_failed", media_type=TickSchema.MEDIA_TYPE), is_(equal_to(1)))

    def test_dead_letter_is_counted(self) -> None:
        """An INVALID message sent to the dead-letter queue counts as dead-lettered."""
        graph = self.given(dead_letter_queue=True)
        graph.sqs_client.send_message(QueueUrl=self.stack.queue_url, MessageBody="not json")
        with self.assertLogs("microcosm_pubsub.dispatcher", logging.WARNING):
            graph.sqs_message_dispatcher.handle_batch(fixtures.receive(graph))
        sink = graph.pubsub_metrics.sink
        assert_that(sink.count("messages_dead_lettered", outcome="invalid", media_type="unknown"), is_(equal_to(1)))

    def test_receive_failure_is_counted(self) -> None:
        """A failed receive, reported through the middleware chain, counts."""
        graph = self.given()
        graph.pubsub_middleware.receive_failed(ConfigurationError("unreachable"))
        assert_that(graph.pubsub_metrics.sink.count("receive_failures"), is_(equal_to(1)))

    def test_unknown_sink_is_a_configuration_error(self) -> None:
        """A sink name that is not memory, statsd or prometheus stops the graph."""
        graph = fixtures.make_graph(pubsub_metrics={"sinks": "memory,carrier-pigeon"})
        assert_that(calling(getattr).with_args(graph, "pubsub_metrics"), raises(ConfigurationError))


class InMemorySinkTestCase(unittest.TestCase):
    def test_count_adds_series_whose_tags_include_the_given_ones(self) -> None:
        """Reading with fewer tags adds up every matching series."""
        sink = InMemorySink()
        sink.increment("handled", tags={"media_type": "a", "outcome": "succeeded"})
        sink.increment("handled", tags={"media_type": "a", "outcome": "failed"})
        sink.increment("handled", tags={"media_type": "b", "outcome": "succeeded"})
        assert_that(sink.count("handled", media_type="a"), is_(equal_to(2)))
        assert_that(sink.count("handled", outcome="succeeded"), is_(equal_to(2)))

    def test_summary_keeps_count_total_and_extremes(self) -> None:
        """Distributions keep count, total, minimum and maximum, not every value."""
        sink = InMemorySink()
        for value in (3, 1, 2):
            sink.observe("size", value)
        assert_that(sink.summary("size"), has_properties(count=3, total=6, minimum=1, maximum=3))


class StatsdTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.collector.close)
        self.collector.bind(("127.0.0.1", 0))
        self.collector.settimeout(1.0)
        self.port = self.collector.getsockname()[1]

    def datagrams(self, count: int) -> list[str]:
        return [self.collector.recv(4096).decode() for _ in range(count)]

    def test_counter_line_with_tags(self) -> None:
        """A counter goes as `<prefix>.<name>:<value>|c|#tag:value`."""
        sink = StatsdSink("127.0.0.1", self.port, "svc")
        self.addCleanup(sink.close)
        sink.increment("messages_handled", tags={"outcome": "succeeded", "media_type": "a.b"})
        assert_that(self.datagrams(1), is_(equal_to(["svc.messages_handled:1|c|#media_type:a.b,outcome:succeeded"])))

    def test_seconds_go_as_millisecond_timers(self) -> None:
        """A `*_seconds` distribution goes as a `*_ms` timer in milliseconds."""
        sink = StatsdSink("127.0.0.1", self.port, "svc")
        self.addCleanup(sink.close)
        sink.observe("handler_seconds", 0.25)
        assert_that(self.datagrams(1), is_(equal_to(["svc.handler_ms:250|ms"])))

    def test_consumed_message_reaches_the_collector(self) -> None:
        """With `sinks=statsd`, a consumed message's handled counter arrives over UDP."""
        graph = fixtures.make_graph(
            fixtures.new_stack("metrics-statsd"),
            pubsub_middleware={"components": ["pubsub_metrics"]},
            pubsub_metrics={"sinks": ["statsd"], "statsd_port": self.port},
        )
        self.addCleanup(close_clients, graph)
        graph.sqs_message_handler_registry.register(TickSchema.MEDIA_TYPE, tick_handler)
        graph.sns_producer.produce(TickSchema.MEDIA_TYPE, name="one")
        graph.sqs_message_dispatcher.handle_batch(fixtures.receive(graph))
        # batch size, received, in flight; then handled, handler latency, end-to-end latency, in flight
        lines = self.datagrams(7)
        handled = f"pubsub.messages_handled:1|c|#media_type:{TickSchema.MEDIA_TYPE},outcome:succeeded"
        assert_that(lines, has_item(handled))


@unittest.skipUnless(HAS_PROMETHEUS, "prometheus-client is not installed (pip install 'microcosm_pubsub[prometheus]')")
class PrometheusTestCase(MetricsGraphTestCase):
    def test_text_endpoint_serves_the_counters(self) -> None:
        """With `sinks=prometheus` and a port, the text endpoint shows the handled counter."""
        graph = self.given({"sinks": ["prometheus"], "prometheus_port": 0})
        host, port = serve_metrics(graph) or ("", 0)
        graph.sns_producer.produce(TickSchema.MEDIA_TYPE, name="one")
        graph.sqs_message_dispatcher.handle_batch(fixtures.receive(graph))
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert_that(text, contains_string(
            f'pubsub_messages_handled_total{{media_type="{TickSchema.MEDIA_TYPE}",outcome="succeeded"}} 1.0'
        ))
        assert_that(text, contains_string("pubsub_handler_seconds_bucket"))

    def test_port_without_prometheus_sink_is_a_configuration_error(self) -> None:
        """A Prometheus port with no prometheus sink is refused instead of serving nothing."""
        graph = self.given({"sinks": ["memory"], "prometheus_port": 0})
        assert_that(calling(serve_metrics).with_args(graph), raises(ConfigurationError))


class RecordingStatsd:
    """Stands in for microcosm-metrics' `graph.metrics`: a statsd client's host and `histogram`."""

    def __init__(self, host: str = "statsd") -> None:
        self.host = host
        self.histograms: list[tuple[str, float, list[str]]] = []

    def histogram(self, name: str, value: float, tags: list[str]) -> None:
        self.histograms.append((name, value, tags))

    def named(self, name: str) -> list[tuple[str, float, list[str]]]:
        return [entry for entry in self.histograms if entry[0] == name]


def old_metrics_graph(host: str | None = "statsd", **config: Any) -> tuple[Any, RecordingStatsd]:
    """A testing graph (stub clients) with `graph.metrics` bound to a recording statsd client."""
    loader = load_from_dict({
        "sns_topic_arns": {"default": "arn:aws:sns:us-east-1:123456789012:ticks"},
        "sqs_consumer": {"sqs_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/ticks"},
        **config,
    })
    graph: Any = create_object_graph("oldmetrics", testing=True, loader=loader)
    statsd = RecordingStatsd(host or "")
    if host is not None:
        graph.assign("metrics", statsd)
    return graph, statsd


class OldBindingsTestCase(unittest.TestCase):
    def test_off_without_microcosm_metrics(self) -> None:
        """Without a `metrics` binding the three bindings are off and not in the middleware chain."""
        graph, _ = old_metrics_graph(host=None)
        assert_that(
            [graph.pubsub_send_metrics.enabled, graph.pubsub_send_batch_metrics.enabled,
             graph.pubsub_producer_metrics.enabled],
            is_(equal_to([False, False, False])),
        )
        assert_that(graph.pubsub_middleware.middleware, is_not(has_item(graph.pubsub_send_metrics)))

    def test_off_for_localhost(self) -> None:
        """A statsd client pointed at localhost (microcosm-metrics' unconfigured default) leaves them off."""
        graph, _ = old_metrics_graph(host="localhost")
        assert_that(graph.pubsub_send_metrics.enabled, is_(False))

    def test_on_with_a_configured_host(self) -> None:
        """With a statsd host configured they are on and in the middleware chain."""
        graph, _ = old_metrics_graph()
        assert_that(graph.pubsub_send_metrics.enabled, is_(True))
        assert_that(graph.pubsub_middleware.middleware, has_item(graph.pubsub_send_batch_metrics))

    def test_each_binding_reads_its_own_flag(self) -> None:
        """Turning off pubsub_send_metrics leaves the batch and producer bindings on, and the reverse."""
        graph, _ = old_metrics_graph(pubsub_send_metrics={"enabled": False})
        assert_that(graph.pubsub_send_metrics.enabled, is_(False))
        assert_that(graph.pubsub_send_batch_metrics.enabled, is_(True))
        assert_that(graph.pubsub_producer_metrics.enabled, is_(True))
        other, _ = old_metrics_graph(pubsub_send_batch_metrics={"enabled": False})
        assert_that(other.pubsub_send_metrics.enabled, is_(True))
        assert_that(other.pubsub_send_batch_metrics.enabled, is_(False))

    def test_handled_message_histograms(self) -> None:
        """A handled message sends `message` (ms) and `message_handle_start`, tagged with result and media type."""
        graph, statsd = old_metrics_graph()
        graph.sqs_message_handler_registry.register(TickSchema.MEDIA_TYPE, tick_handler)
        result = dispatch(graph, TickSchema.MEDIA_TYPE, {"name": "one"})
        graph.sqs_message_dispatcher.settle([result])
        [(_, _, tags)] = statsd.named("message")
        assert_that(tags, has_items(
            "source:microcosm-pubsub", "result:SUCCEEDED", f"media-type:{TickSchema.MEDIA_TYPE}",
        ))
        assert_that(statsd.named("message_handle_start"), has_length(1))

    def test_ignored_message_sends_nothing(self) -> None:
        """A message with no handler here (IGNORED) is not this service's work: no `message` histogram."""
        graph, statsd = old_metrics_graph()
        result = dispatch(graph, TickSchema.MEDIA_TYPE, {"name": "unhandled"})
        graph.sqs_message_dispatcher.settle([result])
        assert_that(statsd.named("message"), is_(equal_to([])))

    def test_batch_histograms(self) -> None:
        """A received batch sends its size, then `message_batch` once its last message is settled."""
        graph, statsd = old_metrics_graph()
        graph.sqs_message_handler_registry.register(TickSchema.MEDIA_TYPE, tick_handler)
        messages = [graph.sqs_consumer.wrap(recorded) for recorded in batch_of(graph, 2)]
        graph.pubsub_middleware.received(messages)
        results = [graph.sqs_message_dispatcher.handle_message(message) for message in messages]
        graph.sqs_message_dispatcher.settle(results[:1])
        assert_that(statsd.named("message_batch"), has_length(0))
        graph.sqs_message_dispatcher.settle(results[1:])
        assert_that([value for _, value, _ in statsd.named("message_batch_size")], is_(equal_to([2])))
        assert_that(statsd.named("message_batch"), has_length(1))

    def test_producer_histogram(self) -> None:
        """Each publish sends `sns_producer` (ms), tagged SUCCESS and with its media type."""
        graph, statsd = old_metrics_graph()
        graph.sns_producer.produce(TickSchema.MEDIA_TYPE, name="one")
        [(_, _, tags)] = statsd.named("sns_producer")
        assert_that(tags, has_items("publish-result:SUCCESS", f"media-type:{TickSchema.MEDIA_TYPE}"))

    def test_failed_publish_is_tagged_failure(self) -> None:
        """A publish SNS refuses is counted with publish-result:FAILURE."""
        graph, statsd = old_metrics_graph()
        graph.sns_client.publish.side_effect = ClientError({"Error": {"Code": "Throttling"}}, "Publish")
        produce = calling(graph.sns_producer.produce).with_args(TickSchema.MEDIA_TYPE, name="one")
        assert_that(produce, raises(PubSubError))
        [(_, _, tags)] = statsd.named("sns_producer")
        assert_that(tags, has_item("publish-result:FAILURE"))


def batch_of(graph: Any, count: int) -> list[dict[str, Any]]:
    """`count` tick messages as SQS would deliver them."""
    schema = graph.pubsub_message_schema_registry.find(TickSchema.MEDIA_TYPE).schema
    return [
        delivered(encode(schema, TickSchema.MEDIA_TYPE, {"name": f"n{index}"}, {}),
                  media_type_attributes(TickSchema.MEDIA_TYPE))
        for index in range(count)
    ]
