"""Signing with tracing over the local endpoint: in either listed order, SNS-wrapped or raw, every message is valid."""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import all_of, assert_that, contains_exactly, equal_to, has_key, has_length, is_, only_contains
from marshmallow import fields

from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.middleware.signing import KEY_ID_ATTRIBUTE, SIGNATURE_ATTRIBUTE
from microcosm_pubsub.middleware.tracing import TRACEPARENT
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures


@schema
class SignedTracedSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.signing-with-tracing"

    name = fields.String(required=True)


SIGNING = {"keys": {"current": "signing-with-tracing-secret-0123"}, "signing_key_id": "current"}
MESSAGES = 3


class SigningWithTracingTestCase(unittest.TestCase):
    """Produce through a graph with both middleware, receive and handle on the same graph."""

    def handled(self, components: list[str], raw: bool) -> list[Any]:
        """The results of handling MESSAGES messages produced and received with `components`."""
        stack = fixtures.new_stack("signtrace", raw=raw)
        graph = fixtures.make_graph(
            stack,
            pubsub_middleware={"components": components},
            pubsub_signing=SIGNING,
            pubsub_tracing={"opentelemetry": False},
        )
        self.addCleanup(fixtures.close_clients, graph)
        self.handled_names: list[str] = []
        graph.sqs_message_handler_registry.register(SignedTracedSchema.MEDIA_TYPE, self.handler)
        for index in range(MESSAGES):
            graph.sns_producer.produce(SignedTracedSchema.MEDIA_TYPE, name=f"message {index}")
        self.received = fixtures.receive(graph, MESSAGES)
        results: list[Any] = graph.sqs_message_dispatcher.handle_batch(self.received)
        return results

    def handler(self, message: dict[str, Any]) -> bool:
        self.handled_names.append(message["name"])
        return True

    def check_all_succeeded(self, components: list[str], raw: bool) -> None:
        results = self.handled(components, raw)
        assert_that([result.outcome for result in results], is_(equal_to([Outcome.SUCCEEDED] * MESSAGES)))
        assert_that(self.handled_names, has_length(MESSAGES))
        # Both middleware did their part: each message is signed and carries a trace context
        assert_that(
            [message.opened.attributes for message in self.received],
            only_contains(all_of(has_key(SIGNATURE_ATTRIBUTE), has_key(KEY_ID_ATTRIBUTE), has_key(TRACEPARENT))),
        )
        assert_that([message.opened.sns_wrapped for message in self.received], only_contains(is_(not raw)))

    def test_signing_listed_first_sns_wrapped(self) -> None:
        """Signing listed before tracing: every SNS-wrapped message verifies and is handled."""
        self.check_all_succeeded(["pubsub_signing", "pubsub_tracing"], raw=False)

    def test_signing_listed_first_raw_delivery(self) -> None:
        """Signing listed before tracing: every raw-delivered message verifies and is handled."""
        self.check_all_succeeded(["pubsub_signing", "pubsub_tracing"], raw=True)

    def test_tracing_listed_first_sns_wrapped(self) -> None:
        """Tracing listed before signing: every SNS-wrapped message verifies and is handled."""
        self.check_all_succeeded(["pubsub_tracing", "pubsub_signing"], raw=False)

    def test_tracing_listed_first_raw_delivery(self) -> None:
        """Tracing listed before signing: every raw-delivered message verifies and is handled."""
        self.check_all_succeeded(["pubsub_tracing", "pubsub_signing"], raw=True)

    def test_trace_context_reaches_the_handler_side(self) -> None:
        """The traceparent in the signed body's opaque data is the one in the message attributes."""
        self.handled(["pubsub_signing", "pubsub_tracing"], raw=False)
        assert_that(
            [message.opaque_data[TRACEPARENT] for message in self.received],
            contains_exactly(*[message.opened.attributes[TRACEPARENT] for message in self.received]),
        )
