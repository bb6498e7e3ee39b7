"""Matchers over published messages: what they accept, and what their failures say."""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import (
    all_of,
    assert_that,
    calling,
    contains_string,
    equal_to,
    greater_than,
    has_entries,
    instance_of,
    is_,
    is_not,
    raises,
    starts_with,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub import matchers as old
from microcosm_pubsub.conventions import created, deleted
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.testing import IntegrationEnvironment, RecordingProducer, dispatch, testing_graph
from microcosm_pubsub.testing.events import TESTING_TOPIC_ARN
from microcosm_pubsub.testing.matchers import a_message, not_published, published, published_inanyorder
from microcosm_pubsub.tests.fixtures import endpoint


WIDGET = created("matcher_widget")
WIDGET_DELETED = deleted("matcher_widget")


@schema
class WidgetSchema(PubSubMessageSchema):
    MEDIA_TYPE = WIDGET
    name = fields.String(required=True)
    count = fields.Integer(load_default=0)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    uri = fields.String()


@schema
class WidgetDeletedSchema(PubSubMessageSchema):
    MEDIA_TYPE = WIDGET_DELETED
    name = fields.String(required=True)


ACME = "application/vnd.acme.gizmo"


@schema
class AcmeSchema(PubSubMessageSchema):
    MEDIA_TYPE = ACME
    name = fields.String(required=True)


def failure(source: Any, matcher: Any) -> str:
    """The text assert_that fails with."""
    try:
        assert_that(source, matcher)
    except AssertionError as error:
        return str(error)
    raise AssertionError(f"{matcher} matched {source!r}")


class TestMatching(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = testing_graph()
        self.producer = self.graph.sns_producer

    def test_published_by_media_type_and_fields(self) -> None:
        """published() matches a recorded message by media type and plain field values."""
        self.producer.produce(WIDGET, name="gear", count=2)
        assert_that(self.producer, published(WIDGET, name="gear", count=2))

    def test_field_values_may_be_matchers(self) -> None:
        """Field values may be matchers, nested content included."""
        self.producer.produce(WIDGET, name="gearbox", count=3, labels={"colour": "red", "size": "l"})
        assert_that(self.producer, published(
            WIDGET, name=contains_string("box"), count=greater_than(2), labels=has_entries(colour="red"),
        ))

    def test_media_type_and_content_may_be_matchers(self) -> None:
        """The media type and the whole content may be matchers too."""
        self.producer.produce(WIDGET, name="gear")
        assert_that(self.producer, published(starts_with("application/vnd."), has_entries(name="gear")))

    def test_graph_and_lists_are_sources(self) -> None:
        """A recording graph, and a list of recorded messages, are sources like the producer."""
        self.producer.produce(WIDGET, name="gear")
        assert_that(self.graph, published(WIDGET, name="gear"))
        assert_that(self.producer.messages, published(WIDGET, name="gear"))

    def test_handled_messages_are_sources(self) -> None:
        """Messages that went through the consumer (SQSMessage, or a handling result) can be matched."""
        result = dispatch(self.graph, WIDGET, {"name": "gear"})
        assert_that([result.message], published(WIDGET, name="gear"))
        assert_that([result], published(WIDGET, name="gear"))

    def test_not_published(self) -> None:
        """not_published() matches when no message has the media type (and fields) given."""
        self.producer.produce(WIDGET, name="gear")
        assert_that(self.producer, not_published(WIDGET_DELETED))
        assert_that(self.producer, not_published(WIDGET, name="cog"))
        assert_that(testing_graph().sns_producer, not_published())

    def test_in_any_order(self) -> None:
        """published_inanyorder() matches exactly the expected messages, whatever their order."""
        self.producer.produce(WIDGET, name="gear")
        self.producer.produce(WIDGET_DELETED, name="cog")
        assert_that(self.producer, published_inanyorder(
            (WIDGET_DELETED, {"name": "cog"}), a_message(WIDGET, name="gear"),
        ))
        assert_that(self.producer, is_not(published_inanyorder(WIDGET)))

    def test_in_any_order_is_not_greedy(self) -> None:
        """A loose expectation does not take the only message a stricter one matches."""
        self.producer.produce(WIDGET, name="gear")
        self.producer.produce(WIDGET, name="cog")
        assert_that(self.producer, published_inanyorder(a_message(WIDGET), a_message(WIDGET, name="gear")))

    def test_a_message_matches_one_message(self) -> None:
        """a_message() matches a single recorded message."""
        self.producer.produce(WIDGET, name="gear")
        assert_that(self.producer.messages[0], a_message(WIDGET, name="gear"))

    def test_delivered_messages(self) -> None:
        """Messages really delivered through SNS and SQS, as drained, are matched alike."""
        with IntegrationEnvironment(name="matchers", endpoint=endpoint()) as environment:
            environment.graph().sns_producer.produce(WIDGET, name="gear", count=1)
            assert_that(environment.published(), published(WIDGET, name="gear", count=1))


class TestDescriptions(unittest.TestCase):
    def setUp(self) -> None:
        self.producer = testing_graph().sns_producer

    def test_wrong_field(self) -> None:
        """A wrong field names the field, its value, and the content published."""
        self.producer.produce(WIDGET, name="cog", count=1)
        text = failure(self.producer, published(WIDGET, name="gear"))

        assert_that(text, contains_string(f"a published message of media type '{WIDGET}' with content "
                                          "a dictionary containing {'name': 'gear'}"))
        assert_that(text, contains_string("published 1 message(s) of this media type, none matching:"))
        assert_that(text, contains_string("{'name': 'cog', 'count': 1, 'labels': {}}: value for 'name' was 'cog'"))

    def test_wrong_media_type(self) -> None:
        """A wrong media type says so and lists what was published instead."""
        self.producer.produce(WIDGET_DELETED, name="gear")
        text = failure(self.producer, published(WIDGET, name="gear"))

        assert_that(text, contains_string(f"published no message of media type '{WIDGET}'; published instead:"))
        assert_that(text, contains_string(f"- '{WIDGET_DELETED}' {{'name': 'gear'}}"))

    def test_missing_message(self) -> None:
        """Nothing published says exactly that."""
        assert_that(failure(self.producer, published(WIDGET)), contains_string("but: nothing was published"))

    def test_unwanted_message(self) -> None:
        """not_published() lists the messages that should not have been published."""
        self.producer.produce(WIDGET, name="gear")
        text = failure(self.producer, not_published(WIDGET, name="gear"))

        assert_that(text, contains_string(f"Expected: no published message of media type '{WIDGET}'"))
        assert_that(text, contains_string(f"but: published 1 such message(s):\n    - '{WIDGET}' {{'name': 'gear'"))

    def test_in_any_order_missing_and_unexpected(self) -> None:
        """published_inanyorder() names the expectation nothing matched and the message nothing expected."""
        self.producer.produce(WIDGET, name="gear")
        self.producer.produce(WIDGET_DELETED, name="cog")
        matcher = published_inanyorder(a_message(WIDGET, name="gear"), a_message(WIDGET, name="cog"))
        text = failure(self.producer, matcher)

        assert_that(text, contains_string(
            f"nothing published matched [a message of media type '{WIDGET}' with content "
            "a dictionary containing {'name': 'cog'}]"
        ))
        assert_that(text, contains_string(f"1 unexpected:\n    - '{WIDGET_DELETED}' {{'name': 'cog'}}"))

    def test_source_that_is_not_messages(self) -> None:
        """Something that holds no messages is described as such."""
        text = failure("not messages", published(WIDGET))
        assert_that(text, contains_string("neither a recording producer, a stub SNS client, nor a list"))

    def test_graph_that_does_not_record(self) -> None:
        """A graph that publishes for real says how to make it record."""
        config: dict[str, Any] = {"sns_producer": {"endpoint_url": endpoint().url, "region_name": "us-east-1"}}
        graph: Any = create_object_graph("matchers", testing=True, loader=load_from_dict(config))
        self.addCleanup(graph.sns_client.close)
        assert_that(failure(graph, published(WIDGET)), contains_string("set sns_producer.record"))

    def test_bad_expectation_is_refused(self) -> None:
        """published_inanyorder() refuses what is not an expected message, at once."""
        assert_that(calling(published_inanyorder).with_args(42), raises(TypeError, "a_message"))


def old_testing_graph(**producer: Any) -> Any:
    """A testing graph with no endpoint, as old service tests build it: stub clients."""
    config = {"sns_producer": producer, "sns_topic_arns": {"default": "topic"}}
    return create_object_graph("matchers", testing=True, loader=load_from_dict(config))


class TestOldMatchersOnStubClient(unittest.TestCase):
    """microcosm_pubsub.matchers read what the producer asked the stub SNS client to publish."""

    def setUp(self) -> None:
        self.graph = old_testing_graph()
        self.producer = self.graph.sns_producer

    def test_nothing_published(self) -> None:
        """published_nothing() holds before any produce."""
        assert_that(self.producer, old.published_nothing())

    def test_published_in_order(self) -> None:
        """published() matches the messages in the order they were produced."""
        self.producer.produce(WIDGET, name="a", uri="http://a")
        self.producer.produce(WIDGET_DELETED, name="b")
        assert_that(self.producer, old.published(
            all_of(old.has_media_type(WIDGET), old.has_uri("http://a")), old.has_media_type(WIDGET_DELETED),
        ))

    def test_published_out_of_order_fails(self) -> None:
        """published() fails when the order differs, naming the first message that does not match."""
        self.producer.produce(WIDGET, name="a")
        self.producer.produce(WIDGET_DELETED, name="b")
        text = failure(self.producer, old.published(old.has_media_type(WIDGET_DELETED), old.has_media_type(WIDGET)))
        assert_that(text, contains_string("message 1"))

    def test_published_in_any_order(self) -> None:
        """published_inanyorder() ignores the order but not the count."""
        self.producer.produce(WIDGET, name="a")
        self.producer.produce(WIDGET_DELETED, name="b")
        assert_that(self.producer, old.published_inanyorder(
            old.has_media_type(WIDGET_DELETED), old.has_media_type(WIDGET),
        ))
        assert_that(self.producer, is_not(old.published_inanyorder(old.has_media_type(WIDGET))))

    def test_positional_content_is_seen(self) -> None:
        """Content passed as a positional dict is seen, which the old matchers missed."""
        self.producer.produce(WIDGET, {"name": "a", "uri": "http://positional"})
        assert_that(self.producer, old.published(old.has_uri("http://positional")))

    def test_any_media_type_is_seen(self) -> None:
        """A media type outside application/vnd.globality is seen, which the old matchers missed."""
        self.producer.produce(ACME, name="a")
        assert_that(self.graph, old.published(old.has_media_type(ACME)))

    def test_fields_match_as_the_handler_receives_them(self) -> None:
        """The new a_message() works on the same source, with content as a handler receives it."""
        self.producer.produce(WIDGET, name="a", count=3)
        assert_that(self.producer, old.published(a_message(WIDGET, name="a", count=greater_than(2))))
        assert_that(self.producer, published(WIDGET, name="a"))

    def test_stub_client_is_a_source(self) -> None:
        """The stub client itself can be matched, and read as old PublishedMessages."""
        self.producer.produce(WIDGET, name="a", uri="http://a")
        assert_that(self.graph.sns_client, old.published(old.has_uri()))
        [message] = old.published_messages_for(self.graph.sns_client)
        assert_that(message.topic_arn, is_(equal_to("topic")))
        assert_that(message.message, has_entries(mediaType=WIDGET, name="a"))

    def test_strict_is_accepted(self) -> None:
        """strict= is accepted; published(strict=False) matches in any order."""
        self.producer.produce(WIDGET, name="a")
        self.producer.produce(WIDGET_DELETED, name="b")
        assert_that(self.producer, old.published(
            old.has_media_type(WIDGET_DELETED), old.has_media_type(WIDGET), strict=False,
        ))
        assert_that(self.producer, is_not(old.published_nothing(strict=False)))

    def test_has_uri_needs_a_uri(self) -> None:
        """has_uri() with no argument fails on a message without a uri."""
        self.producer.produce(WIDGET, name="a")
        assert_that(self.producer, is_not(old.published(old.has_uri())))


class TestOldMatchersOnRecordingProducer(unittest.TestCase):
    """With mock_sns=False the producer records, and the old matchers read what it recorded."""

    def setUp(self) -> None:
        self.graph = old_testing_graph(mock_sns=False)
        self.producer = self.graph.sns_producer

    def test_recording_producer_is_chosen(self) -> None:
        """mock_sns=False in a testing graph gives the recording producer."""
        assert_that(self.producer, is_(instance_of(RecordingProducer)))

    def test_produce_is_inspectable_like_a_mock(self) -> None:
        """produce records its calls (call_count, assert_called_with) and still returns a message id."""
        message_id = self.producer.produce(WIDGET, name="a")
        assert_that(self.producer.produce.call_count, is_(equal_to(1)))
        self.producer.produce.assert_called_with(WIDGET, name="a")
        assert_that(message_id, is_(equal_to(self.producer.messages[0].message_id)))

    def test_old_matchers_read_recordings(self) -> None:
        """published() and published_messages_for() read the recorded messages."""
        self.producer.produce(WIDGET, {"name": "a", "uri": "http://a"})
        assert_that(self.producer, old.published(all_of(old.has_media_type(WIDGET), old.has_uri("http://a"))))
        [message] = old.published_messages_for(self.graph)
        assert_that(message.message, has_entries(mediaType=WIDGET, uri="http://a"))

    def test_unmapped_media_type_goes_to_the_testing_topic(self) -> None:
        """With no topic configured for a media type, the old testing producer records it on the testing topic."""
        graph: Any = create_object_graph("matchers", testing=True, loader=load_from_dict(
            {"sns_producer": {"mock_sns": False}},
        ))
        graph.sns_producer.produce(WIDGET, name="a")
        [message] = graph.sns_producer.messages
        assert_that(message.topic_arn, is_(equal_to(TESTING_TOPIC_ARN)))

    def test_string_flag_from_the_environment(self) -> None:
        """mock_sns given as the string "false" (an environment variable) counts as false."""
        graph = old_testing_graph(mock_sns="false")
        assert_that(graph.sns_producer, is_(instance_of(RecordingProducer)))

    def test_with_an_endpoint_mock_sns_is_ignored(self) -> None:
        """mock_sns=False with an SNS endpoint configured changes nothing: the producer publishes there."""
        config = {"sns_producer": {"mock_sns": False, "endpoint_url": endpoint().url, "region_name": "us-east-1"}}
        graph: Any = create_object_graph("matchers", testing=True, loader=load_from_dict(config))
        self.addCleanup(graph.sns_client.close)
        assert_that(graph.sns_producer, is_not(instance_of(RecordingProducer)))

    def test_outside_testing_mock_sns_is_ignored(self) -> None:
        """mock_sns=False outside a testing graph changes nothing: the producer publishes."""
        config = {"sns_producer": {"mock_sns": False, "region_name": "us-east-1"}}
        graph = create_object_graph("matchers", loader=load_from_dict(config))
        assert_that(graph.sns_producer, is_not(instance_of(RecordingProducer)))
