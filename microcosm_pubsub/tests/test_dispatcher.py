"""The dispatcher: every outcome of the SPEC table and what SQS is told.

On the in-memory double; one path per action (delete, visibility, dead letter, SNS's envelope)
runs on the local endpoint too.
"""
from __future__ import annotations

import json
import unittest
from collections.abc import Callable
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_string,
    empty,
    equal_to,
    has_entries,
    has_key,
    has_length,
    is_,
    is_not,
    raises,
)
from marshmallow import fields
from microcosm.api import binding, create_object_graph, load_from_dict

from microcosm_pubsub.aws.memory import MemoryAWS
from microcosm_pubsub.aws.provisioning import provision
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema
from microcosm_pubsub.testing.queues import admin_clients
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError, IgnoreMessage, Nack, SkipMessage


PREFIX = "application/vnd.microcosm.pubsub._.tests.dispatcher"
# Not registered as a schema anywhere
UNKNOWN_MEDIA_TYPE = f"{PREFIX}.unknown"


@schema
class ThingSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.thing"

    name = fields.String(required=True)
    createdBy = fields.String(attribute="created_by", load_default=None)


@schema
class EchoSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.echo"

    name = fields.String(required=True)


@schema
class CountedSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.counted"

    name = fields.String(required=True)


@binding("dispatcher_test_counting_handler")
@handles(CountedSchema)
class CountingHandler:
    """A class handler: the graph builds one component and calls it for every message."""

    constructed = 0

    def __init__(self, graph: Any) -> None:
        type(self).constructed += 1
        self.handled: list[str] = []

    def __call__(self, message: dict[str, Any]) -> bool:
        self.handled.append(message["name"])
        return True


class Recorder:
    """A function handler that records what it was given and answers with `returns` or raises `raises`."""

    def __init__(self, returns: Any = True, raises: BaseException | None = None) -> None:
        self.returns = returns
        self.raises = raises
        self.calls: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> Any:
        self.calls.append(message)
        if self.raises is not None:
            raise self.raises
        return self.returns


# One pair of clients for the module: building a boto3 client costs more than most of these tests
SNS: Any = None
SQS: Any = None


def setUpModule() -> None:
    global SNS, SQS
    # The toolkit's clients for the endpoint: built once per process, closed at exit
    SNS, SQS = admin_clients(fixtures.endpoint())


