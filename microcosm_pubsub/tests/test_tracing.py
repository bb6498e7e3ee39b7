"""Tracing: W3C trace context through SNS/SQS, with and without OpenTelemetry, on the local endpoint."""
from __future__ import annotations

import importlib.util
import json
import logging
import unittest
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from hamcrest import (
    assert_that,
    contains_exactly,
    equal_to,
    has_entries,
    has_item,
    has_key,
    has_length,
    has_properties,
    is_,
    is_not,
    none,
    not_none,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.middleware import tracing
from microcosm_pubsub.middleware.tracing import TraceContext, carried
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.testing import dispatch
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import Nack


PREFIX = "application/vnd.microcosm.pubsub._.tests.tracing"
HAS_OTEL_SDK = importlib.util.find_spec("opentelemetry.sdk") is not None
TRACED = ("pubsub_tracing",)
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@schema
class OriginSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.origin"

    name = fields.String(required=True)


@schema
class FollowSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.follow"

    name = fields.String(required=True)


class TracingTestCase(unittest.TestCase):
    """A graph with `pubsub_tracing`; the origin handler produces a follow-up message to the same topic."""

    def given(self, opentelemetry: bool = False, raw: bool = False, components: tuple[str, ...] = TRACED) -> Any:
        self.stack = fixtures.endpoint().provision(fixtures.unique_name("tracing"), raw=raw)
        self.graph = fixtures.make_graph(
            self.stack,
            pubsub_middleware={"components": list(components)},
            pubsub_tracing={"opentelemetry": opentelemetry},
        )
        self.addCleanup(fixtures.close_clients, self.graph)
        self.handler_error: BaseException | None = None
        self.graph.sqs_message_handler_registry.register(OriginSchema.MEDIA_TYPE, self.origin_handler)
        self.graph.sqs_message_handler_registry.register(FollowSchema.MEDIA_TYPE, lambda message: True)
        return self.graph

    def origin_handler(self, message: dict[str, Any]) -> bool:
        if self.handler_error is not None:
            raise self.handler_error
        self.graph.sns_producer.produce(FollowSchema.MEDIA_TYPE, name=f"after {message['name']}")
        return True

    def receive(self, count: int = 1) -> list[Any]:
        messages: list[Any] = []
        for _ in range(5):
            messages.extend(self.graph.sqs_consumer.consume(limit=count - len(messages), wait_seconds=1))
            if len(messages) >= count:
                break
        assert_that(messages, has_length(count))
        return messages

    def hop(self) -> tuple[Any, Any]:
        """Produce an origin message, handle it (producing the follow-up), and receive the follow-up."""
        self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="one")
        [origin] = self.receive()
        self.graph.sqs_message_dispatcher.handle_batch([origin])
        [follow] = self.receive()
        return origin, follow


class PropagationTestCase(TracingTestCase):
    def test_message_carries_traceparent_in_attributes_and_opaque_data(self) -> None:
        """A produced message carries the same traceparent in its SNS attributes and its opaque data."""
        self.given()
        self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="one")
        [message] = self.receive()
        notification = json.loads(message.delivery.body)
        attribute = notification["MessageAttributes"]["traceparent"]["Value"]
        assert_that(TraceContext.parse(attribute), is_(not_none()))
        assert_that(message.opaque_data["traceparent"], is_(equal_to(attribute)))

    def test_raw_delivery_carries_traceparent_as_sqs_attribute(self) -> None:
        """With raw delivery, the traceparent arrives as an SQS message attribute."""
        self.given(raw=True)
        self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="one")
        [message] = self.receive()
        attribute = message.delivery.attributes["traceparent"]["StringValue"]
        assert_that(carried(message), has_properties(traceparent=attribute))

    def test_produced_in_handler_continues_the_trace(self) -> None:
        """Without OpenTelemetry, a message produced in a handler has the same trace id and a new span id."""
        self.given()
        origin, follow = self.hop()
        before, after = carried(origin), carried(follow)
        assert before is not None and after is not None
        assert_that(after.trace_id, is_(equal_to(before.trace_id)))
        assert_that(after.span_id, is_not(equal_to(before.span_id)))

    def test_caller_context_is_continued(self) -> None:
        """A traceparent in the caller's opaque context (a web request's) is the parent of the message."""
        self.given()
        with self.graph.opaque.initialize(lambda: {"traceparent": CALLER}):
            self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="one")
        [message] = self.receive()
        caller, sent = TraceContext.parse(CALLER), carried(message)
        assert caller is not None and sent is not None
        assert_that(sent, has_properties(trace_id=caller.trace_id, span_id=is_not(equal_to(caller.span_id))))

    def test_without_tracing_middleware_nothing_is_added(self) -> None:
        """A graph without `pubsub_tracing` sends no trace attribute (the opaque allow-list still relays one)."""
        self.given(components=())
        self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="one")
        [message] = self.receive()
        assert_that(json.loads(message.delivery.body)["MessageAttributes"], is_not(has_entries(traceparent=not_none())))
        assert_that(carried(message), is_(none()))


