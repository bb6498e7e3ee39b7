"""Reading a versioned message once, with its own major's schema, before middleware judges it.

The envelope reads a message above major 1 with that major's schema; a service's envelope with its own `load`
gets its versioned messages read again with their major's schema; either way a middleware's refusal stays.
"""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import assert_that, contains_exactly, contains_string, equal_to, has_entries, is_, none
from marshmallow import ValidationError, fields
from microcosm.api import binding

from microcosm_pubsub.api import PubSubMessageSchema, schema
from microcosm_pubsub.consume.envelope import SQSEnvelope
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.middleware.chain import Middleware
from microcosm_pubsub.testing import testing_graph
from microcosm_pubsub.testing.dispatch import dispatch_sqs_message
from microcosm_pubsub.testing.events import delivered
from microcosm_pubsub.wire.received import Opened, Unwrapped


NOTE = "application/vnd.microcosm.pubsub._.tests.versioned_envelope.note"
REFUSED = "refused: the text says no"


@schema
class NoteV1(PubSubMessageSchema):
    MEDIA_TYPE = NOTE

    words = fields.Integer(required=True)


@schema
class NoteV2(PubSubMessageSchema):
    MEDIA_TYPE = NOTE
    VERSION = "2.0"

    text = fields.String(required=True)
    language = fields.String(required=True)


class ServiceEnvelope(SQSEnvelope):
    """A service's envelope of the old package's kind: every message read with its media type's version-1 schema."""

    def load(self, wire: Unwrapped) -> Opened:
        media_type = wire.document["mediaType"]
        try:
            content = self.schemas.find(media_type).decode(wire.document)
        except ValidationError as error:
            return wire.opened(media_type, problem=f"service envelope: {error.messages}")
        return wire.opened(media_type, {**content, "read_by": "service"})


class RefuseNo(Middleware):
    """Refuses a message whose text is "no", as a policy middleware might."""

    def incoming(self, message: SQSMessage) -> str | None:
        content = message.content
        return REFUSED if isinstance(content, dict) and content.get("text") == "no" else None


binding("versioning_envelope_refuse_no")(lambda graph: RefuseNo())


class TestVersionedEnvelope(unittest.TestCase):
    def graph(self, **config: Any) -> Any:
        graph = testing_graph(pubsub_middleware={"components": ["versioning_envelope_refuse_no"]}, **config)
        self.calls: list[dict[str, Any]] = []

        def handler(content: dict[str, Any]) -> bool:
            self.calls.append(content)
            return True

        graph.sqs_message_handler_registry.register(NOTE, handler, version=2)
        return graph

    def handle(self, graph: Any, text: str) -> MessageHandlingResult:
        outgoing = graph.sns_producer.prepare(NOTE, {"text": text, "language": "en"}, media_type_version=2)
        return dispatch_sqs_message(graph, delivered(outgoing.body, outgoing.attributes))

    def test_the_envelope_reads_a_major_with_its_schema(self) -> None:
        """A major-2 body (which major 1 would refuse) is read with NoteV2 as it is received."""
        graph = self.graph()
        outgoing = graph.sns_producer.prepare(NOTE, {"text": "hi", "language": "en"}, media_type_version=2)
        message = graph.sqs_consumer.wrap(delivered(outgoing.body, outgoing.attributes))
        assert_that(message.problem, is_(none()))
        assert_that(message.content, has_entries(text="hi", language="en"))

    def test_a_refused_versioned_message_stays_refused(self) -> None:
        """A middleware's refusal of a major-2 message is its outcome: INVALID with the reason, no handler call."""
        for config in ({}, {"sqs_envelope": {"strategy_name": "ServiceEnvelope"}}):
            graph = self.graph(**config)
            result = self.handle(graph, "no")
            assert_that(result.outcome, is_(Outcome.INVALID))
            assert_that(result.reason, is_(equal_to(REFUSED)))
            assert_that(self.calls, is_(equal_to([])))
            assert_that(self.handle(graph, "yes").outcome, is_(Outcome.SUCCEEDED))

    def test_a_service_envelope_gets_versioned_messages_read_with_their_major(self) -> None:
        """A service's own `load` reads major 1; its major-2 messages are read again with NoteV2."""
        graph = self.graph(sqs_envelope={"strategy_name": "ServiceEnvelope"})
        assert_that(self.handle(graph, "hi").outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.calls, contains_exactly(has_entries(text="hi", language="en")))
        # Its version-1 messages are its own load's
        graph.sqs_message_handler_registry.register(NOTE, graph.sqs_message_handler_registry.find_version(NOTE, 2))
        outgoing = graph.sns_producer.prepare(NOTE, {"words": 3})
        result = dispatch_sqs_message(graph, delivered(outgoing.body, outgoing.attributes))
        assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.calls[1], has_entries(words=3, read_by="service"))

    def test_a_service_envelope_reports_content_not_fitting_its_major(self) -> None:
        """Read again with NoteV2, a major-2 message without `language` is INVALID, the reason naming NoteV2."""
        graph = self.graph(sqs_envelope={"strategy_name": "ServiceEnvelope"})
        body = '{"mediaType": "' + NOTE + '", "text": "hi"}'
        attributes = {"media_type": {"DataType": "String", "StringValue": NOTE},
                      "media_type_version": {"DataType": "String", "StringValue": "2.0"}}
        result = dispatch_sqs_message(graph, delivered(body, attributes))
        assert_that(result.outcome, is_(Outcome.INVALID))
        assert_that(result.reason, contains_string("content does not fit NoteV2"))
        assert_that(self.calls, is_(equal_to([])))
