"""`sns_topic_arns`: default, mappings, wildcards, lifecycle sections and environment variables."""
from __future__ import annotations

import json
import unittest
from typing import Any

from hamcrest import assert_that, calling, equal_to, is_, none, raises, same_instance
from microcosm.api import create_object_graph, load_from_dict, load_from_environ

from microcosm_pubsub.conventions import changed, created, deleted, media_type
from microcosm_pubsub.produce.batch import BATCH_MEDIA_TYPE
from microcosm_pubsub.produce.topics import TopicArns, iter_topic_mappings
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError, TopicNotDefinedError


ARN = "arn:aws:sns:us-east-1:123456789012:test-topics-{}"
PREFIX = "application/vnd.globality.pubsub._.test-topics"


def topic_arns(**config: Any) -> TopicArns:
    graph: Any = create_object_graph("test", testing=True, loader=load_from_dict({"sns_topic_arns": config}))
    arns: TopicArns = graph.sns_topic_arns
    return arns


class DefaultTests(unittest.TestCase):
    def test_default_for_everything(self) -> None:
        """With only a default, every media type goes to the default topic."""
        arns = topic_arns(default=ARN.format("default"))
        assert_that(arns.resolve(f"{PREFIX}.anything"), is_(equal_to(ARN.format("default"))))

    def test_item_access(self) -> None:
        """`sns_topic_arns[media_type]` resolves like resolve()."""
        arns = topic_arns(default=ARN.format("default"))
        assert_that(arns[f"{PREFIX}.anything"], is_(equal_to(ARN.format("default"))))

    def test_nothing_maps(self) -> None:
        """With no default and no mapping, TopicNotDefinedError names the media type and the keys."""
        arns = topic_arns()
        assert_that(
            calling(arns.resolve).with_args(f"{PREFIX}.unmapped"),
            raises(TopicNotDefinedError, f"{PREFIX}.unmapped.*sns_topic_arns.default"),
        )


class MappingTests(unittest.TestCase):
    def test_mapping_dict(self) -> None:
        """A mapping sends its media type to its own topic, before the default."""
        arns = topic_arns(default=ARN.format("default"), mappings={f"{PREFIX}.mapped": ARN.format("mapped")})
        assert_that(arns.resolve(f"{PREFIX}.mapped"), is_(equal_to(ARN.format("mapped"))))
        assert_that(arns.resolve(f"{PREFIX}.other"), is_(equal_to(ARN.format("default"))))

    def test_mapping_json_string(self) -> None:
        """A mapping given as a JSON object in a string (as from an environment variable) works."""
        arns = topic_arns(mappings=json.dumps({f"{PREFIX}.mapped": ARN.format("mapped")}))
        assert_that(arns.resolve(f"{PREFIX}.mapped"), is_(equal_to(ARN.format("mapped"))))

    def test_mapping_bad_json(self) -> None:
        """A mapping string that is not a JSON object is a ConfigurationError."""
        assert_that(calling(topic_arns).with_args(mappings="{not json"), raises(ConfigurationError))

    def test_wildcard_mapping(self) -> None:
        """A `prefix.*` mapping covers media types one segment below the prefix."""
        arns = topic_arns(default=ARN.format("default"), mappings={f"{PREFIX}.wild.*": ARN.format("wild")})
        assert_that(arns.resolve(f"{PREFIX}.wild.one"), is_(equal_to(ARN.format("wild"))))
        assert_that(arns.resolve(f"{PREFIX}.wild.one.two"), is_(equal_to(ARN.format("default"))))

    def test_exact_beats_wildcard(self) -> None:
        """An exact mapping wins over a wildcard mapping that also matches."""
        arns = topic_arns(mappings={f"{PREFIX}.wild.*": ARN.format("wild"), f"{PREFIX}.wild.one": ARN.format("one")})
        assert_that(arns.resolve(f"{PREFIX}.wild.one"), is_(equal_to(ARN.format("one"))))