class TraceContextTestCase(unittest.TestCase):
    def test_parse_round_trips(self) -> None:
        """A valid traceparent parses and formats back to itself."""
        parsed = TraceContext.parse(CALLER, "vendor=value")
        assert_that(parsed, has_properties(traceparent=CALLER, tracestate="vendor=value"))

    def test_malformed_traceparent_is_ignored(self) -> None:
        """Garbage, all-zero ids and version ff are not contexts."""
        for value in ("garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01", CALLER.replace("00-", "ff-", 1), None):
            assert_that(TraceContext.parse(value), is_(none()))

    def test_child_keeps_the_trace(self) -> None:
        """A child span has the trace id and flags of its parent and a span id of its own."""
        parent = TraceContext.root()
        child = parent.child()
        assert_that(child, has_properties(trace_id=parent.trace_id, flags=parent.flags))
        assert_that(child.span_id, is_not(equal_to(parent.span_id)))


@unittest.skipUnless(HAS_OTEL_SDK, "opentelemetry-sdk is not installed (pip install 'microcosm_pubsub[otel]')")
class OpenTelemetryTestCase(TracingTestCase):
    def given(self, opentelemetry: bool = True, raw: bool = False, components: tuple[str, ...] = TRACED) -> Any:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        graph = super().given(opentelemetry, raw, components)
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.addCleanup(provider.shutdown)
        # A provider of the test's own: OpenTelemetry's global one can be set once per process
        graph.pubsub_tracing.tracer_provider = provider
        return graph

    def spans(self, kind_name: str) -> list[Any]:
        from opentelemetry.trace import SpanKind

        return [span for span in self.exporter.get_finished_spans() if span.kind is SpanKind[kind_name]]

    def test_consumer_span_is_child_of_producer_span(self) -> None:
        """Producing then consuming gives a PRODUCER span and a CONSUMER span whose parent it is."""
        self.given()
        self.hop()
        first_producer, _ = self.spans("PRODUCER")
        [consumer] = self.spans("CONSUMER")
        assert_that(consumer.parent.span_id, is_(equal_to(first_producer.context.span_id)))
        assert_that(consumer.context.trace_id, is_(equal_to(first_producer.context.trace_id)))
        assert_that(consumer.attributes, has_entries({"pubsub.media_type": OriginSchema.MEDIA_TYPE}))

    def test_message_produced_in_handler_is_child_of_consumer_span(self) -> None:
        """The follow-up's PRODUCER span is a child of the handler's CONSUMER span; the message names it."""
        self.given()
        _, follow = self.hop()
        _, second_producer = self.spans("PRODUCER")
        [consumer] = self.spans("CONSUMER")
        assert_that(second_producer.parent.span_id, is_(equal_to(consumer.context.span_id)))
        sent = carried(follow)
        assert sent is not None
        assert_that(sent.span_id, is_(equal_to(f"{second_producer.context.span_id:016x}")))

    def test_failed_handler_marks_the_span(self) -> None:
        """An exception from the handler sets the consumer span's status to ERROR."""
        from opentelemetry.trace import StatusCode

        self.given()
        self.handler_error = ValueError("failing on purpose")
        self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="one")
        with self.assertLogs("microcosm_pubsub.dispatcher", logging.WARNING):
            results = self.graph.sqs_message_dispatcher.handle_batch(self.receive())
        assert_that([result.outcome for result in results], contains_exactly(Outcome.FAILED))
        [consumer] = self.spans("CONSUMER")
        assert_that(consumer.status.status_code, is_(StatusCode.ERROR))

    def test_handling_signal_is_not_a_span_error(self) -> None:
        """A Nack is an outcome, not an error: the consumer span keeps an unset status."""
        from opentelemetry.trace import StatusCode

        self.given()
        self.handler_error = Nack(0)
        self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="one")
        self.graph.sqs_message_dispatcher.handle_batch(self.receive())
        [consumer] = self.spans("CONSUMER")
        assert_that(consumer.status.status_code, is_(StatusCode.UNSET))

    def test_api_without_sdk_still_propagates(self) -> None:
        """With OpenTelemetry's API but no SDK (a no-op tracer), the trace id travels with new span ids."""
        from opentelemetry.trace import NoOpTracerProvider

        self.given()
        self.graph.pubsub_tracing.tracer_provider = NoOpTracerProvider()
        origin, follow = self.hop()
        before, after = carried(origin), carried(follow)
        assert before is not None and after is not None
        assert_that(after, has_properties(trace_id=before.trace_id, span_id=is_not(equal_to(before.span_id))))