class DispatcherTestCase(unittest.TestCase):
    """A fresh stack and graph per test, on the double or the endpoint; `given` builds them as the test asks."""

    on_endpoint = False

    def setUp(self) -> None:
        self.world = None if self.on_endpoint else MemoryAWS()
        self.sns: Any = SNS if self.world is None else self.world.sns
        self.sqs: Any = SQS if self.world is None else self.world.sqs

    def given(
        self,
        visibility_timeout: int = 30,
        dead_letter_queue: bool = False,
        dispatcher: dict[str, Any] | None = None,
        consumer: dict[str, Any] | None = None,
    ) -> Any:
        # A high maxReceiveCount keeps moto's own redrive out of these tests
        self.stack = provision(
            self.sns, self.sqs, fixtures.unique_name("dispatch"), visibility_timeout=visibility_timeout,
            max_receive_count=10,
        )
        dispatcher_config = dict(dispatcher or {})
        if dead_letter_queue:
            dispatcher_config["dead_letter_queue_url"] = self.stack.dead_letter_queue_url
        if self.world is None:
            self.graph = fixtures.make_graph(
                self.stack, sqs_message_dispatcher=dispatcher_config, sqs_consumer=consumer or {},
            )
            self.addCleanup(fixtures.close_clients, self.graph)
            return self.graph
        config = {
            "sns_topic_arns": {"default": self.stack.topic_arn},
            "sqs_consumer": {"sqs_queue_url": self.stack.queue_url, "region_name": "us-east-1", **(consumer or {})},
            "sqs_message_dispatcher": dispatcher_config,
        }
        self.graph = create_object_graph("test", testing=True, loader=load_from_dict(config))
        # In place of the clients before anything uses them
        self.graph.assign("sns_client", self.world.sns)
        self.graph.assign("sqs_client", self.world.sqs)
        return self.graph

    def given_a_second_delivery(self, dead_letter_queue: bool) -> Recorder:
        # A zero visibility timeout lets the second receive come straight after the first
        self.given(visibility_timeout=0, dead_letter_queue=dead_letter_queue,
                   dispatcher={"message_max_processing_attempts": 1})
        recorder = self.handle(ThingSchema.MEDIA_TYPE, Recorder())
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        self.receive()
        return recorder

    def handle(self, media_type: str, handler: Any) -> Any:
        self.graph.sqs_message_handler_registry.register(media_type, handler)
        return handler

    def send_raw(self, body: str, media_type: str | None = None) -> None:
        """A message straight to the queue, as a raw-delivery subscription or a broken peer would send it."""
        attributes = {"media_type": {"DataType": "String", "StringValue": media_type}} if media_type else {}
        self.sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=body, MessageAttributes=attributes)

    def receive(self, count: int = 1) -> list[SQSMessage]:
        """Exactly `count` messages from the queue, or a failure after a few short polls."""
        messages: list[SQSMessage] = []
        for _ in range(5):
            messages.extend(self.graph.sqs_consumer.consume(limit=count - len(messages), wait_seconds=1))
            if len(messages) >= count:
                break
        assert_that(messages, has_length(count))
        return messages

    def dispatch(self, count: int = 1) -> list[Outcome]:
        results = self.graph.sqs_message_dispatcher.handle_batch(self.receive(count))
        return [result.outcome for result in results]

    def queue_counts(self, queue_url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages on the queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.stack.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dead_letters(self, count: int) -> list[Any]:
        """Up to `count` raw messages from the dead-letter queue, with their attributes."""
        assert self.stack.dead_letter_queue_url is not None
        response = self.sqs.receive_message(
            QueueUrl=self.stack.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0 if count == 0 else 1,
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))


def attribute_values(raw: Any) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in raw.get("MessageAttributes", {}).items()}


class SucceededAndSkippedTestCase(DispatcherTestCase):
    def test_truthy_return_succeeds_and_deletes(self) -> None:
        """A handler returning a truthy value: SUCCEEDED, and the message is deleted."""
        self.given()
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(returns={"ok": 1}))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.SUCCEEDED))
        assert_that(self.queue_counts(), is_(equal_to((0, 0))))

    def test_falsy_return_skips_and_deletes(self) -> None:
        """A handler returning a falsy value: SKIPPED, and the message is deleted."""
        self.given()
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(returns=None))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.SKIPPED))
        assert_that(self.queue_counts(), is_(equal_to((0, 0))))

    def test_skip_message_skips_and_deletes(self) -> None:
        """SkipMessage: SKIPPED, and the message is deleted."""
        self.given()
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(raises=SkipMessage("seen it")))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.SKIPPED))
        assert_that(self.queue_counts(), is_(equal_to((0, 0))))

    def test_handler_receives_decoded_content(self) -> None:
        """The handler gets the schema's load: attribute names, media type and opaque data."""
        self.given()
        recorder = self.handle(ThingSchema.MEDIA_TYPE, Recorder())
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one", created_by="me")
        self.dispatch()
        [content] = recorder.calls
        assert_that(content, has_entries(media_type=ThingSchema.MEDIA_TYPE, name="one", created_by="me"))
        assert_that(content["opaque_data"], has_entries({"x-request-published": is_not(empty())}))

    def test_class_handler_built_once_per_graph(self) -> None:
        """A class handler component is constructed once for the graph, not per message."""
        before = CountingHandler.constructed
        graph = self.given()
        [component] = graph.use("dispatcher_test_counting_handler")
        for name in ("a", "b", "c"):
            graph.sns_producer.produce(CountedSchema.MEDIA_TYPE, name=name)
        self.dispatch(3)
        assert_that((CountingHandler.constructed - before, sorted(component.handled)),
                    is_(equal_to((1, ["a", "b", "c"]))))