class LifecycleSectionTests(unittest.TestCase):
    def test_created_section(self) -> None:
        """`sns_topic_arns.created.foo` maps created("foo")."""
        arns = topic_arns(created={"foo": ARN.format("created-foo")})
        assert_that(arns.resolve(created("foo")), is_(equal_to(ARN.format("created-foo"))))

    def test_section_is_per_change(self) -> None:
        """A created section does not map changed() or deleted() of the same resource."""
        arns = topic_arns(created={"foo": ARN.format("created-foo")})
        assert_that(calling(arns.resolve).with_args(changed("foo")), raises(TopicNotDefinedError))
        assert_that(calling(arns.resolve).with_args(deleted("foo")), raises(TopicNotDefinedError))

    def test_public_media_type(self) -> None:
        """A lifecycle section maps the public form of the media type too."""
        arns = topic_arns(deleted={"foo": ARN.format("deleted-foo")})
        assert_that(arns.resolve(deleted("foo", public=True)), is_(equal_to(ARN.format("deleted-foo"))))

    def test_underscore_spelling(self) -> None:
        """A hyphenated resource is found under its underscore spelling (environment variables)."""
        arns = topic_arns(changed={"foo_bar": ARN.format("changed-foo-bar")})
        assert_that(arns.resolve(changed("foo-bar")), is_(equal_to(ARN.format("changed-foo-bar"))))

    def test_mapping_beats_section(self) -> None:
        """An explicit mapping wins over a lifecycle section."""
        arns = topic_arns(
            mappings={created("foo"): ARN.format("mapped")}, created={"foo": ARN.format("created-foo")},
        )
        assert_that(arns.resolve(created("foo")), is_(equal_to(ARN.format("mapped"))))


class EnvironmentTests(unittest.TestCase):
    # A service name no other test uses, so no stray variable of another test can leak in
    NAME = "topicsenvsvc"

    def environ_graph(self) -> Any:
        return create_object_graph(self.NAME, testing=True, loader=load_from_environ)

    def test_lifecycle_from_environment(self) -> None:
        """`<SERVICE>__SNS_TOPIC_ARNS__CREATED__FOO` maps created("foo")."""
        self.enterContext(fixtures.environ(TOPICSENVSVC__SNS_TOPIC_ARNS__CREATED__FOO=ARN.format("env-foo")))
        arns = self.environ_graph().sns_topic_arns
        assert_that(arns.resolve(created("foo")), is_(equal_to(ARN.format("env-foo"))))

    def test_default_from_environment(self) -> None:
        """`<SERVICE>__SNS_TOPIC_ARNS__DEFAULT` sets the default topic."""
        self.enterContext(fixtures.environ(TOPICSENVSVC__SNS_TOPIC_ARNS__DEFAULT=ARN.format("env-default")))
        arns = self.environ_graph().sns_topic_arns
        assert_that(arns.resolve(f"{PREFIX}.anything"), is_(equal_to(ARN.format("env-default"))))

    def test_mappings_from_environment(self) -> None:
        """`<SERVICE>__SNS_TOPIC_ARNS__MAPPINGS` takes a JSON object."""
        mappings = json.dumps({f"{PREFIX}.mapped": ARN.format("env-mapped")})
        self.enterContext(fixtures.environ(TOPICSENVSVC__SNS_TOPIC_ARNS__MAPPINGS=mappings))
        arns = self.environ_graph().sns_topic_arns
        assert_that(arns.resolve(f"{PREFIX}.mapped"), is_(equal_to(ARN.format("env-mapped"))))

    def test_hyphenated_resource_from_environment(self) -> None:
        """An environment variable spells created("foo-bar") as FOO_BAR."""
        self.enterContext(fixtures.environ(TOPICSENVSVC__SNS_TOPIC_ARNS__CREATED__FOO_BAR=ARN.format("env-foo-bar")))
        arns = self.environ_graph().sns_topic_arns
        assert_that(arns.resolve(created("foo-bar")), is_(equal_to(ARN.format("env-foo-bar"))))

    def test_dotted_lifecycle_name_from_environment(self) -> None:
        """`..__CREATED__FOO__BAR_BAZ` (nested sections) maps created("foo.bar_baz")."""
        self.enterContext(fixtures.environ(TOPICSENVSVC__SNS_TOPIC_ARNS__CREATED__FOO__BAR_BAZ=ARN.format("dotted")))
        arns = self.environ_graph().sns_topic_arns
        assert_that(arns.resolve(created("foo.bar_baz")), is_(equal_to(ARN.format("dotted"))))

    def test_dotted_name_beats_default_from_environment(self) -> None:
        """A dotted lifecycle name from the environment is not sent to the default topic."""
        self.enterContext(fixtures.environ(
            TOPICSENVSVC__SNS_TOPIC_ARNS__DEFAULT=ARN.format("default"),
            TOPICSENVSVC__SNS_TOPIC_ARNS__DELETED__FOO__BAR=ARN.format("deleted-foo-bar"),
        ))
        arns = self.environ_graph().sns_topic_arns
        assert_that(arns.resolve(deleted("FooBar.Bar")), is_(equal_to(ARN.format("default"))))
        assert_that(arns.resolve(deleted("Foo.Bar")), is_(equal_to(ARN.format("deleted-foo-bar"))))


