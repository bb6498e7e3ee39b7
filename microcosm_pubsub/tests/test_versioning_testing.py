"""The testing toolkit with versioned media types: recording and eager graphs, and `dispatch(media_type_version=)`."""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import assert_that, calling, contains_exactly, equal_to, has_entries, has_key, is_, is_not, raises
from marshmallow import fields

from microcosm_pubsub.api import PubSubMessageSchema, schema, upcaster
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.testing import dispatch, testing_graph
from microcosm_pubsub.wire.errors import ProduceArgumentError, SchemaNotFoundError, SchemaValidationError
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE


PREFIX = "application/vnd.microcosm.pubsub._.tests.versioned_testing"
ORDER = f"{PREFIX}.order"
# Declared in majors 2 and 3 only
LATE = f"{PREFIX}.late"


@schema
class OrderV1(PubSubMessageSchema):
    MEDIA_TYPE = ORDER

    quantity = fields.Integer(required=True)


@schema
class OrderV2(PubSubMessageSchema):
    MEDIA_TYPE = ORDER
    VERSION = "2.1"

    amount = fields.Integer(required=True)
    unit = fields.String(required=True)


@upcaster(ORDER, from_major=1)
def order_1_to_2(content: dict[str, Any]) -> dict[str, Any]:
    return {**content, "amount": content["quantity"], "unit": "piece"}


@schema
class LateV2(PubSubMessageSchema):
    MEDIA_TYPE = LATE
    VERSION = "2.0"

    text = fields.String(required=True)


@schema
class LateV3(PubSubMessageSchema):
    MEDIA_TYPE = LATE
    VERSION = "3.0"

    text = fields.String(required=True)
    language = fields.String(required=True)


def call(major: int, content: Any) -> Any:
    """Matches one handler call: the major of the handler, and a matcher of the content."""
    return contains_exactly(major, content)


class Handled:
    """Handlers of each major writing down what they were called with."""

    def __init__(self, graph: Any, media_type: str, *majors: int) -> None:
        self.calls: list[tuple[int, dict[str, Any]]] = []
        for major in majors:
            graph.sqs_message_handler_registry.register(media_type, self.handler(major), version=major)

    def handler(self, major: int) -> Any:
        def handle(content: dict[str, Any]) -> bool:
            self.calls.append((major, content))
            return True
        return handle


class TestRecordingGraphs(unittest.TestCase):
    def test_eager_mode_handles_a_version_2_message(self) -> None:
        """A major-2 message is recorded as read with its own schema, then handled by the major-2 handler."""
        graph = testing_graph(eager=True)
        handled = Handled(graph, ORDER, 2)
        graph.sns_producer.produce(ORDER, {"amount": 250, "unit": "g"}, media_type_version=2)
        recorded = graph.sns_producer.messages[0]
        assert_that(recorded.content, has_entries(amount=250, unit="g"))
        assert_that(recorded.attributes[VERSION_ATTRIBUTE], has_entries(StringValue="2.1"))
        assert_that([result.outcome for result in graph.sns_producer.results], is_(equal_to([Outcome.SUCCEEDED])))
        assert_that(handled.calls, contains_exactly(call(2, has_entries(amount=250, unit="g"))))

    def test_eager_mode_upcasts_a_version_1_message(self) -> None:
        """A major-1 message, with only a major-2 handler, reaches it through the upcaster."""
        graph = testing_graph(eager=True)
        handled = Handled(graph, ORDER, 2)
        graph.sns_producer.produce(ORDER, {"quantity": 3})
        assert_that(graph.sns_producer.messages[0].content, has_entries(quantity=3))
        assert_that(graph.sns_producer.messages[0].attributes, is_not(has_key(VERSION_ATTRIBUTE)))
        assert_that(handled.calls, contains_exactly(call(2, has_entries(quantity=3, amount=3, unit="piece"))))

    def test_recording_still_validates_against_the_major_published(self) -> None:
        """The recording producer refuses content that does not fit the major asked for, as `produce` does."""
        graph = testing_graph()
        assert_that(calling(graph.sns_producer.produce).with_args(ORDER, {"quantity": 3}, media_type_version=2),
                    raises(SchemaValidationError, "OrderV2"))
        assert_that(graph.sns_producer.messages, is_(equal_to([])))


class TestDispatchVersions(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = testing_graph()

    def test_dispatch_a_named_major(self) -> None:
        """`media_type_version=2` (or "2.1") encodes with major 2's schema and reaches the major-2 handler."""
        handled = Handled(self.graph, ORDER, 1, 2)
        for version in (2, "2.1"):
            result = dispatch(self.graph, ORDER, {"amount": 5, "unit": "kg"}, media_type_version=version)
            assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        result = dispatch(self.graph, ORDER, {"quantity": 1})
        assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        assert_that(handled.calls, contains_exactly(
            call(2, has_entries(amount=5, unit="kg")), call(2, has_entries(amount=5, unit="kg")),
            call(1, has_entries(quantity=1)),
        ))
        assert_that(handled.calls[2][1], is_not(has_key("amount")))

    def test_dispatch_a_version_1_message_to_an_upcasting_handler(self) -> None:
        """Without a version, a major-1 message; with only a major-2 handler it is upcast."""
        handled = Handled(self.graph, ORDER, 2)
        assert_that(dispatch(self.graph, ORDER, {"quantity": 4}).outcome, is_(Outcome.SUCCEEDED))
        assert_that(handled.calls, contains_exactly(call(2, has_entries(amount=4, unit="piece"))))

    def test_dispatch_defaults_as_produce_does(self) -> None:
        """A media type declared only in majors 2 and 3 is dispatched at 3 when no version is named."""
        handled = Handled(self.graph, LATE, 2, 3)
        dispatch(self.graph, LATE, {"text": "hi", "language": "en"})
        dispatch(self.graph, LATE, {"text": "hi"}, media_type_version=2)
        assert_that([major for major, _ in handled.calls], is_(equal_to([3, 2])))

    def test_dispatch_refuses_what_produce_refuses(self) -> None:
        """An unknown major names the registered ones; a malformed version says what is accepted; content must fit."""
        assert_that(calling(dispatch).with_args(self.graph, ORDER, {"amount": 1}, media_type_version=3),
                    raises(SchemaNotFoundError, r"no schema of major version 3 .* \(registered majors: 1, 2\)"))
        for version in ("two", 0):
            assert_that(calling(dispatch).with_args(self.graph, ORDER, {"quantity": 1}, media_type_version=version),
                        raises(ProduceArgumentError, "media_type_version for"))
        assert_that(calling(dispatch).with_args(self.graph, ORDER, {"quantity": 1}, media_type_version=2),
                    raises(SchemaValidationError, "OrderV2"))

    def test_dispatch_signs_the_version(self) -> None:
        """With signing on, a dispatched major-2 message carries its version under the signature, and verifies."""
        graph = testing_graph(
            pubsub_middleware={"components": ["pubsub_signing"]},
            pubsub_signing={"keys": {"k1": "a-testing-secret-0123456789"}, "signing_key_id": "k1"},
        )
        handled = Handled(graph, ORDER, 2)
        result = dispatch(graph, ORDER, {"amount": 5, "unit": "kg"}, media_type_version=2)
        assert_that(result.outcome, is_(Outcome.SUCCEEDED))
        assert_that(handled.calls, contains_exactly(call(2, has_entries(amount=5))))
