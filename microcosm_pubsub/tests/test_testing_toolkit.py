"""The testing toolkit: recording producer, synchronous and eager dispatch, integration environment."""
from __future__ import annotations

import importlib
import os
import sys
import threading
import unittest
from typing import Any
from unittest.mock import patch

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    empty,
    ends_with,
    equal_to,
    has_entries,
    has_entry,
    has_key,
    has_length,
    instance_of,
    is_,
    none,
    raises,
)
from marshmallow import ValidationError, fields
from microcosm.api import binding, create_object_graph, load_from_dict

import microcosm_pubsub.testing
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.conventions import changed, created
from microcosm_pubsub.produce.producer import SNSProducer
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema
from microcosm_pubsub.testing import (
    EagerLoopError,
    IntegrationEnvironment,
    PublishCapture,
    RecordingProducer,
    capture_published,
    dispatch,
    dispatch_body,
    lambda_event,
    lambda_sns_record,
    recording_producer,
    testing_daemon,
    testing_graph,
)
from microcosm_pubsub.testing.pytest_plugin import environment_fixture, published_fixture
from microcosm_pubsub.testing.stubs import TestingTopics
from microcosm_pubsub.tests.fixtures import endpoint, environ
from microcosm_pubsub.wire.errors import ConfigurationError, Nack, RetryInvocationError, TopicNotDefinedError


GADGET = created("toolkit_gadget")
GADGET_CHANGED = changed("toolkit_gadget")


@schema
class GadgetSchema(PubSubMessageSchema):
    MEDIA_TYPE = GADGET
    name = fields.String(required=True)
    size = fields.Integer(load_default=1)


@schema
class GadgetChangedSchema(PubSubMessageSchema):
    MEDIA_TYPE = GADGET_CHANGED
    name = fields.String(required=True)


class Recorder:
    """A handler that keeps what it was given and returns (or raises) what it is told to."""

    def __init__(self, returns: Any = True, raises: BaseException | None = None) -> None:
        self.contents: list[dict[str, Any]] = []
        self.returns = returns
        self.raises = raises

    def __call__(self, content: dict[str, Any]) -> Any:
        self.contents.append(content)
        if self.raises is not None:
            raise self.raises
        return self.returns


@binding("toolkit_gadget_handler")
@handles(GadgetSchema)
class GadgetHandler(Recorder):
    """The Recorder as a daemon's component: fails on a gadget named "broken"."""

    def __init__(self, graph: Any) -> None:
        super().__init__()

    def __call__(self, content: dict[str, Any]) -> Any:
        if content["name"] == "broken":
            raise RuntimeError("broken gadget")
        return super().__call__(content)


class GadgetDaemon(ConsumerDaemon):
    name = "toolkit_gadget"

    @property
    def components(self) -> list[str]:
        return [*super().components, "toolkit_gadget_handler"]