class NestedSectionTests(unittest.TestCase):
    def test_nested_dicts_collapse_with_dots(self) -> None:
        """iter_topic_mappings flattens nested sections into dotted names."""
        flat = dict(iter_topic_mappings({"a": "1", "b": {"c": "2", "d": {"e": "3"}}}))
        assert_that(flat, is_(equal_to({"a": "1", "b.c": "2", "b.d.e": "3"})))

    def test_nested_section_from_dict(self) -> None:
        """A nested section in a config dict maps the dotted name."""
        arns = topic_arns(created={"foo": {"bar": ARN.format("foo-bar")}})
        assert_that(arns.resolve(created("foo.bar")), is_(equal_to(ARN.format("foo-bar"))))

    def test_importable_from_producer(self) -> None:
        """iter_topic_mappings is importable from microcosm_pubsub.producer, as before."""
        from microcosm_pubsub.produce.producer import iter_topic_mappings as from_producer
        assert_that(from_producer, is_(same_instance(iter_topic_mappings)))


class CustomVerbTests(unittest.TestCase):
    def test_custom_verb_section(self) -> None:
        """A verb added to pubsub_lifecycle_change has its own section."""
        graph: Any = create_object_graph("test", testing=True, loader=load_from_dict(
            {"sns_topic_arns": {"archived": {"foo": ARN.format("archived-foo")}}},
        ))
        graph.pubsub_lifecycle_change.add("archived")
        assert_that(
            graph.sns_topic_arns.resolve(media_type("archived")("foo")), is_(equal_to(ARN.format("archived-foo"))),
        )

    def test_unknown_verb_section_unused(self) -> None:
        """A section of a verb nobody added maps nothing: the default applies."""
        arns = topic_arns(default=ARN.format("default"), archived={"foo": ARN.format("archived-foo")})
        assert_that(arns.resolve(media_type("archived")("foo")), is_(equal_to(ARN.format("default"))))


class BatchTopicTests(unittest.TestCase):
    def test_batch_needs_its_own_topic(self) -> None:
        """The old batch media type never falls back to the default topic."""
        arns = topic_arns(default=ARN.format("default"))
        assert_that(calling(arns.resolve).with_args(BATCH_MEDIA_TYPE), raises(TopicNotDefinedError, "batch"))

    def test_batch_mapped(self) -> None:
        """The old batch media type goes where it is mapped."""
        arns = topic_arns(default=ARN.format("default"), mappings={BATCH_MEDIA_TYPE: ARN.format("batch")})
        assert_that(arns.resolve(BATCH_MEDIA_TYPE), is_(equal_to(ARN.format("batch"))))

    def test_get_like_a_dict(self) -> None:
        """`get` answers None for an unmapped media type, as the old dict did."""
        assert_that(topic_arns().get(created("foo")), is_(none()))
