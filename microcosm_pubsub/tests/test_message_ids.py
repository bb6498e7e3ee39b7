"""Message ids: every produced message carries `pubsub_message_id`, the same on every copy of one logical message."""
from __future__ import annotations

import json
import re
import unittest
import uuid
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.httpsession import URLLib3Session
from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    equal_to,
    has_length,
    is_,
    is_not,
    matches_regexp,
    none,
    raises,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.aws.memory import MemoryAWS
from microcosm_pubsub.aws.provisioning import provision
from microcosm_pubsub.effects.current import handling_message, writing_to
from microcosm_pubsub.produce.batch import BATCH_MEDIA_TYPE, PublishBatchMessage
from microcosm_pubsub.produce.deferred import DeferredBatchProducer
from microcosm_pubsub.produce.message_ids import FOLLOW_UP_NAMESPACE, MAX_MESSAGE_ID_LENGTH, message_id_of
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ProduceArgumentError
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE, OutgoingMessage


@schema
class IdentifiedSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.message-ids.identified"

    name = fields.String(required=True)


MEDIA_TYPE = IdentifiedSchema.MEDIA_TYPE
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class MemoryTestCase(unittest.TestCase):
    """A graph on the in-memory SNS/SQS double, with one topic fanning out to one queue; ids on every message."""

    message_ids = True

    def setUp(self) -> None:
        self.world = MemoryAWS()
        self.stack = provision(self.world.sns, self.world.sqs, fixtures.unique_name("ids"), dead_letter=False)
        self.graph: Any = create_object_graph("test", testing=True, loader=load_from_dict({
            # The old batch message goes through the same topic here
            "sns_topic_arns": {"default": self.stack.topic_arn, "mappings": {BATCH_MEDIA_TYPE: self.stack.topic_arn}},
            "sqs_consumer": {"sqs_queue_url": self.stack.queue_url, "region_name": "us-east-1"},
            "sns_producer": {"message_ids": self.message_ids},
        }))
        self.graph.assign("sns_client", self.world.sns)
        self.graph.assign("sqs_client", self.world.sqs)
        self.producer: Any = self.graph.sns_producer

    def delivered(self) -> list[tuple[str, dict[str, Any]]]:
        """(pubsub_message_id, content) of every message on the queue, in order; deletes nothing."""
        found = []
        while batch := self.world.sqs.receive_message(
            QueueUrl=self.stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60,
        ).get("Messages", []):
            for raw in batch:
                envelope = json.loads(raw["Body"])
                attribute = envelope["MessageAttributes"].get(MESSAGE_ID_ATTRIBUTE, {})
                found.append((attribute.get("Value", ""), json.loads(envelope["Message"])))
        return found


class PrepareTests(MemoryTestCase):
    def test_every_message_carries_a_new_id(self) -> None:
        """Outside a handler each message gets a uuid4 of its own, as 32 hex digits."""
        first = self.producer.prepare(MEDIA_TYPE, name="a")
        second = self.producer.prepare(MEDIA_TYPE, name="a")
        assert_that(message_id_of(first), matches_regexp(HEX_ID))
        assert_that(message_id_of(first), is_not(equal_to(message_id_of(second))))

    def test_idempotency_key_is_the_id(self) -> None:
        """`idempotency_key` is the message's id, so a caller retrying its own produce sends the same id."""
        self.producer.produce(MEDIA_TYPE, name="a", idempotency_key="order-42-confirmation")
        self.producer.produce(MEDIA_TYPE, name="a", idempotency_key="order-42-confirmation")
        assert_that([message_id for message_id, _ in self.delivered()],
                    is_(equal_to(["order-42-confirmation", "order-42-confirmation"])))

    def test_bad_idempotency_keys_are_refused(self) -> None:
        """An empty, overlong or non-string key raises ProduceArgumentError saying what a key is; nothing is sent."""
        for key in ("", "k" * (MAX_MESSAGE_ID_LENGTH + 1), 42):
            assert_that(
                calling(self.producer.produce).with_args(MEDIA_TYPE, name="a", idempotency_key=key),
                raises(ProduceArgumentError, "non-empty string of at most 128 characters"),
            )
        assert_that(self.delivered(), is_(equal_to([])))

    def test_ids_reach_the_consumer(self) -> None:
        """The consumer reads the id among the message's attributes."""
        self.producer.produce(MEDIA_TYPE, name="a", idempotency_key="k1")
        message = self.graph.sqs_consumer.consume(wait_seconds=0)[0]
        assert_that(message.opened.attributes[MESSAGE_ID_ATTRIBUTE], is_(equal_to("k1")))


class OldWireTests(MemoryTestCase):
    """By default a message carries an id only where something needs one: the old wire stays as it was."""

    message_ids = False

    def test_a_plain_produce_carries_only_its_media_type(self) -> None:
        """Outside a handler, without a key, the attributes are the old package's: the media type alone."""
        message = self.producer.prepare(MEDIA_TYPE, name="a")
        assert_that(message.attributes, is_(equal_to(
            {"media_type": {"DataType": "String", "StringValue": MEDIA_TYPE}},
        )))

    def test_a_key_still_gives_the_id(self) -> None:
        """`idempotency_key` is the id whatever the setting."""
        message = self.producer.prepare(MEDIA_TYPE, name="a", idempotency_key="order-7")
        assert_that(message_id_of(message), is_(equal_to("order-7")))

    def test_only_an_idempotent_handlings_follow_ups_carry_ids(self) -> None:
        """An idempotent handler's follow-ups carry derived ids (its re-run repeats them); another handler's none."""
        with handling_message("m-1", "orders.notify"):
            plain = self.producer.prepare(MEDIA_TYPE, name="a")
        ids = []
        for _ in range(2):
            with handling_message("m-1", "orders.apply", idempotent=True):
                ids.append(message_id_of(self.producer.prepare(MEDIA_TYPE, name="a")))
        assert_that(message_id_of(plain), is_(none()))
        assert_that(ids[0], matches_regexp(HEX_ID))
        assert_that(ids[1], is_(equal_to(ids[0])))

    def test_the_outbox_gives_rows_ids(self) -> None:
        """A message without an id gets one on its way into an outbox: the relay republishes it under that id."""
        rows: list[OutgoingMessage] = []

        class Rows:
            def add(self, messages: list[OutgoingMessage]) -> None:
                rows.extend(messages)

        with writing_to(Rows()):
            (returned,) = self.producer.publish_batch([self.producer.prepare(MEDIA_TYPE, name="a")])
        assert_that(returned, matches_regexp(HEX_ID))
        assert_that([message_id_of(row) for row in rows], is_(equal_to([returned])))


