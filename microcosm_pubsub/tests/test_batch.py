"""Old batch messages against the local endpoint: DeferredBatchProducer out, PublishBatchMessage back to each topic."""
from __future__ import annotations

import json
import unittest
from typing import Any, ClassVar

from hamcrest import (
    assert_that,
    calling,
    contains_inanyorder,
    equal_to,
    has_entry,
    has_length,
    instance_of,
    is_,
    none,
    raises,
)

from microcosm_pubsub.conventions import created
from microcosm_pubsub.produce.batch import BATCH_MEDIA_TYPE, PublishBatchMessage
from microcosm_pubsub.produce.producer import DeferredBatchProducer, DeferredProducer, deferred, deferred_batch
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import PubSubError
from microcosm_pubsub.wire.outgoing import SNS_MAX_BYTES


MEDIA_TYPE = created("BatchedWidget")


class BatchTestCase(unittest.TestCase):
    """A batch topic and queue, a target topic and queue, and a graph whose consumer reads the batch queue."""

    sqs: ClassVar[Any]

    @classmethod
    def setUpClass(cls) -> None:
        cls.sqs = fixtures.endpoint().client("sqs")
        cls.addClassCleanup(cls.sqs.close)

    def setUp(self) -> None:
        self.batch = fixtures.new_stack("batch", dead_letter=False)
        self.target = fixtures.new_stack("batch-target", dead_letter=False)
        self.graph = self.make_graph()

    def make_graph(self, **producer: Any) -> Any:
        graph = fixtures.make_graph(
            self.batch,
            sns_topic_arns={"default": self.target.topic_arn, "mappings": {BATCH_MEDIA_TYPE: self.batch.topic_arn}},
            sns_producer=producer,
        )
        self.addCleanup(fixtures.close_clients, graph)
        return graph

    def bodies(self, queue_url: str) -> list[dict[str, Any]]:
        """Every SNS notification waiting on a queue, parsed; deletes nothing."""
        found: list[dict[str, Any]] = []
        for _ in range(5):
            response = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            if not messages and found:
                break
            found.extend(json.loads(message["Body"]) for message in messages)
        return found


class DeferredBatchProducerTests(BatchTestCase):
    def test_one_batch_message(self) -> None:
        """Three messages go out as one batch message to the batch topic, none to their own."""
        with DeferredBatchProducer(self.graph.sns_producer) as producer:
            for index in range(3):
                assert_that(producer.produce(MEDIA_TYPE, uri=f"http://example.com/{index}"), is_(none()))
        [notification] = self.bodies(self.batch.queue_url)
        message = json.loads(notification["Message"])
        assert_that(message["mediaType"], is_(equal_to(BATCH_MEDIA_TYPE)))
        assert_that(message["messages"], has_length(3))
        assert_that(self.bodies(self.target.queue_url), has_length(0))

    def test_single_message_direct(self) -> None:
        """A chunk of one message is published as itself, to its own topic."""
        with DeferredBatchProducer(self.graph.sns_producer) as producer:
            producer.produce(MEDIA_TYPE, uri="http://example.com/1")
        [notification] = self.bodies(self.target.queue_url)
        assert_that(json.loads(notification["Message"]), has_entry("mediaType", MEDIA_TYPE))

    def test_chunks_of_deferred_batch_size(self) -> None:
        """deferred_batch_size messages go in each batch message."""
        graph = self.make_graph(deferred_batch_size=2)
        with DeferredBatchProducer(graph.sns_producer) as producer:
            for index in range(4):
                producer.produce(MEDIA_TYPE, uri=f"http://example.com/{index}")
        assert_that(self.bodies(self.batch.queue_url), has_length(2))

    def test_large_messages_split(self) -> None:
        """Batch messages stay under SNS's size limit: large messages are spread over several."""
        large = "x" * 100_000
        with DeferredBatchProducer(self.graph.sns_producer) as producer:
            for index in range(4):
                producer.produce(MEDIA_TYPE, uri=f"http://example.com/{index}/{large}")
        notifications = self.bodies(self.batch.queue_url) + self.bodies(self.target.queue_url)
        assert_that(len(notifications), is_(equal_to(2)))
        for notification in notifications:
            assert_that(len(notification["Message"].encode()) < SNS_MAX_BYTES, is_(equal_to(True)))

    def test_nothing_on_exception(self) -> None:
        """A block that raises publishes nothing."""
        with self.assertRaises(KeyError), DeferredBatchProducer(self.graph.sns_producer) as producer:
            producer.produce(MEDIA_TYPE, uri="http://example.com/1")
            producer.produce(MEDIA_TYPE, uri="http://example.com/2")
            raise KeyError("boom")
        assert_that(self.bodies(self.batch.queue_url), has_length(0))