class TestRecordingProducer(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = testing_graph()
        self.producer = self.graph.sns_producer

    def test_selected_by_configuration(self) -> None:
        """sns_producer.record selects the recording producer; without it the graph publishes to SNS."""
        real = create_object_graph("toolkit", testing=True, loader=load_from_dict({}))
        configured = create_object_graph("toolkit", loader=load_from_dict(sns_producer={"record": "true"}))
        assert_that(type(real.sns_producer), is_(equal_to(SNSProducer)))
        assert_that(configured.sns_producer, is_(instance_of(RecordingProducer)))

    def test_records_the_message(self) -> None:
        """A produced message is recorded with its topic, media type, decoded content and attributes."""
        message_id = self.producer.produce(GADGET, name="sprocket")

        [recorded] = self.producer.messages
        assert_that(recorded.message_id, is_(equal_to(message_id)))
        assert_that(recorded.topic_arn, is_(equal_to(self.graph.config.sns_topic_arns.default)))
        assert_that(recorded.media_type, is_(equal_to(GADGET)))
        assert_that(recorded.content, has_entries(name="sprocket", size=1, media_type=GADGET))
        assert_that(recorded.attributes, has_entry("media_type", {"DataType": "String", "StringValue": GADGET}))
        assert_that(recorded.opaque_data, has_key("x-request-published"))

    def test_validates_before_recording(self) -> None:
        """Content that does not fit its schema raises ValidationError and records nothing."""
        assert_that(calling(self.producer.produce).with_args(GADGET, size=2), raises(ValidationError, "name"))
        assert_that(self.producer.messages, is_(empty()))

    def test_resolves_topics(self) -> None:
        """Topic resolution runs as in production: mappings win, no topic is an error."""
        mapped = testing_graph(sns_topic_arns={"mappings": {GADGET: "arn:aws:sns:us-east-1:000000000000:gadgets"}})
        mapped.sns_producer.produce(GADGET, name="cog")
        unmapped = testing_graph(sns_topic_arns={"default": ""})

        assert_that(mapped.sns_producer.messages[0].topic_arn, ends_with(":gadgets"))
        assert_that(calling(unmapped.sns_producer.produce).with_args(GADGET, name="cog"), raises(TopicNotDefinedError))

    def test_deferred_records_only_on_success(self) -> None:
        """A deferred block records its messages on a clean exit, and none when it raises."""
        with self.producer.deferred():
            self.producer.produce(GADGET, name="one")
            self.producer.produce(GADGET, name="two")
            assert_that(self.producer.messages, is_(empty()))
        with self.assertRaises(RuntimeError), self.producer.deferred():
            self.producer.produce(GADGET, name="three")
            raise RuntimeError("abandon the block")

        assert_that([message.content["name"] for message in self.producer.messages], contains_exactly("one", "two"))

    def test_skip_records_nothing(self) -> None:
        """With sns_producer.skip set, produce returns None and records nothing, as it publishes nothing."""
        graph = testing_graph(sns_producer={"skip": True})
        assert_that(graph.sns_producer.produce(GADGET, name="cog"), is_(none()))
        assert_that(graph.sns_producer.messages, is_(empty()))

    def test_never_builds_an_sns_client(self) -> None:
        """Recording needs no SNS client, so no test can reach SNS through it."""
        self.producer.produce(GADGET, name="cog")
        assert_that(self.graph.get("sns_client"), is_(none()))

    def test_records_from_many_threads(self) -> None:
        """Messages produced from several threads at once are all recorded, each with its own id."""
        def produce_many(thread: int) -> None:
            for index in range(20):
                self.producer.produce(GADGET, name=f"{thread}-{index}")

        threads = [threading.Thread(target=produce_many, args=(thread,)) for thread in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

        assert_that({message.message_id for message in self.producer.messages}, has_length(100))

    def test_clear_forgets(self) -> None:
        """clear() forgets every recorded message."""
        self.producer.produce(GADGET, name="cog")
        self.producer.clear()
        assert_that(self.producer.messages, is_(empty()))

    def test_helper_refuses_a_real_producer(self) -> None:
        """recording_producer() says how to fix a graph that would publish for real."""
        real = create_object_graph("toolkit", testing=True, loader=load_from_dict({}))
        assert_that(calling(recording_producer).with_args(real), raises(ConfigurationError, "sns_producer.record"))


class TestDispatch(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = testing_graph()
        self.handler = Recorder()
        self.graph.sqs_message_handler_registry.register(GADGET, self.handler)

    def test_handler_receives_decoded_content(self) -> None:
        """dispatch encodes, wraps in SNS's envelope, decodes and calls the handler: SUCCEEDED."""
        result = dispatch(self.graph, GADGET, {"name": "cog", "size": 3})

        assert_that(result.outcome, is_(equal_to(Outcome.SUCCEEDED)))
        assert_that(self.handler.contents, contains_exactly(has_entries(name="cog", size=3, media_type=GADGET)))
        assert_that(result.message.topic_arn, is_(equal_to(self.graph.config.sns_topic_arns.default)))

    def test_nack_is_retried(self) -> None:
        """A handler's Nack gives RETRIED with its delay."""
        self.handler.raises = Nack(7)
        result = dispatch(self.graph, GADGET, {"name": "cog"})
        assert_that((result.outcome, result.retry_seconds), is_(equal_to((Outcome.RETRIED, 7))))

    def test_exception_fails(self) -> None:
        """Any other exception gives FAILED, carrying the error."""
        self.handler.raises = KeyError("missing")
        result = dispatch(self.graph, GADGET, {"name": "cog"})
        assert_that(result.outcome, is_(equal_to(Outcome.FAILED)))
        assert_that(result.error, is_(instance_of(KeyError)))

    def test_no_handler_is_ignored(self) -> None:
        """A media type without a handler gives IGNORED."""
        assert_that(dispatch(self.graph, GADGET_CHANGED, {"name": "cog"}).outcome, is_(equal_to(Outcome.IGNORED)))

    def test_unreadable_body_is_invalid(self) -> None:
        """A body that is not JSON gives INVALID, and the handler is not called."""
        result = dispatch_body(self.graph, "{not json", GADGET)
        assert_that(result.outcome, is_(equal_to(Outcome.INVALID)))
        assert_that(self.handler.contents, is_(empty()))

    def test_raw_delivery(self) -> None:
        """With raw delivery the media type comes from the SQS attributes and there is no topic."""
        result = dispatch(self.graph, GADGET, {"name": "cog"}, raw=True)
        assert_that((result.outcome, result.message.topic_arn), is_(equal_to((Outcome.SUCCEEDED, None))))

    def test_receive_count_reaches_the_dispatcher(self) -> None:
        """The receive count given is the message's, so expiry can be tested."""
        graph = testing_graph(sqs_message_dispatcher={"message_max_processing_attempts": 2})
        graph.sqs_message_handler_registry.register(GADGET, self.handler)
        result = dispatch(graph, GADGET, {"name": "cog"}, receive_count=3)
        assert_that((result.outcome, result.message.approximate_receive_count), is_(equal_to((Outcome.EXPIRED, 3))))

    def test_opaque_data_reaches_the_handler_context(self) -> None:
        """Opaque data given to dispatch is the handler's context, custom keys included (as in the old package)."""
        seen: list[dict[str, Any]] = []

        def handler(content: dict[str, Any]) -> bool:
            seen.append(dict(self.graph.opaque.as_dict()))
            return True

        self.graph.sqs_message_handler_registry.register(GADGET, handler)
        dispatch(self.graph, GADGET, {"name": "cog"}, opaque_data={"X-Request-Id": "r-1", "private": "p"})
        assert_that(seen, contains_exactly(has_entries({"x-request-id": "r-1", "private": "p"})))

    def test_settles_nothing(self) -> None:
        """Dispatch never talks to SQS: the graph builds no SQS client."""
        dispatch(self.graph, GADGET, {"name": "cog"})
        assert_that(self.graph.get("sqs_client"), is_(none()))


class TestLambdaSNSEvent(unittest.TestCase):
    def setUp(self) -> None:
        self.daemon = testing_daemon(GadgetDaemon)
        self.producer = self.daemon.graph.sns_producer
        self.handle = self.daemon.make_lambda_handler()

    def test_recorded_message_reaches_the_handler(self) -> None:
        """An SNS event built from a recorded message runs the daemon's handler with its content."""
        self.producer.produce(GADGET, name="sprocket", size=2)
        event = lambda_event(lambda_sns_record(self.producer.messages[0]))

        self.handle(event, None)

        assert_that(self.daemon.graph.toolkit_gadget_handler.contents, contains_exactly(
            has_entries(name="sprocket", size=2, media_type=GADGET),
        ))

    def test_failed_record_fails_the_invocation_naming_it(self) -> None:
        """A record whose handler fails makes the invocation raise, naming that record's message id."""
        self.producer.produce(GADGET, name="sprocket")
        self.producer.produce(GADGET, name="broken")
        good, broken = self.producer.messages

        assert_that(
            calling(self.handle).with_args(lambda_event(lambda_sns_record(good), lambda_sns_record(broken)), None),
            raises(RetryInvocationError, broken.message_id),
        )
        assert_that(self.daemon.graph.toolkit_gadget_handler.contents, contains_exactly(has_entries(name="sprocket")))

    def test_record_is_shaped_as_lambda_delivers_it(self) -> None:
        """The record has Lambda's keys for an SNS subscription, the body and attributes as published."""
        record = lambda_sns_record('{"mediaType": "a.b"}', {"media_type": {"DataType": "String", "StringValue": "a.b"}})

        assert_that(record, has_entries(EventSource="aws:sns", EventVersion="1.0", Sns=has_entries(
            Type="Notification", Message='{"mediaType": "a.b"}', SigningCertUrl=ends_with(".pem"),
            MessageAttributes=has_entries(media_type=has_entries(Type="String", Value="a.b")),
        )))


class TestEagerDispatch(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = testing_graph(eager=True)
        self.changed = Recorder()

        def on_created(content: dict[str, Any]) -> bool:
            self.graph.sns_producer.produce(GADGET_CHANGED, name=content["name"])
            return True

        self.graph.sqs_message_handler_registry.register(GADGET, on_created)
        self.graph.sqs_message_handler_registry.register(GADGET_CHANGED, self.changed)

    def test_produce_runs_handlers_at_once(self) -> None:
        """Producing runs the handler, whose own message is handled before produce returns."""
        self.graph.sns_producer.produce(GADGET, name="cog")

        assert_that(self.changed.contents, contains_exactly(has_entries(name="cog")))
        assert_that([result.outcome for result in self.graph.sns_producer.results],
                    contains_exactly(Outcome.SUCCEEDED, Outcome.SUCCEEDED))

    def test_failure_propagates(self) -> None:
        """A handler failing under eager dispatch raises from produce, as the test should see it."""
        self.changed.raises = ValueError("broken")
        produce = calling(self.graph.sns_producer.produce).with_args(GADGET, name="cog")
        assert_that(produce, raises(ValueError, "broken"))

    def test_failure_recorded_without_propagation(self) -> None:
        """With propagate off, a failing handler leaves a FAILED result instead of raising."""
        self.changed.raises = ValueError("broken")
        self.graph.sns_producer.propagate = False
        self.graph.sns_producer.produce(GADGET, name="cog")
        assert_that([result.outcome for result in self.graph.sns_producer.results],
                    contains_exactly(Outcome.FAILED, Outcome.SUCCEEDED))

    def test_loop_is_bounded(self) -> None:
        """A handler producing what it handles stops with EagerLoopError instead of recursing forever."""
        self.graph.sqs_message_handler_registry.register(
            GADGET_CHANGED, lambda content: self.graph.sns_producer.produce(GADGET_CHANGED, name=content["name"]),
        )
        assert_that(calling(self.graph.sns_producer.produce).with_args(GADGET_CHANGED, name="cog"),
                    raises(EagerLoopError))

    def test_deferred_dispatches_on_exit(self) -> None:
        """Messages of a deferred block are handled when the block exits, not before."""
        with self.graph.sns_producer.deferred():
            self.graph.sns_producer.produce(GADGET_CHANGED, name="cog")
            assert_that(self.changed.contents, is_(empty()))
        assert_that(self.changed.contents, has_length(1))


class TestIntegrationEnvironment(unittest.TestCase):
    def setUp(self) -> None:
        self.environment = IntegrationEnvironment.setup(self, name="toolkit", endpoint=endpoint())
        self.graph = self.environment.graph()

    def test_graph_publishes_to_the_queue(self) -> None:
        """A graph of the environment publishes for real: the message reaches the queue and the observer."""
        message_id = self.graph.sns_producer.produce(GADGET, name="cog")

        [received] = self.environment.drain()
        assert_that(received.message_id, is_(equal_to(message_id)))
        assert_that(received.content, has_entries(name="cog"))
        assert_that([message.message_id for message in self.environment.published()], contains_exactly(message_id))

    def test_consume_handles_and_settles(self) -> None:
        """consume() handles the queue's messages and deletes them: the queue is empty afterwards."""
        handler = Recorder()
        self.graph.sqs_message_handler_registry.register(GADGET, handler)
        self.graph.sns_producer.produce(GADGET, name="cog")

        results = self.environment.consume(self.graph)

        assert_that([result.outcome for result in results], contains_exactly(Outcome.SUCCEEDED))
        assert_that(self.environment.drain(), is_(empty()))

    def test_invalid_message_is_dead_lettered(self) -> None:
        """An unreadable message goes to the environment's dead-letter queue with its reason."""
        self.graph.sqs_client.send_message(QueueUrl=self.environment.queue_url, MessageBody="{not json")

        [result] = self.environment.consume(self.graph)
        [dead] = self.environment.dead_letters()

        assert_that(result.outcome, is_(equal_to(Outcome.INVALID)))
        assert_that(dead.delivery.attributes["pubsub_outcome"]["StringValue"], is_(equal_to("invalid")))


class TestEnvironmentLifecycle(unittest.TestCase):
    def test_not_started_says_so(self) -> None:
        """Using an environment before start() raises a ConfigurationError that says what to do."""
        assert_that(calling(IntegrationEnvironment().config), raises(ConfigurationError, "start"))

    def test_topic_per_media_type(self) -> None:
        """With media types given, each gets its own topic, mapped in sns_topic_arns.mappings."""
        media_types = [GADGET, GADGET_CHANGED]
        with IntegrationEnvironment(name="toolkit", media_types=media_types, endpoint=endpoint()) as environment:
            graph = environment.graph()
            graph.sns_producer.produce(GADGET_CHANGED, name="cog")
            [received] = environment.drain()

            assert_that(graph.config.sns_topic_arns.mappings, has_length(2))
            assert_that(received.topic_arn, is_(equal_to(environment.topic_arns[GADGET_CHANGED])))

    def test_credentials_are_dummy_only_while_started(self) -> None:
        """While started, AWS credentials are dummy ones and AWS_PROFILE is unset; stop restores both."""
        self.enterContext(environ(AWS_PROFILE="production"))
        with IntegrationEnvironment(name="toolkit", endpoint=endpoint()):
            inside = (os.environ.get("AWS_PROFILE"), os.environ["AWS_ACCESS_KEY_ID"])
        assert_that(inside, is_(equal_to((None, "testing"))))
        assert_that(os.environ.get("AWS_PROFILE"), is_(equal_to("production")))

    def test_pytest_fixture_body(self) -> None:
        """The pytest fixture's body starts an environment for the test and stops it afterwards."""
        fixture = environment_fixture({"name": "toolkit", "endpoint": endpoint()})
        environment = next(fixture)
        started = environment.resources is not None
        assert_that(calling(next).with_args(fixture), raises(StopIteration))
        assert_that((started, environment.resources), is_(equal_to((True, None))))


class TestNotCollected(unittest.TestCase):
    def test_helpers_named_like_tests_opt_out_of_pytest(self) -> None:
        """Every helper of microcosm_pubsub.testing named test*/Test* says `__test__ = False`, which pytest reads."""
        named_like_tests = [
            getattr(microcosm_pubsub.testing, name) for name in microcosm_pubsub.testing.__all__
            if name.lower().startswith("test")
        ]
        assert_that(named_like_tests, has_length(3))
        assert_that([getattr(helper, "__test__", True) for helper in [*named_like_tests, TestingTopics]],
                    is_(equal_to([False] * 4)))

    def test_helper_functions_escape_nose2(self) -> None:
        """nose2 collects functions by their own __name__: the helpers' names do not start with test."""
        names = [microcosm_pubsub.testing.testing_graph.__name__, microcosm_pubsub.testing.testing_config.__name__]
        assert_that(names, is_(equal_to(["make_testing_graph", "make_testing_config"])))


class TestMissingHamcrest(unittest.TestCase):
    def test_import_error_names_the_extra(self) -> None:
        """Without PyHamcrest, importing the matchers raises an ImportError naming the testing extra."""
        hidden = {"hamcrest": None, "microcosm_pubsub.testing.matchers": None, "microcosm_pubsub.matchers": None}
        with patch.dict(sys.modules, hidden):
            del sys.modules["microcosm_pubsub.testing.matchers"], sys.modules["microcosm_pubsub.matchers"]
            for module in ("microcosm_pubsub.testing.matchers", "microcosm_pubsub.matchers"):
                assert_that(calling(importlib.import_module).with_args(module),
                            raises(ImportError, r"microcosm_pubsub\[testing\]"))


class TestPublishCapture(unittest.TestCase):
    def test_captures_a_producer_that_would_publish(self) -> None:
        """Inside a capture, a graph that would publish records instead; its SNS client is never called."""
        graph: Any = create_object_graph("toolkit", testing=True, loader=load_from_dict(
            sns_topic_arns={"default": "arn:aws:sns:us-east-1:000000000000:gadgets"},
        ))
        with capture_published() as published:
            message_id = graph.sns_producer.produce(GADGET, name="cog")

        assert_that(published.assert_published(GADGET, name="cog").message_id, is_(equal_to(message_id)))
        assert_that(graph.sns_client.publish.call_count, is_(equal_to(0)))

    def test_publishes_again_after_the_capture(self) -> None:
        """Once the capture is closed, the producer publishes through its client again."""
        graph: Any = create_object_graph("toolkit", testing=True, loader=load_from_dict(
            sns_topic_arns={"default": "arn:aws:sns:us-east-1:000000000000:gadgets"},
        ))
        with capture_published():
            graph.sns_producer.produce(GADGET, name="captured")
        graph.sns_producer.produce(GADGET, name="published")

        assert_that(graph.sns_client.publish.call_count, is_(equal_to(1)))

    def test_captures_a_recording_producer_and_batches(self) -> None:
        """A recording producer's messages, deferred (batched) ones included, are captured too."""
        graph = testing_graph()
        with capture_published() as published, graph.sns_producer.deferred():
            graph.sns_producer.produce(GADGET, name="one")
            graph.sns_producer.produce(GADGET_CHANGED, name="two")

        published.assert_published_in_order((GADGET, {"name": "one"}), (GADGET_CHANGED, {"name": "two"}))
        assert_that(graph.sns_producer.messages, has_length(2))

    def test_sees_only_what_was_published_while_open(self) -> None:
        """A capture holds the messages published while it was open, not before nor after."""
        graph = testing_graph()
        graph.sns_producer.produce(GADGET, name="before")
        with capture_published() as published:
            graph.sns_producer.produce(GADGET, name="during")
        graph.sns_producer.produce(GADGET, name="after")

        published.assert_published_inanyorder((GADGET, {"name": "during"}))

    def test_failed_assertion_shows_what_was_published(self) -> None:
        """A failed assert_published says what was published instead."""
        graph = testing_graph()
        with capture_published() as published:
            graph.sns_producer.produce(GADGET, name="cog")

        assert_that(calling(published.assert_published).with_args(GADGET, name="sprocket"),
                    raises(AssertionError, "value for 'name' was 'cog'"))

    def test_assert_not_published(self) -> None:
        """assert_not_published passes for what was not published and fails for what was."""
        graph = testing_graph()
        with capture_published() as published:
            graph.sns_producer.produce(GADGET, name="cog")

        published.assert_not_published(GADGET_CHANGED)
        assert_that(calling(published.assert_not_published).with_args(), raises(AssertionError, "published 1"))

    def test_setup_closes_in_cleanup(self) -> None:
        """PublishCapture.setup(testcase) opens a capture that the test's cleanup closes."""
        capture = PublishCapture.setup(self)
        opened = capture.active
        self.doCleanups()
        assert_that((opened, capture.active), is_(equal_to((True, False))))

    def test_pytest_fixture_body(self) -> None:
        """The pytest fixture's body opens a capture for the test and closes it afterwards."""
        fixture = published_fixture()
        capture = next(fixture)
        opened = capture.active
        assert_that(calling(next).with_args(fixture), raises(StopIteration))
        assert_that((opened, capture.active), is_(equal_to((True, False))))