class IgnoredTestCase(DispatcherTestCase):
    def test_ignore_message_deletes(self) -> None:
        """IgnoreMessage: IGNORED, deleted by default."""
        self.given(dead_letter_queue=True)
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(raises=IgnoreMessage("not for us")))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.IGNORED))
        assert_that((self.queue_counts(), self.dead_letters(0)), is_(equal_to(((0, 0), []))))

    def test_no_handler_deletes(self) -> None:
        """A known media type without a handler: IGNORED and deleted."""
        self.given()
        self.graph.sns_producer.produce(EchoSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.IGNORED))
        assert_that(self.queue_counts(), is_(equal_to((0, 0))))

    def test_unknown_media_type_deletes(self) -> None:
        """A media type without schema or handler: IGNORED and deleted."""
        self.given()
        self.send_raw(json.dumps({"mediaType": UNKNOWN_MEDIA_TYPE, "name": "one"}), UNKNOWN_MEDIA_TYPE)
        assert_that(self.dispatch(), contains_exactly(Outcome.IGNORED))
        assert_that(self.queue_counts(), is_(equal_to((0, 0))))

    def test_dead_letter_ignored(self) -> None:
        """With dead_letter_ignored and a DLQ, IGNORED messages are dead-lettered and deleted from the source."""
        self.given(dead_letter_queue=True, dispatcher={"dead_letter_ignored": True})
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(raises=IgnoreMessage("not for us")))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        self.send_raw(json.dumps({"mediaType": UNKNOWN_MEDIA_TYPE}), UNKNOWN_MEDIA_TYPE)
        assert_that(self.dispatch(2), contains_exactly(Outcome.IGNORED, Outcome.IGNORED))
        outcomes = [attribute_values(raw)["pubsub_outcome"] for raw in self.dead_letters(2)]
        assert_that((outcomes, self.queue_counts()), is_(equal_to((["ignored", "ignored"], (0, 0)))))

    def test_dead_letter_ignored_needs_a_queue(self) -> None:
        """dead_letter_ignored without dead_letter_queue_url is a configuration error."""
        graph = self.given(dispatcher={"dead_letter_ignored": True})
        build: Callable[[], Any] = calling(lambda: graph.sqs_message_dispatcher)
        assert_that(build, raises(ConfigurationError, "dead_letter_queue_url"))


class RetriedAndFailedTestCase(DispatcherTestCase):
    def test_nack_zero_is_visible_at_once(self) -> None:
        """Nack(0): RETRIED and visible again at once, despite the queue's 30 s visibility timeout."""
        self.given(visibility_timeout=30)
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(raises=Nack(0)))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.RETRIED))
        assert_that(self.queue_counts(), is_(equal_to((1, 0))))

    def test_nack_with_delay_hides(self) -> None:
        """Nack(t): hidden for t seconds, on a queue that would otherwise show it again at once."""
        self.given(visibility_timeout=0)
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(raises=Nack(600)))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.RETRIED))
        assert_that(self.queue_counts(), is_(equal_to((0, 1))))

    def test_failure_with_zero_backoff_is_visible_again(self) -> None:
        """An exception: FAILED, and a zero backoff makes the message visible again at once."""
        self.given(visibility_timeout=30, consumer={"message_retry_visibility_timeout_seconds": 0})
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(raises=RuntimeError("boom")))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.FAILED))
        assert_that(self.queue_counts(), is_(equal_to((1, 0))))

    def test_failure_with_long_backoff_hides(self) -> None:
        """An exception with a long backoff hides the message on a zero-visibility queue."""
        self.given(visibility_timeout=0, consumer={"message_retry_visibility_timeout_seconds": 600})
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(raises=RuntimeError("boom")))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.FAILED))
        assert_that(self.queue_counts(), is_(equal_to((0, 1))))

    def test_failure_is_logged_with_its_fields(self) -> None:
        """A FAILED message logs a warning naming the outcome, media type and handler."""
        self.given(consumer={"message_retry_visibility_timeout_seconds": 0})
        self.handle(ThingSchema.MEDIA_TYPE, Recorder(raises=RuntimeError("boom")))
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        with self.assertLogs("microcosm_pubsub.dispatcher", "WARNING") as logs:
            self.dispatch()
        [line] = logs.output
        assert_that(line, contains_string(f"FAILED {ThingSchema.MEDIA_TYPE}"))
        assert_that(line, contains_string("receive_count=1 handler=microcosm_pubsub.tests.test_dispatcher.Recorder"))


