"""`SQSConsumer.wrap` on odd deliveries: it never raises, whatever SQS or a middleware hands it."""
from __future__ import annotations

import json
import unittest
from typing import Any

from hamcrest import assert_that, contains_string, equal_to, is_, none
from marshmallow import fields
from microcosm.api import binding, create_object_graph, load_from_dict

from microcosm_pubsub.middleware.chain import Middleware
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema


@schema
class WrapTestSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-consumer-wrap"

    name = fields.String(required=True)


class ExplodingMiddleware(Middleware):
    def incoming(self, message: Any) -> str | None:
        raise RuntimeError("boom")


@binding("test_exploding_middleware")
def configure_exploding_middleware(graph: Any) -> ExplodingMiddleware:
    return ExplodingMiddleware()


def raw_message(**attributes: str) -> dict[str, Any]:
    body = {"mediaType": WrapTestSchema.MEDIA_TYPE, "name": "widget"}
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": json.dumps(body),
        "Attributes": attributes,
    }


def graph(**config: Any) -> Any:
    # No network: wrap only decodes; the queue URL is never called
    return create_object_graph("test", testing=True, loader=load_from_dict(
        sqs_consumer={"sqs_queue_url": "http://127.0.0.1:9/unused", "region_name": "us-east-1"}, **config,
    ))


class WrapTests(unittest.TestCase):
    def test_receive_count_in_non_ascii_digits_counts_as_first(self) -> None:
        """A receive count SQS would never send ('²') reads as 1 instead of raising."""
        message = graph().sqs_consumer.wrap(raw_message(ApproximateReceiveCount="²", SentTimestamp="¹²"))
        assert_that(message.approximate_receive_count, is_(equal_to(1)))
        assert_that(message.age_seconds, is_(none()))

    def test_sent_timestamp_gives_the_age(self) -> None:
        """SentTimestamp in milliseconds becomes the message's age."""
        message = graph().sqs_consumer.wrap(raw_message(ApproximateReceiveCount="3", SentTimestamp="1000"))
        assert_that(message.approximate_receive_count, is_(equal_to(3)))
        assert_that(message.age_seconds is not None and message.age_seconds > 1_000_000, is_(True))

    def test_raising_middleware_makes_the_message_invalid(self) -> None:
        """A middleware that raises in `incoming` marks the message invalid with the error, not the loop."""
        consumer = graph(pubsub_middleware={"components": ["test_exploding_middleware"]}).sqs_consumer
        message = consumer.wrap(raw_message())
        assert_that(message.is_valid, is_(False))
        assert_that(message.problem, contains_string("middleware failed: RuntimeError: boom"))
