"""`sqs_consumer`: messages, settling, malformed input, failures.

On the in-memory double; delivery through SNS, acking and nacking, and the configuration of the
endpoint run on the local endpoint too.
"""
from __future__ import annotations

import json
import unittest
import uuid
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from hamcrest import (
    assert_that,
    calling,
    contains_string,
    empty,
    equal_to,
    has_entries,
    has_length,
    instance_of,
    is_,
    is_not,
    none,
    raises,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.aws.memory import MemoryAWS
from microcosm_pubsub.aws.provisioning import Stack, provision
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError, ConsumeError, Nack, SkipMessage, TTLExpired


@schema
class ConsumerTestSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-consumer-widget"

    name = fields.String(required=True)


MEDIA_TYPE = ConsumerTestSchema.MEDIA_TYPE
# No lifecycle verb: a created() media type would get the convention schema (auto_register)
UNKNOWN_MEDIA_TYPE = "application/vnd.globality.pubsub._.test-consumer-nobody"


class Boom(Exception):
    """Raised by a test block on purpose."""


def raised_by(function: Any, *args: Any, **kwargs: Any) -> BaseException:
    """The exception `function(*args, **kwargs)` raises."""
    try:
        function(*args, **kwargs)
    except Exception as error:
        return error
    raise AssertionError(f"{function} raised nothing")


def memory_graph(world: MemoryAWS, stack: Stack, **overrides: Any) -> Any:
    """A testing graph on `stack` whose clients are the double's."""
    config: dict[str, Any] = {
        "sns_topic_arns": {"default": stack.topic_arn},
        "sqs_consumer": {"sqs_queue_url": stack.queue_url, "region_name": "us-east-1", "wait_seconds": 1},
    }
    for key, value in overrides.items():
        config.setdefault(key, {}).update(value)
    graph = create_object_graph("test", testing=True, loader=load_from_dict(config))
    # In place of the clients before anything uses them
    graph.assign("sns_client", world.sns)
    graph.assign("sqs_client", world.sqs)
    return graph


class ConsumerTestCase(unittest.TestCase):
    """A fresh stack per test on the double or the endpoint, a graph on it, and a client for looking at the queue."""

    on_endpoint = False
    visibility_timeout = 30
    dead_letter = False
    consumer_config: ClassVar[dict[str, Any]] = {}

    def setUp(self) -> None:
        self.world = None if self.on_endpoint else MemoryAWS()
        if self.world is None:
            self.sqs: Any = fixtures.endpoint().client("sqs")
            self.addCleanup(self.sqs.close)
            self.stack = fixtures.new_stack(
                "consumer", dead_letter=self.dead_letter, visibility_timeout=self.visibility_timeout,
            )
        else:
            self.sqs = self.world.sqs
            self.stack = provision(
                *self.world.clients(), fixtures.unique_name("consumer"), dead_letter=self.dead_letter,
                visibility_timeout=self.visibility_timeout,
            )
        overrides: dict[str, Any] = {"sqs_consumer": dict(self.consumer_config)}
        if self.dead_letter:
            overrides["sqs_message_dispatcher"] = {"dead_letter_queue_url": self.stack.dead_letter_queue_url}
        self.graph = self.make_graph(self.stack, **overrides)
        self.consumer = self.graph.sqs_consumer

    def make_graph(self, stack: Stack, **overrides: Any) -> Any:
        if self.world is not None:
            return memory_graph(self.world, stack, **overrides)
        graph = fixtures.make_graph(stack, **overrides)
        self.addCleanup(fixtures.close_clients, graph)
        return graph

    def produce(self, **content: Any) -> str:
        message_id: str = self.graph.sns_producer.produce(MEDIA_TYPE, **content)
        return message_id

    def receive_one(self, wait_seconds: int = 1) -> SQSMessage:
        messages = self.consumer.consume(wait_seconds=wait_seconds)
        assert_that(messages, has_length(1))
        return messages[0]

    def depth(self) -> int:
        """Messages still in the queue, visible or not: zero means deleted."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


class MessageTests(ConsumerTestCase):
    def test_content(self) -> None:
        """A consumed message has its decoded content and media type."""
        self.produce(name="a")
        message = self.receive_one()
        assert_that(message.content, has_entries(name="a", media_type=MEDIA_TYPE))
        assert_that(message.media_type, is_(equal_to(MEDIA_TYPE)))

    def test_message_id_is_produce_id(self) -> None:
        """An SNS-delivered message's id is the id produce returned."""
        message_id = self.produce(name="a")
        assert_that(self.receive_one().message_id, is_(equal_to(message_id)))

    def test_delivery_state(self) -> None:
        """A first delivery has a receipt handle and a receive count of one."""
        self.produce(name="a")
        message = self.receive_one()
        assert_that(message.receipt_handle, is_(instance_of(str)))
        assert_that(message.receipt_handle, is_not(equal_to("")))
        assert_that(message.approximate_receive_count, is_(equal_to(1)))

    def test_opaque_data(self) -> None:
        """A message's opaque data comes back, including the producer's request id."""
        with self.graph.opaque.initialize(lambda: {"X-Request-Id": "req-7"}):
            self.produce(name="a")
        assert_that(self.receive_one().opaque_data, has_entries({"x-request-id": "req-7"}))

    def test_empty_queue(self) -> None:
        """An empty queue gives an empty list."""
        assert_that(self.consumer.consume(wait_seconds=0), is_(empty()))


class SettleTests(ConsumerTestCase):
    def test_ack_deletes(self) -> None:
        """ack() deletes the message."""
        self.produce(name="a")
        self.receive_one().ack()
        assert_that(self.depth(), is_(equal_to(0)))

    def test_nack_zero(self) -> None:
        """nack(0) makes the message visible at once, received a second time."""
        message_id = self.produce(name="a")
        self.receive_one().nack(0)
        again = self.receive_one(wait_seconds=0)
        assert_that((again.message_id, again.approximate_receive_count), is_(equal_to((message_id, 2))))

    def test_nack_default_hides(self) -> None:
        """nack() without a timeout hides the message for the backoff policy's delay."""
        self.produce(name="a")
        self.receive_one().nack()
        assert_that(self.consumer.consume(wait_seconds=0), is_(empty()))
        assert_that(self.depth(), is_(equal_to(1)))


class ExtendVisibilityTests(ConsumerTestCase):
    # With a zero queue timeout a received message is visible again at once, unless extended
    visibility_timeout = 0

    def test_extend_visibility_hides(self) -> None:
        """extend_visibility keeps the message hidden."""
        self.produce(name="a")
        self.receive_one().extend_visibility(60)
        assert_that(self.consumer.consume(wait_seconds=0), is_(empty()))
        assert_that(self.depth(), is_(equal_to(1)))


class ContextManagerTests(ConsumerTestCase):
    # A failure is retried at once, so a nacked message is visible straight away
    consumer_config: ClassVar[dict[str, Any]] = {"message_retry_visibility_timeout_seconds": 0}

    def test_clean_exit_acks(self) -> None:
        """A clean exit from `with message:` deletes the message."""
        self.produce(name="a")
        with self.receive_one():
            pass
        assert_that(self.depth(), is_(equal_to(0)))

    def test_nack_signal(self) -> None:
        """Nack(0) raised in `with message:` is swallowed and retries the message at once."""
        self.produce(name="a")
        with self.receive_one():
            raise Nack(0)
        assert_that(self.receive_one(wait_seconds=0).approximate_receive_count, is_(equal_to(2)))

    def test_nack_signal_timeout(self) -> None:
        """Nack(60) in `with message:` hides the message for its own timeout."""
        self.produce(name="a")
        with self.receive_one():
            raise Nack(60)
        assert_that(self.consumer.consume(wait_seconds=0), is_(empty()))
        assert_that(self.depth(), is_(equal_to(1)))

    def test_skip_signal(self) -> None:
        """SkipMessage raised in `with message:` is swallowed and deletes the message."""
        self.produce(name="a")
        with self.receive_one():
            raise SkipMessage("nothing to do")
        assert_that(self.depth(), is_(equal_to(0)))

    def test_other_exception_propagates(self) -> None:
        """Any other exception in `with message:` propagates."""
        self.produce(name="a")
        message = self.receive_one()

        def handle() -> None:
            with message:
                raise Boom()

        assert_that(calling(handle), raises(Boom))

    def test_other_exception_nacks(self) -> None:
        """Any other exception in `with message:` nacks with the backoff policy's delay."""
        self.produce(name="a")
        message = self.receive_one()
        try:
            with message:
                raise Boom()
        except Boom:
            pass
        assert_that(self.receive_one(wait_seconds=0).approximate_receive_count, is_(equal_to(2)))


class ContextManagerDeadLetterTests(ConsumerTestCase):
    """`with message:` settles by the dispatcher's table, dead-letter queue included."""

    dead_letter = True

    def test_expired_is_dead_lettered(self) -> None:
        """TTLExpired in `with message:` sends the message to the dead-letter queue with its reason, then deletes it."""
        self.produce(name="a")
        with self.receive_one():
            raise TTLExpired("out of hops")
        dead = self.sqs.receive_message(
            QueueUrl=self.stack.dead_letter_queue_url, WaitTimeSeconds=1, MessageAttributeNames=["All"],
        ).get("Messages", [])
        reasons = [message["MessageAttributes"]["pubsub_reason"]["StringValue"] for message in dead]
        assert_that((reasons, self.depth()), is_(equal_to((["out of hops"], 0))))


class MalformedTests(unittest.TestCase):
    """One batch holding good and malformed messages, received once for the whole class."""

    messages: ClassVar[dict[str, SQSMessage]]
    sns_message_id: ClassVar[str]

    @classmethod
    def setUpClass(cls) -> None:
        world = MemoryAWS()
        sqs = world.sqs
        stack = provision(*world.clients(), "consumer-malformed", dead_letter=False)
        graph = memory_graph(world, stack)
        bodies = {
            "not-json": "this is not JSON {",
            "no-media-type": json.dumps({"name": "a"}),
            "array": json.dumps([1, 2]),
            "schema": json.dumps({"mediaType": MEDIA_TYPE, "nickname": "a"}),
            "unknown": json.dumps({"mediaType": UNKNOWN_MEDIA_TYPE, "name": "a"}),
            "raw-good": json.dumps({"mediaType": MEDIA_TYPE, "name": "raw-good"}),
        }
        labels = {
            sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)["MessageId"]: label
            for label, body in bodies.items()
        }
        cls.sns_message_id = graph.sns_producer.produce(MEDIA_TYPE, name="sns-good")
        received: list[SQSMessage] = []
        for _ in range(5):
            received.extend(graph.sqs_consumer.consume(wait_seconds=0))
            if len(received) >= len(bodies) + 1:
                break
        cls.messages = {labels.get(message.sqs_message_id, "sns-good"): message for message in received}

    def problem(self, label: str) -> str | None:
        return self.messages[label].problem

    def test_all_received(self) -> None:
        """Every message of the batch comes back, malformed or not."""
        assert_that(sorted(self.messages), is_(equal_to(
            ["array", "no-media-type", "not-json", "raw-good", "schema", "sns-good", "unknown"],
        )))

    def test_not_json(self) -> None:
        """A body that is not JSON comes back invalid, saying so."""
        assert_that(self.problem("not-json"), contains_string("not JSON"))
        assert_that(self.messages["not-json"].content, is_(none()))

    def test_no_media_type(self) -> None:
        """JSON without a media type comes back invalid, saying so."""
        assert_that(self.problem("no-media-type"), contains_string("no media type"))

    def test_json_array(self) -> None:
        """A JSON array comes back invalid: it is not an object."""
        assert_that(self.problem("array"), contains_string("not an object"))

    def test_schema_violation(self) -> None:
        """Content that violates its schema comes back invalid, naming the field."""
        assert_that(self.problem("schema"), contains_string("name"))
        assert_that(self.messages["schema"].media_type, is_(equal_to(MEDIA_TYPE)))

    def test_unknown_media_type(self) -> None:
        """A media type with no schema comes back invalid, naming the media type."""
        assert_that(self.problem("unknown"), contains_string(UNKNOWN_MEDIA_TYPE))

    def test_raw_good_intact(self) -> None:
        """A good raw message in the same batch is decoded."""
        message = self.messages["raw-good"]
        assert_that(message.is_valid, is_(True))
        assert_that(message.content, has_entries(name="raw-good"))

    def test_sns_good_intact(self) -> None:
        """A good SNS-delivered message in the same batch is decoded with its SNS id."""
        message = self.messages["sns-good"]
        assert_that(message.content, has_entries(name="sns-good"))
        assert_that(message.message_id, is_(equal_to(self.sns_message_id)))