class ExpiredTestCase(DispatcherTestCase):
    def test_expired_goes_to_the_dead_letter_queue(self) -> None:
        """Over message_max_processing_attempts: EXPIRED, dead-lettered with its reason, deleted, not handled."""
        recorder = self.given_a_second_delivery(dead_letter_queue=True)
        assert_that(self.dispatch(), contains_exactly(Outcome.EXPIRED))
        [dead] = self.dead_letters(1)
        assert_that(attribute_values(dead), has_entries(
            pubsub_outcome="expired",
            pubsub_reason=contains_string("message_max_processing_attempts=1"),
            pubsub_media_type=ThingSchema.MEDIA_TYPE,
            pubsub_receive_count="2",
        ))
        assert_that((self.queue_counts(), recorder.calls), is_(equal_to(((0, 0), []))))

    def test_expired_without_dead_letter_queue_is_deleted(self) -> None:
        """EXPIRED without a DLQ: deleted, and nothing reaches any dead-letter queue."""
        self.given_a_second_delivery(dead_letter_queue=False)
        assert_that(self.dispatch(), contains_exactly(Outcome.EXPIRED))
        assert_that((self.queue_counts(), self.dead_letters(0)), is_(equal_to(((0, 0), []))))


class InvalidTestCase(DispatcherTestCase):
    def test_not_json_is_dead_lettered_as_sent(self) -> None:
        """A body that is not JSON: INVALID, dead-lettered byte for byte with its reason, deleted."""
        self.given(dead_letter_queue=True)
        body = '{"mediaType": \t "half\n  é…'
        self.send_raw(body, ThingSchema.MEDIA_TYPE)
        assert_that(self.dispatch(), contains_exactly(Outcome.INVALID))
        [dead] = self.dead_letters(1)
        assert_that(dead["Body"], is_(equal_to(body)))
        assert_that(attribute_values(dead), has_entries(
            pubsub_outcome="invalid", pubsub_reason=contains_string("not JSON"),
        ))
        assert_that(self.queue_counts(), is_(equal_to((0, 0))))

    def test_no_media_type_is_dead_lettered(self) -> None:
        """JSON without a media type: INVALID and dead-lettered with the reason."""
        self.given(dead_letter_queue=True)
        self.send_raw(json.dumps({"name": "one"}))
        assert_that(self.dispatch(), contains_exactly(Outcome.INVALID))
        [dead] = self.dead_letters(1)
        assert_that(attribute_values(dead), has_entries(
            pubsub_reason=contains_string("no media type"), pubsub_media_type="unknown",
        ))

    def test_schema_violation_keeps_the_sns_envelope(self) -> None:
        """A schema violation delivered through SNS is dead-lettered with the envelope as received."""
        self.given(dead_letter_queue=True)
        self.handle(ThingSchema.MEDIA_TYPE, Recorder())
        # Published around the producer, whose validation would refuse it
        self.sns.publish(
            TopicArn=self.stack.topic_arn,
            Message=json.dumps({"mediaType": ThingSchema.MEDIA_TYPE, "name": 42}),
            MessageAttributes={"media_type": {"DataType": "String", "StringValue": ThingSchema.MEDIA_TYPE}},
        )
        [message] = self.receive()
        self.graph.sqs_message_dispatcher.handle_batch([message])
        [dead] = self.dead_letters(1)
        assert_that(dead["Body"], is_(equal_to(message.delivery.body)))
        assert_that(attribute_values(dead), has_entries(
            pubsub_outcome="invalid", pubsub_reason=contains_string("name"),
            pubsub_media_type=ThingSchema.MEDIA_TYPE,
        ))

    def test_invalid_without_dead_letter_queue_is_left_in_flight(self) -> None:
        """INVALID without a DLQ: not deleted, not made visible; the queue's redrive policy decides."""
        self.given(visibility_timeout=30)
        self.send_raw("not json at all", ThingSchema.MEDIA_TYPE)
        assert_that(self.dispatch(), contains_exactly(Outcome.INVALID))
        assert_that((self.queue_counts(), self.dead_letters(0)), is_(equal_to(((0, 1), []))))

    def test_only_the_invalid_message_of_a_batch_is_dead_lettered(self) -> None:
        """In a batch with good messages, only the schema-violating one reaches the DLQ."""
        self.given(dead_letter_queue=True)
        recorder = self.handle(ThingSchema.MEDIA_TYPE, Recorder())
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="good-1")
        bad = json.dumps({"mediaType": ThingSchema.MEDIA_TYPE, "createdBy": "no name"})
        self.send_raw(bad, ThingSchema.MEDIA_TYPE)
        self.graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="good-2")
        outcomes = self.dispatch(3)
        assert_that(sorted(outcome.value for outcome in outcomes), is_(equal_to(["invalid", "succeeded", "succeeded"])))
        assert_that([dead["Body"] for dead in self.dead_letters(1)], is_(equal_to([bad])))
        assert_that(sorted(call["name"] for call in recorder.calls), is_(equal_to(["good-1", "good-2"])))
        assert_that(self.queue_counts(), is_(equal_to((0, 0))))