class FollowUpTests(MemoryTestCase):
    def produce_as(self, handled: str, handler: str, count: int) -> list[str]:
        with handling_message(handled, handler):
            return [str(message_id_of(self.producer.prepare(MEDIA_TYPE, name=str(n)))) for n in range(count)]

    def test_a_handler_run_again_derives_the_same_ids(self) -> None:
        """In a handler the n-th follow-up's id comes from the handled message and handler: a re-run repeats them."""
        first = self.produce_as("m-1", "orders.apply", 3)
        again = self.produce_as("m-1", "orders.apply", 3)
        assert_that(again, is_(equal_to(first)))
        assert_that(set(first), has_length(3))
        assert_that(first[0], matches_regexp(HEX_ID))

    def test_derived_ids_are_uuid5s(self) -> None:
        """A follow-up's id is the uuid5 of the handled message's id, the handler's name and the rank, as documented."""
        expected = [uuid.uuid5(FOLLOW_UP_NAMESPACE, f"m-1\norders.apply\n{rank}").hex for rank in range(2)]
        assert_that(self.produce_as("m-1", "orders.apply", 2), is_(equal_to(expected)))
        assert_that(uuid.UUID(message_id_of(self.producer.prepare(MEDIA_TYPE, name="a")) or "").version, is_(4))

    def test_other_handlers_and_messages_derive_other_ids(self) -> None:
        """Two handlers of one message, or one handler of two messages, never share an id."""
        ids = self.produce_as("m-1", "orders.apply", 2) + self.produce_as("m-1", "orders.audit", 2)
        ids += self.produce_as("m-2", "orders.apply", 2)
        assert_that(set(ids), has_length(6))

    def test_a_key_given_inside_a_handler_wins(self) -> None:
        """`idempotency_key` inside a handler is the id, and the derived ids around it keep their ranks."""
        with handling_message("m-1", "orders.apply"):
            derived = message_id_of(self.producer.prepare(MEDIA_TYPE, name="a"))
            keyed = message_id_of(self.producer.prepare(MEDIA_TYPE, name="b", idempotency_key="mine"))
        assert_that(keyed, is_(equal_to("mine")))
        assert_that(derived, is_(equal_to(self.produce_as("m-1", "orders.apply", 1)[0])))


class DeferredTests(MemoryTestCase):
    def test_a_deferred_block_publishes_the_ids_it_prepared(self) -> None:
        """Each message keeps the id it got when produced inside the block; the flush's PublishBatch carries them."""
        with self.producer.deferred() as block:
            for name in ("a", "b", "c"):
                self.producer.produce(MEDIA_TYPE, name=name)
            held = [message_id_of(message) for message in block.pending]
        delivered = [(message_id, content["name"]) for message_id, content in self.delivered()]
        assert_that(delivered, contains_exactly(*zip(held, ("a", "b", "c"), strict=True)))
        assert_that(set(held), has_length(3))

    def test_old_batch_messages_keep_each_inner_id(self) -> None:
        """Through the old batch message and the handler re-publishing it, each inner message keeps its id."""
        with DeferredBatchProducer(self.producer) as block:
            for name in ("a", "b"):
                block.produce(MEDIA_TYPE, name=name)
            held = [message_id_of(message) for message in block.pending]
        (_, batch), = self.delivered()
        PublishBatchMessage(self.graph)(batch)
        assert_that([message_id for message_id, _ in self.delivered()], is_(equal_to(held)))


class RetryTests(unittest.TestCase):
    """botocore's own retry, against the local endpoint: the first Publish reaches SNS but its answer is lost."""

    def test_a_retried_publish_carries_the_same_id(self) -> None:
        """Both copies SNS delivers, the lost answer's and the retry's, carry one id."""
        stack = fixtures.new_stack("ids-retry", dead_letter=False)
        graph = fixtures.make_graph(stack, sns_producer={"message_ids": True})
        self.addCleanup(fixtures.close_clients, graph)
        sent: list[int] = []

        def lose_first_answer(request: Any, **_: Any) -> AWSResponse | None:
            if sent:
                return None
            # The request reaches SNS; the answer is replaced by a 500 botocore retries
            sent.append(URLLib3Session().send(request).status_code)
            return AWSResponse(request.url, 500, HTTPHeaders(), _Raw(
                b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
                b"<Message>lost</Message></Error></ErrorResponse>"
            ))

        graph.sns_producer.client.meta.events.register_first("before-send.sns.Publish", lose_first_answer)
        graph.sns_producer.produce(MEDIA_TYPE, name="a")
        messages = fixtures.receive(graph, 2)
        assert_that(sent, is_(equal_to([200])))
        ids = {message.opened.attributes[MESSAGE_ID_ATTRIBUTE] for message in messages}
        assert_that(ids, has_length(1))


class _Raw:
    """The raw body botocore reads an HTTP answer from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body