class ConfigurationTests(unittest.TestCase):
    def make_graph(self, **sqs_consumer: Any) -> Any:
        graph = fixtures.make_graph(None, sqs_consumer=sqs_consumer)
        self.addCleanup(fixtures.close_clients, graph)
        return graph

    def test_missing_queue_url(self) -> None:
        """Consuming without a queue URL raises ConfigurationError naming the key."""
        consumer = self.make_graph().sqs_consumer
        assert_that(calling(consumer.consume), raises(ConfigurationError, r"sqs_consumer\.sqs_queue_url"))

    def test_missing_queue(self) -> None:
        """Consuming from a queue that does not exist raises ConsumeError chained from the boto error."""
        url = f"{fixtures.endpoint().url}/123456789012/missing-{uuid.uuid4().hex}"
        error = raised_by(self.make_graph(sqs_queue_url=url).sqs_consumer.consume, wait_seconds=0)
        assert_that(error, is_(instance_of(ConsumeError)))
        assert_that(error.__cause__, is_(instance_of(ClientError)))

    def test_delete_nothing(self) -> None:
        """delete_batch of no messages makes no call and reports no failures."""
        assert_that(self.make_graph().sqs_consumer.delete_batch([]), is_(empty()))

    def test_endpoint_from_environment(self) -> None:
        """AWS_ENDPOINT_URL_SQS is honoured when sqs_consumer.endpoint_url is not configured."""
        stack = fixtures.new_stack("consumer-environ", dead_letter=False)
        sqs = fixtures.endpoint().client("sqs")
        self.addCleanup(sqs.close)
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"mediaType": MEDIA_TYPE, "name": "env"}))
        self.enterContext(fixtures.environ(AWS_ENDPOINT_URL_SQS=fixtures.endpoint().url))
        # Were the variable ignored, boto3 would go to AWS over HTTPS: send that to a closed local port instead
        self.enterContext(fixtures.environ(HTTPS_PROXY="http://127.0.0.1:9"))
        config = {"sqs_consumer": {"sqs_queue_url": stack.queue_url, "region_name": "us-east-1", "max_attempts": 1}}
        graph: Any = create_object_graph("test", testing=True, loader=load_from_dict(config))
        self.addCleanup(fixtures.close_clients, graph)
        [message] = graph.sqs_consumer.consume(wait_seconds=1)
        assert_that(message.content, has_entries(name="env"))


class DeleteBatchTests(ConsumerTestCase):
    def test_delete_fifteen(self) -> None:
        """delete_batch deletes 15 messages (two SQS calls) and reports no failures."""
        body = json.dumps({"mediaType": MEDIA_TYPE, "name": "a"})
        for start in (0, 10):
            entries = [{"Id": str(index), "MessageBody": body} for index in range(start, min(start + 10, 15))]
            self.sqs.send_message_batch(QueueUrl=self.stack.queue_url, Entries=entries)
        received: list[SQSMessage] = []
        for _ in range(5):
            received.extend(self.consumer.consume(wait_seconds=0))
            if len(received) >= 15:
                break
        assert_that(received, has_length(15))
        assert_that(self.consumer.delete_batch(received), is_(empty()))
        assert_that(self.depth(), is_(equal_to(0)))


class EndpointTests(ConsumerTestCase):
    """Delivery through SNS and settling, end to end on the local endpoint."""

    on_endpoint = True

    test_content = MessageTests.test_content
    test_message_id_is_produce_id = MessageTests.test_message_id_is_produce_id
    test_ack_deletes = SettleTests.test_ack_deletes
    test_nack_zero = SettleTests.test_nack_zero