class OpaqueDataTestCase(DispatcherTestCase):
    def test_context_reaches_produced_messages(self) -> None:
        """A message produced inside a handler carries the incoming opaque keys, not its receipt handle."""
        graph = self.given()

        def echo(message: dict[str, Any]) -> bool:
            graph.sns_producer.produce(EchoSchema.MEDIA_TYPE, name=f"echo of {message['name']}")
            return True

        self.handle(ThingSchema.MEDIA_TYPE, echo)
        with graph.opaque.initialize(lambda: {"X-Request-Id": "request-1", "X-Secret": "keep me home"}):
            graph.sns_producer.produce(ThingSchema.MEDIA_TYPE, name="one")
        assert_that(self.dispatch(), contains_exactly(Outcome.SUCCEEDED))
        [produced] = self.receive()
        assert_that(produced.media_type, is_(equal_to(EchoSchema.MEDIA_TYPE)))
        assert_that(produced.opaque_data, has_entries({"x-request-id": "request-1", "x-secret": "keep me home"}))
        assert_that(produced.opaque_data, is_not(has_key("receipt_handle")))


class EndpointDispatcherTestCase(DispatcherTestCase):
    """One path per action on the local endpoint: delete, visibility, dead letter, SNS's envelope."""

    on_endpoint = True

    test_truthy_return_succeeds_and_deletes = SucceededAndSkippedTestCase.test_truthy_return_succeeds_and_deletes
    test_nack_with_delay_hides = RetriedAndFailedTestCase.test_nack_with_delay_hides
    test_nack_zero_is_visible_at_once = RetriedAndFailedTestCase.test_nack_zero_is_visible_at_once
    test_expired_goes_to_the_dead_letter_queue = ExpiredTestCase.test_expired_goes_to_the_dead_letter_queue
    test_schema_violation_keeps_the_sns_envelope = InvalidTestCase.test_schema_violation_keeps_the_sns_envelope