class RoundTripTests(BatchTestCase):
    def test_publish_batch_message_republishes(self) -> None:
        """PublishBatchMessage re-publishes each inner message to its topic with its body and attributes."""
        with DeferredBatchProducer(self.graph.sns_producer) as producer:
            for index in range(3):
                producer.produce(MEDIA_TYPE, uri=f"http://example.com/{index}", opaque_data={"x-custom": "c"})
        [message] = fixtures.receive(self.graph)
        handler = self.graph.publish_message_batch
        assert_that(handler, is_(instance_of(PublishBatchMessage)))
        result = self.graph.sqs_message_dispatcher.handle_message(message, {BATCH_MEDIA_TYPE: handler})
        assert_that(result.result.name, is_(equal_to("SUCCEEDED")))
        notifications = self.bodies(self.target.queue_url)
        inner = [json.loads(notification["Message"]) for notification in notifications]
        uris = [f"http://example.com/{index}" for index in range(3)]
        assert_that([item["uri"] for item in inner], contains_inanyorder(*uris))
        assert_that(inner[0]["opaqueData"], has_entry("x-custom", "c"))
        attribute = {"Type": "String", "Value": MEDIA_TYPE}
        assert_that(notifications[0]["MessageAttributes"], has_entry("media_type", attribute))


class DeferredProducerTests(BatchTestCase):
    def test_one_publish_per_message(self) -> None:
        """DeferredProducer publishes each message to its own topic on a clean exit."""
        with DeferredProducer(self.graph.sns_producer) as producer:
            producer.produce(MEDIA_TYPE, uri="http://example.com/1")
            producer.produce(MEDIA_TYPE, uri="http://example.com/2")
            assert_that(self.bodies(self.target.queue_url), has_length(0))
        assert_that(self.bodies(self.target.queue_url), has_length(2))

    def test_outside_block(self) -> None:
        """produce() outside the block says how to use it."""
        producer = DeferredProducer(self.graph.sns_producer)
        assert_that(calling(producer.produce).with_args(MEDIA_TYPE, uri="http://x/1"), raises(PubSubError, "with"))

    def test_reads_producer_attributes(self) -> None:
        """Old code reads the producer's attributes through the deferred one."""
        producer = DeferredProducer(self.graph.sns_producer)
        assert_that(producer.sns_client, is_(self.graph.sns_producer.sns_client))


class Service:
    def __init__(self, graph: Any) -> None:
        self.sns_producer = graph.sns_producer
        self.seen: list[Any] = []

    def work(self, count: int) -> None:
        self.seen.append(self.sns_producer)
        for index in range(count):
            self.sns_producer.produce(MEDIA_TYPE, uri=f"http://example.com/{index}")


class DecoratorTests(BatchTestCase):
    def test_deferred_swaps_and_restores(self) -> None:
        """deferred(component) gives the function a DeferredProducer and restores the producer after."""
        service = Service(self.graph)
        deferred(service)(service.work)(2)
        assert_that(service.seen[0], is_(instance_of(DeferredProducer)))
        assert_that(service.sns_producer, is_(self.graph.sns_producer))
        assert_that(self.bodies(self.target.queue_url), has_length(2))

    def test_deferred_batch(self) -> None:
        """deferred_batch(component) sends the function's messages as one batch message."""
        service = Service(self.graph)
        deferred_batch(service)(service.work)(3)
        assert_that(service.seen[0], is_(instance_of(DeferredBatchProducer)))
        assert_that(self.bodies(self.batch.queue_url), has_length(1))
