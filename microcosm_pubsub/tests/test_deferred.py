"""Deferred production against the local endpoint: all or nothing, batched per topic."""
from __future__ import annotations

import json
import unittest
import uuid
from typing import Any, ClassVar

from hamcrest import (
    assert_that,
    calling,
    contains_inanyorder,
    empty,
    equal_to,
    has_entries,
    has_length,
    instance_of,
    is_,
    none,
    raises,
)
from marshmallow import ValidationError, fields

from microcosm_pubsub.aws.provisioning import Stack
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import BatchPublishError, PublishError


@schema
class DeferredTestSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-deferred-widget"

    name = fields.String(required=True)


@schema
class OtherDeferredTestSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-deferred-gadget"

    name = fields.String(required=True)


@schema
class LostDeferredTestSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-deferred-lost"

    name = fields.String(required=True)


MEDIA_TYPE = DeferredTestSchema.MEDIA_TYPE
OTHER_MEDIA_TYPE = OtherDeferredTestSchema.MEDIA_TYPE
LOST_MEDIA_TYPE = LostDeferredTestSchema.MEDIA_TYPE


class Boom(Exception):
    """Raised by a test block on purpose."""


class DeferredTestCase(unittest.TestCase):
    sqs: ClassVar[Any]

    @classmethod
    def setUpClass(cls) -> None:
        cls.sqs = fixtures.endpoint().client("sqs")
        cls.addClassCleanup(cls.sqs.close)

    def setUp(self) -> None:
        self.stack = fixtures.new_stack("deferred", dead_letter=False)
        self.graph = self.make_graph(self.stack)
        self.producer = self.graph.sns_producer

    def make_graph(self, stack: Stack, **overrides: Any) -> Any:
        graph = fixtures.make_graph(stack, **overrides)
        self.addCleanup(fixtures.close_clients, graph)
        return graph

    def delivered(self, stack: Stack | None = None, expected: int = 0) -> list[dict[str, Any]]:
        """The message JSON delivered to a stack's queue, receiving until `expected` arrive (bounded)."""
        queue_url = (stack or self.stack).queue_url
        messages: list[dict[str, Any]] = []
        # SNS delivers within the publish call, so a few quick receives find everything there is
        for _ in range(expected // 10 + 3):
            response = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            batch = response.get("Messages", [])
            if not batch and len(messages) >= expected:
                break
            messages.extend(json.loads(raw["Body"]) for raw in batch)
        return messages


class AllOrNothingTests(DeferredTestCase):
    def test_publishes_on_clean_exit(self) -> None:
        """Messages produced in a deferred block are all published when it exits cleanly."""
        with self.producer.deferred():
            for index in range(3):
                self.producer.produce(MEDIA_TYPE, name=f"n{index}")
        names = [json.loads(envelope["Message"])["name"] for envelope in self.delivered(expected=3)]
        assert_that(names, contains_inanyorder("n0", "n1", "n2"))

    def test_held_until_exit(self) -> None:
        """Inside the block nothing is published yet and produce returns None."""
        with self.producer.deferred():
            message_id = self.producer.produce(MEDIA_TYPE, name="a")
            inside = self.delivered()
        assert_that(message_id, is_(none()))
        assert_that(inside, is_(empty()))

    def test_nothing_when_block_raises(self) -> None:
        """When the block raises, nothing it produced is published and the exception propagates."""

        def block() -> None:
            with self.producer.deferred():
                self.producer.produce(MEDIA_TYPE, name="a")
                self.producer.produce(MEDIA_TYPE, name="b")
                raise Boom()

        assert_that(calling(block), raises(Boom))
        assert_that(self.delivered(), is_(empty()))

    def test_validation_at_produce_time(self) -> None:
        """Invalid content raises at the produce call inside the block, not at exit."""
        with self.producer.deferred():
            assert_that(calling(self.producer.produce).with_args(MEDIA_TYPE), raises(ValidationError))
            self.producer.produce(MEDIA_TYPE, name="valid")
        names = [json.loads(envelope["Message"])["name"] for envelope in self.delivered(expected=1)]
        assert_that(names, is_(equal_to(["valid"])))

    def test_message_ids_kept(self) -> None:
        """The block keeps the SNS MessageIds of what it published."""
        with self.producer.deferred() as deferred:
            self.producer.produce(MEDIA_TYPE, name="a")
            self.producer.produce(MEDIA_TYPE, name="b")
        envelope_ids = [envelope["MessageId"] for envelope in self.delivered(expected=2)]
        assert_that(deferred.message_ids, contains_inanyorder(*envelope_ids))

    def test_nested_blocks_join_outermost(self) -> None:
        """An inner block's messages wait for the outermost block."""
        with self.producer.deferred():
            with self.producer.deferred():
                self.producer.produce(MEDIA_TYPE, name="inner")
            after_inner = self.delivered()
        assert_that(after_inner, is_(empty()))
        assert_that(self.delivered(expected=1), has_length(1))

    def test_start_deferring_joins_an_open_block(self) -> None:
        """A block started while another holds the produces gets no token: it joins the open one."""
        outer, inner = self.producer.deferred(), self.producer.deferred()
        token = self.producer.start_deferring(outer)
        joined = self.producer.start_deferring(inner)
        self.producer.produce(MEDIA_TYPE, name="held")
        self.producer.stop_deferring(token)
        assert_that((joined, len(outer.pending), len(inner.pending)), is_(equal_to((None, 1, 0))))

    def test_skip(self) -> None:
        """With sns_producer.skip a deferred block publishes nothing."""
        producer = self.make_graph(self.stack, sns_producer={"skip": True}).sns_producer
        with producer.deferred():
            producer.produce(MEDIA_TYPE, name="a")
        assert_that(self.delivered(), is_(empty()))


class DecoratorTests(DeferredTestCase):
    def test_decorator_publishes(self) -> None:
        """A function decorated with deferred() publishes its messages when it returns."""

        @self.producer.deferred()
        def work(name: str) -> None:
            self.producer.produce(MEDIA_TYPE, name=name)
            self.producer.produce(MEDIA_TYPE, name=f"{name}-again")

        work("first")
        work("second")
        names = [json.loads(envelope["Message"])["name"] for envelope in self.delivered(expected=4)]
        assert_that(names, contains_inanyorder("first", "first-again", "second", "second-again"))

    def test_decorator_raises(self) -> None:
        """A decorated function that raises publishes nothing."""

        @self.producer.deferred()
        def work() -> None:
            self.producer.produce(MEDIA_TYPE, name="a")
            raise Boom()

        assert_that(calling(work), raises(Boom))
        assert_that(self.delivered(), is_(empty()))


class BatchTests(DeferredTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.other_stack = fixtures.new_stack("deferred-other", dead_letter=False)
        self.missing_arn = f"arn:aws:sns:us-east-1:123456789012:missing-{uuid.uuid4().hex}"
        mappings = {OTHER_MEDIA_TYPE: self.other_stack.topic_arn, LOST_MEDIA_TYPE: self.missing_arn}
        self.graph = self.make_graph(self.stack, sns_topic_arns={"mappings": mappings})
        self.producer = self.graph.sns_producer
        # Record what reaches SNS, through botocore's own event hooks on the real client
        self.calls: list[tuple[str, str, int]] = []
        events = self.graph.sns_client.meta.events
        events.register("provide-client-params.sns.PublishBatch", self.record_batch)
        events.register("provide-client-params.sns.Publish", self.record_single)

    def record_batch(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.calls.append(("PublishBatch", params["TopicArn"], len(params["PublishBatchRequestEntries"])))

    def record_single(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.calls.append(("Publish", params["TopicArn"], 1))

    def produce_23(self) -> Any:
        with self.producer.deferred() as deferred:
            for index in range(23):
                media_type = MEDIA_TYPE if index % 2 == 0 else OTHER_MEDIA_TYPE
                self.producer.produce(media_type, name=f"n{index}")
        return deferred

    def test_all_arrive(self) -> None:
        """23 messages across two topics all arrive, and the block keeps 23 ids."""
        deferred = self.produce_23()
        first = self.delivered(self.stack, expected=12)
        second = self.delivered(self.other_stack, expected=11)
        assert_that((len(first), len(second)), is_(equal_to((12, 11))))
        assert_that(deferred.message_ids, has_length(23))
        envelope_ids = [envelope["MessageId"] for envelope in first + second]
        assert_that(deferred.message_ids, contains_inanyorder(*envelope_ids))

    def test_batched_per_topic(self) -> None:
        """The messages go out with PublishBatch, at most ten a call, one topic a call."""
        self.produce_23()
        assert_that(
            self.calls,
            contains_inanyorder(
                ("PublishBatch", self.stack.topic_arn, 10),
                ("PublishBatch", self.stack.topic_arn, 2),
                ("PublishBatch", self.other_stack.topic_arn, 10),
                ("PublishBatch", self.other_stack.topic_arn, 1),
            ),
        )

    def produce_with_lost(self) -> BatchPublishError | None:
        try:
            with self.producer.deferred():
                self.producer.produce(MEDIA_TYPE, name="kept-0")
                self.producer.produce(LOST_MEDIA_TYPE, name="lost-1")
                self.producer.produce(OTHER_MEDIA_TYPE, name="kept-2")
                self.producer.produce(LOST_MEDIA_TYPE, name="lost-3")
        except BatchPublishError as error:
            return error
        return None

    def test_failed_entries_named(self) -> None:
        """BatchPublishError names exactly the entries sent to a topic that does not exist."""
        error = self.produce_with_lost()
        assert_that(error, is_(instance_of(PublishError)))
        assert error is not None
        assert_that(
            [(failure["index"], failure["media_type"]) for failure in error.failures],
            is_(equal_to([(1, LOST_MEDIA_TYPE), (3, LOST_MEDIA_TYPE)])),
        )

    def test_successful_ids_kept(self) -> None:
        """BatchPublishError keeps the ids of the entries that were published, and they arrived."""
        error = self.produce_with_lost()
        assert error is not None
        assert_that(error.message_ids, has_length(4))
        assert_that([error.message_ids[1], error.message_ids[3]], is_(equal_to([None, None])))
        delivered = self.delivered(self.stack, expected=1) + self.delivered(self.other_stack, expected=1)
        assert_that(
            {envelope["MessageId"]: json.loads(envelope["Message"])["name"] for envelope in delivered},
            has_entries({error.message_ids[0]: "kept-0", error.message_ids[2]: "kept-2"}),
        )
