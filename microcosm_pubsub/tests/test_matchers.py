"""Matchers over published messages: what they accept, and what their failures say."""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_string,
    greater_than,
    has_entries,
    is_not,
    raises,
    starts_with,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.codecs import PubSubMessageSchema
from microcosm_pubsub.conventions import created, deleted
from microcosm_pubsub.decorators import schema
from microcosm_pubsub.testing import IntegrationEnvironment, dispatch, testing_graph
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


@schema
class WidgetDeletedSchema(PubSubMessageSchema):
    MEDIA_TYPE = WIDGET_DELETED
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
        assert_that(text, contains_string("neither a recording producer nor a list of recorded or delivered messages"))

    def test_graph_that_does_not_record(self) -> None:
        """A graph that publishes for real says how to make it record."""
        graph = create_object_graph("matchers", testing=True, loader=load_from_dict({}))
        assert_that(failure(graph, published(WIDGET)), contains_string("set sns_producer.record"))

    def test_bad_expectation_is_refused(self) -> None:
        """published_inanyorder() refuses what is not an expected message, at once."""
        assert_that(calling(published_inanyorder).with_args(42), raises(TypeError, "a_message"))
