"""A queue as a destination: media types mapped to an SQS queue are sent there and consumed as if SNS delivered them."""
from __future__ import annotations

import json
import time
import unittest
from pathlib import Path
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    empty,
    equal_to,
    greater_than_or_equal_to,
    has_entries,
    has_item,
    has_length,
    is_,
    raises,
)
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.cli.stack import StackFileError, parse_stack
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.conventions import created
from microcosm_pubsub.produce.destinations import is_queue
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.cli_support import pubsub, temporary_directory, write_json
from microcosm_pubsub.wire.errors import ProduceArgumentError, PublishError


TASK = created("destination_task")
EVENT = created("destination_event")


def content(number: int) -> dict[str, Any]:
    return {"uri": f"https://tasks.example.com/api/task/{number}"}


class TestIsQueue(unittest.TestCase):
    def test_queue_arns_and_urls_are_queues(self) -> None:
        """Queue ARNs and URLs are queues; topic ARNs are not."""
        destinations = [
            "arn:aws:sqs:us-east-1:123456789012:tasks", "https://sqs.us-east-1.amazonaws.com/123456789012/tasks",
            "http://127.0.0.1:4566/123456789012/tasks", "arn:aws:sns:us-east-1:123456789012:tasks",
        ]
        assert_that([is_queue(destination) for destination in destinations], is_(equal_to([True, True, True, False])))


class DestinationTestCase(unittest.TestCase):
    """A stack (its topic subscribed with raw delivery) and a graph sending TASK straight to its queue."""

    def setUp(self) -> None:
        self.stack = fixtures.new_stack("destination", raw=True)
        self.graph = self.make_graph(self.stack.queue_arn)
        self.sqs = self.graph.sqs_client

    def make_graph(self, destination: str, **overrides: Any) -> Any:
        graph = fixtures.make_graph(self.stack, sns_topic_arns={"mappings": {TASK: destination}}, **overrides)
        self.addCleanup(fixtures.close_clients, graph)
        return graph

    def handled(self, count: int) -> list[Any]:
        for media_type in (TASK, EVENT):
            self.graph.sqs_message_handler_registry.register(media_type, lambda message: True)
        results = self.graph.sqs_message_dispatcher.handle_batch(fixtures.receive(self.graph, count))
        assert_that([result.outcome for result in results], is_(equal_to([Outcome.SUCCEEDED] * count)))
        return [result.message for result in results]


class TestProduceToQueue(DestinationTestCase):
    def test_read_exactly_like_a_message_through_sns(self) -> None:
        """A message sent to the queue and one published through the topic read alike: content, attributes, topic."""
        producer = self.graph.sns_producer
        queue_id = producer.produce(TASK, content(1))
        producer.produce(EVENT, content(1))
        messages = {message.media_type: message for message in self.handled(2)}

        through_queue, through_topic = messages[TASK], messages[EVENT]
        # What produce returned is the consumer's message id (raw delivery through SNS keeps only SQS's)
        assert_that(through_queue.message_id, is_(equal_to(queue_id)))
        assert_that(through_queue.content["uri"], is_(equal_to(through_topic.content["uri"])))
        assert_that(json.loads(through_queue.delivery.body)["mediaType"], is_(equal_to(TASK)))
        assert_that(sorted(through_queue.opened.attributes), is_(equal_to(sorted(through_topic.opened.attributes))))
        assert_that(through_queue.topic_arn, is_(equal_to(through_topic.topic_arn)))

    def test_queue_url_as_destination(self) -> None:
        """A media type mapped to the queue's URL is sent there as well."""
        graph = self.make_graph(self.stack.queue_url)
        graph.sns_producer.produce(TASK, content(2))
        self.graph = graph
        [message] = self.handled(1)
        assert_that(message.content["uri"], is_(equal_to(content(2)["uri"])))

    def test_deferred_block_sends_in_batches(self) -> None:
        """A deferred block's twelve queue messages go out with SendMessageBatch, the topic's beside them."""
        producer = self.graph.sns_producer
        with producer.deferred() as block:
            for number in range(12):
                producer.produce(TASK, content(number))
            producer.produce(EVENT, content(99))
        messages = self.handled(10) + self.handled(3)
        assert_that(block.message_ids, has_length(13))
        assert_that(sorted(message.content["uri"] for message in messages if message.media_type == TASK),
                    is_(equal_to(sorted(content(number)["uri"] for number in range(12)))))

    def test_delay_seconds(self) -> None:
        """A message produced with delay_seconds stays invisible for that long, then arrives."""
        started = time.monotonic()
        self.graph.sns_producer.produce(TASK, content(3), delay_seconds=2)
        assert_that(self.graph.sqs_consumer.consume(wait_seconds=0), is_(empty()))
        [message] = self.handled(1)
        assert_that(time.monotonic() - started, is_(greater_than_or_equal_to(1.5)))
        assert_that(message.content["uri"], is_(equal_to(content(3)["uri"])))

    def test_delay_is_refused_where_sqs_cannot_take_it(self) -> None:
        """delay_seconds for a topic, out of range, or for a FIFO queue is refused before any call."""
        producer = self.graph.sns_producer
        fifo = self.make_graph("arn:aws:sqs:us-east-1:123456789012:tasks.fifo").sns_producer
        cases = [
            (producer, EVENT, 5, "goes to topic"),
            (producer, TASK, 901, "from 0 to 900"),
            (producer, TASK, "5", "from 0 to 900"),
            (fifo, TASK, 5, "FIFO queue"),
        ]
        for which, media_type, delay, message in cases:
            assert_that(calling(which.produce).with_args(media_type, content(4), delay_seconds=delay),
                        raises(ProduceArgumentError, message), message)

    def test_missing_queue_is_a_publish_error(self) -> None:
        """A queue that does not exist makes produce raise PublishError naming it."""
        missing = self.stack.queue_arn + "-missing"
        producer = self.make_graph(missing).sns_producer
        assert_that(calling(producer.produce).with_args(TASK, content(5)), raises(PublishError, "-missing"))

    def test_producer_only_service(self) -> None:
        """A service configuring only sns_producer sends to the queue through that endpoint."""
        config = {
            "sns_producer": {"endpoint_url": fixtures.endpoint().url, "region_name": "us-east-1"},
            "sns_topic_arns": {"mappings": {TASK: self.stack.queue_arn}},
        }
        producer: Any = create_object_graph("producer", testing=True, loader=load_from_dict(config)).sns_producer
        self.addCleanup(lambda: producer.queues.client.close())
        producer.produce(TASK, content(6))
        [message] = self.handled(1)
        assert_that(message.content["uri"], is_(equal_to(content(6)["uri"])))