class FakeTracer:
    """A OneAgent tracer: the tag it hands out and what it was told."""

    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.events = events
        self.outgoing_dynatrace_string_tag = "dt-tag-1"

    def __enter__(self) -> FakeTracer:
        self.events.append(("enter", None))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.events.append(("exit", exc_info[0]))

    def set_vendor_message_id(self, message_id: str) -> None:
        self.events.append(("vendor_message_id", message_id))

    def set_correlation_id(self, correlation_id: str) -> None:
        self.events.append(("correlation_id", correlation_id))


class FakeOneAgent:
    """The parts of the `oneagent` module (and its SDK) the Dynatrace hook uses, recording each call."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def get_sdk(self) -> FakeOneAgent:
        return self

    def create_messaging_system_info(self, vendor: str, destination: str, kind: str, channel: Any) -> tuple[str, str]:
        self.events.append(("info", (vendor, destination, kind)))
        return vendor, destination

    def trace_outgoing_message(self, info: Any) -> FakeTracer:
        self.events.append(("outgoing", info))
        return FakeTracer(self.events)

    def trace_incoming_message_process(self, info: Any, str_tag: str | None = None) -> FakeTracer:
        self.events.append(("incoming", (info, str_tag)))
        return FakeTracer(self.events)


class DynatraceTestCase(unittest.TestCase):
    """The old package's OneAgent spans, on a testing graph with stub clients and a fake `oneagent`."""

    def setUp(self) -> None:
        config = {
            "sns_topic_arns": {"default": "arn:aws:sns:us-east-1:123456789012:orders"},
            "sqs_consumer": {"sqs_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders-queue"},
        }
        self.graph: Any = create_object_graph("dynatrace", testing=True, loader=load_from_dict(config))
        self.agent = FakeOneAgent()
        names = {"ChannelType": SimpleNamespace(TCP_IP="tcp"), "Channel": lambda kind, endpoint: (kind, endpoint),
                 "MessagingDestinationType": SimpleNamespace(TOPIC="topic", QUEUE="queue")}
        for name, value in {"oneagent": self.agent, **names}.items():
            patcher = patch.object(tracing, name, value)
            patcher.start()
            self.addCleanup(patcher.stop)

    def sent_opaque(self) -> dict[str, str]:
        opaque: dict[str, str] = json.loads(self.graph.sns_client.publish.call_args[1]["Message"])["opaqueData"]
        return opaque

    def test_publish_span_tags_the_message(self) -> None:
        """A publish runs in an outgoing span on the topic; its tag travels as x-dynatrace in the opaque data."""
        message_id = self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="a")
        assert_that(self.sent_opaque(), has_entries({"x-dynatrace": "dt-tag-1"}))
        assert_that(self.agent.events, contains_exactly(
            ("info", ("SNS", "orders", "topic")), ("outgoing", ("SNS", "orders")), ("enter", None),
            ("vendor_message_id", message_id), ("exit", None),
        ))

    def test_publish_span_carries_the_request_id(self) -> None:
        """The caller's x-request-id is the span's correlation id."""
        with self.graph.opaque.initialize(lambda: {"X-Request-Id": "req-9"}):
            self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="a")
        assert_that(self.agent.events, has_item(equal_to(("correlation_id", "req-9"))))

    def test_handling_span_continues_the_tag(self) -> None:
        """A handled message runs in an incoming span on the queue, linked by its x-dynatrace tag."""
        self.graph.sqs_message_handler_registry.register(OriginSchema.MEDIA_TYPE, lambda content: True)
        result = dispatch(
            self.graph, OriginSchema.MEDIA_TYPE, {"name": "a"},
            opaque_data={"x-dynatrace": "dt-upstream", "x-request-id": "req-7"},
        )
        assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.agent.events, contains_exactly(
            ("info", ("SQS", "orders-queue", "queue")), ("incoming", (("SQS", "orders-queue"), "dt-upstream")),
            ("enter", None), ("vendor_message_id", result.message.message_id), ("correlation_id", "req-7"),
            ("exit", None),
        ))

    def test_without_oneagent_nothing_is_added(self) -> None:
        """With `oneagent` not importable the hook adds nothing to the message."""
        with patch.object(tracing, "oneagent", None):
            self.graph.sns_producer.produce(OriginSchema.MEDIA_TYPE, name="a")
        assert_that(self.sent_opaque(), is_not(has_key("x-dynatrace")))
        assert_that(self.agent.events, is_(equal_to([])))

    def test_automatic_middleware_can_be_turned_off(self) -> None:
        """pubsub_middleware.automatic = [] leaves the hook out of the chain."""
        graph: Any = create_object_graph(
            "dynatrace", testing=True, loader=load_from_dict({"pubsub_middleware": {"automatic": []}}),
        )
        assert_that(graph.pubsub_middleware.middleware, is_(equal_to([])))