class TestDaemon(DestinationTestCase):
    def test_daemon_handles_a_queued_message_as_one_from_sns(self) -> None:
        """The daemon's runner handles a message sent to its queue and one published to its topic alike."""
        self.graph.sns_producer.produce(TASK, content(7))
        self.graph.sns_producer.produce(EVENT, content(8))
        config = fixtures.graph_config(self.stack, pubsub_runner={"max_messages": 2})
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict(config))
        self.addCleanup(fixtures.close_clients, daemon.graph)
        handled: list[tuple[str, str]] = []

        def recorder(media_type: str) -> Any:
            def record(message: dict[str, Any]) -> bool:
                handled.append((media_type, message["uri"]))
                return True
            return record

        for media_type in (TASK, EVENT):
            daemon.graph.sqs_message_handler_registry.register(media_type, recorder(media_type))

        daemon.start()
        assert daemon.runner is not None
        daemon.runner.run()

        assert_that(sorted(handled), contains_exactly((EVENT, content(8)["uri"]), (TASK, content(7)["uri"])))
        assert_that(daemon.runner.counts, has_entries(succeeded=2))


class TestStack(unittest.TestCase):
    def test_queue_declares_its_media_types(self) -> None:
        """A queue's `mediaTypes` are the media types producers send to it."""
        stack = parse_stack({"queues": [{"name": "tasks", "mediaTypes": [TASK]}, {"name": "other"}]})
        assert_that([queue.media_types for queue in stack.queues], is_(equal_to([(TASK,), ()])))

    def test_media_type_has_one_destination(self) -> None:
        """A media type declared for two queues is refused, naming both."""
        document = {"queues": [{"name": "a", "mediaTypes": [TASK]}, {"name": "b", "mediaTypes": [TASK]}]}
        assert_that(calling(parse_stack).with_args(document),
                    raises(StackFileError, r"queues\[1\].mediaTypes: .* is sent to queue 'a' already"))

    def test_provision_gives_producers_the_queue(self) -> None:
        """`pubsub provision` creates the destination queue and lets producers send to it."""
        directory = temporary_directory(self)
        name = fixtures.unique_name("destination-stack")
        document = {"queues": [{"name": name, "mediaTypes": [TASK]}]}
        result = pubsub("provision", "--stack", write_json(directory, "stack.json", document),
                        "--iam-policy-out", directory)
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)

        sqs = fixtures.endpoint().client("sqs")
        self.addCleanup(sqs.close)
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        producer = json.loads(Path(directory, "producer-policy.json").read_text())
        assert_that(producer["Statement"], has_item(has_entries(
            Sid="SendToQueues", Action=["sqs:GetQueueUrl", "sqs:SendMessage"], Resource=[arn],
        )))


class TestLocalEnvironment(unittest.TestCase):
    def test_local_prints_the_mapping_to_the_queue(self) -> None:
        """`pubsub local` tells each service to send a destination queue's media types to that queue."""
        from microcosm_pubsub.aws.provisioning import QueueSpec, Resources, StackSpec
        from microcosm_pubsub.cli.local import Service, environment

        queue = QueueSpec("thumbnails", 30, None, (TASK,))
        stack = StackSpec((), (queue,), ())
        arn = "arn:aws:sqs:us-east-1:123456789012:thumbnails"
        resources = Resources(queue_urls={"thumbnails": "http://127.0.0.1/123456789012/thumbnails"},
                              queue_arns={"thumbnails": arn})
        lines = environment(fixtures.endpoint(), resources, [Service("shop", queue, None)], stack)
        assert_that(lines, has_item(f'SHOP__SNS_TOPIC_ARNS__MAPPINGS={{"{TASK}":"{arn}"}}'))
