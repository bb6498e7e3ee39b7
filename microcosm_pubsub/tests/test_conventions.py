"""Media-type naming: make_media_type, the lifecycle verbs, the organization and parsing."""
from __future__ import annotations

import unittest
from enum import Enum

from hamcrest import assert_that, calling, equal_to, is_, none, raises, same_instance
from microcosm.api import create_object_graph

from microcosm_pubsub.conventions import (
    DEFAULT_ORGANIZATION,
    ORGANIZATION_ENVIRON,
    LifecycleChange,
    changed,
    created,
    deleted,
    make_media_type,
    media_type,
    name_for,
    parse_media_type,
)
from microcosm_pubsub.tests import fixtures


class Colour(Enum):
    Red = "red"


class Widget:
    pass


class OrderItem:
    pass


class Aliased:
    __alias__ = "LineItem"


class MakeMediaTypeTests(unittest.TestCase):
    def setUp(self) -> None:
        # A developer's shell may set the organization; these tests are about the default
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: None}))

    def test_private_created_by_default(self) -> None:
        """A media type is private (`._`) and `created` unless asked otherwise, as in the old package."""
        assert_that(make_media_type("foo"), is_(equal_to("application/vnd.globality.pubsub._.created.foo")))

    def test_public_drops_underscore(self) -> None:
        """`public=True` drops the `._` segment."""
        assert_that(
            make_media_type("foo", public=True), is_(equal_to("application/vnd.globality.pubsub.created.foo")),
        )

    def test_lifecycle_change_before_name(self) -> None:
        """The lifecycle change goes between the privacy segment and the name."""
        assert_that(
            make_media_type("foo", LifecycleChange.Changed),
            is_(equal_to("application/vnd.globality.pubsub._.changed.foo")),
        )

    def test_lifecycle_change_as_string(self) -> None:
        """A lifecycle change may be given by its value."""
        assert_that(make_media_type("foo", "deleted"), is_(equal_to(deleted("foo"))))

    def test_class_resource(self) -> None:
        """A class is named by its snake-cased class name."""
        assert_that(created(Widget), is_(equal_to("application/vnd.globality.pubsub._.created.widget")))

    def test_unknown_verb_is_fine(self) -> None:
        """Any word is a verb for naming; only auto-registration needs it known."""
        assert_that(
            make_media_type("foo", "archived"), is_(equal_to("application/vnd.globality.pubsub._.archived.foo")),
        )

    def test_bad_verb(self) -> None:
        """A verb that is not a word is refused with the reason."""
        assert_that(calling(make_media_type).with_args("foo", "a.b"), raises(ValueError, "not a word"))

    def test_default_organization(self) -> None:
        """The default organization is the one peers on the old package publish under."""
        assert_that(DEFAULT_ORGANIZATION, is_(equal_to("globality")))


class LifecycleVerbTests(unittest.TestCase):
    def setUp(self) -> None:
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: None}))

    def test_created(self) -> None:
        """created() names the created verb."""
        assert_that(created("foo"), is_(equal_to("application/vnd.globality.pubsub._.created.foo")))

    def test_changed(self) -> None:
        """changed() names the changed verb."""
        assert_that(changed("foo"), is_(equal_to("application/vnd.globality.pubsub._.changed.foo")))

    def test_deleted(self) -> None:
        """deleted() names the deleted verb."""
        assert_that(deleted("foo"), is_(equal_to("application/vnd.globality.pubsub._.deleted.foo")))

    def test_public_verb(self) -> None:
        """The verbs take `public` too."""
        assert_that(created("foo", public=True), is_(equal_to("application/vnd.globality.pubsub.created.foo")))


class OrganizationTests(unittest.TestCase):
    def test_organization_argument(self) -> None:
        """An explicit organization replaces the default."""
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: None}))
        assert_that(created("foo", organization="acme"), is_(equal_to("application/vnd.acme.pubsub._.created.foo")))

    def test_organization_from_environment(self) -> None:
        """MICROCOSM_PUBSUB_ORGANIZATION sets the organization when none is passed."""
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: "initech"}))
        assert_that(make_media_type("foo"), is_(equal_to("application/vnd.initech.pubsub._.created.foo")))

    def test_argument_beats_environment(self) -> None:
        """An explicit organization wins over the environment variable."""
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: "initech"}))
        assert_that(deleted("foo", organization="acme"), is_(equal_to("application/vnd.acme.pubsub._.deleted.foo")))

    def test_empty_environment_means_default(self) -> None:
        """An empty environment variable falls back to the default organization."""
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: ""}))
        assert_that(make_media_type("foo"), is_(equal_to("application/vnd.globality.pubsub._.created.foo")))


class ParseMediaTypeTests(unittest.TestCase):
    def test_round_trip_private(self) -> None:
        """A private lifecycle media type parses back to its change and name."""
        assert_that(parse_media_type(created("foo")), is_(equal_to((LifecycleChange.Created, "foo"))))

    def test_round_trip_public(self) -> None:
        """A public lifecycle media type parses back too."""
        assert_that(
            parse_media_type(changed("foo", organization="acme", public=True)),
            is_(equal_to((LifecycleChange.Changed, "foo"))),
        )

    def test_round_trip_dotted_name(self) -> None:
        """A name with dots comes back whole."""
        assert_that(parse_media_type(deleted("foo.bar")), is_(equal_to((LifecycleChange.Deleted, "foo.bar"))))

    def test_not_conventional(self) -> None:
        """A media type outside the convention parses to None."""
        assert_that(parse_media_type("application/json"), is_(none()))

    def test_no_lifecycle_change(self) -> None:
        """A conventional media type without a lifecycle change parses to None."""
        assert_that(parse_media_type("application/vnd.globality.pubsub._.foo.bar"), is_(none()))

    def test_custom_verb(self) -> None:
        """A custom verb parses when it is among the verbs given."""
        assert_that(
            parse_media_type(media_type("archived")("foo"), verbs=["archived"]), is_(equal_to(("archived", "foo"))),
        )

    def test_unknown_verb(self) -> None:
        """An unknown verb parses to None."""
        assert_that(parse_media_type("application/vnd.globality.pubsub._.frobbed.foo"), is_(none()))

    def test_verb_without_name(self) -> None:
        """A verb with no resource name after it parses to None."""
        assert_that(parse_media_type("application/vnd.globality.pubsub._.created"), is_(none()))


class NameForTests(unittest.TestCase):
    def test_camel_case_string(self) -> None:
        """A CamelCase string is snake-cased."""
        assert_that(name_for("FooBar"), is_(equal_to("foo_bar")))

    def test_dotted_string(self) -> None:
        """Each dotted segment is snake-cased and the dots stay."""
        assert_that(name_for("FooBar.ThisThat"), is_(equal_to("foo_bar.this_that")))

    def test_acronym(self) -> None:
        """A run of capitals stays one word."""
        assert_that(name_for("HTTPRequest"), is_(equal_to("http_request")))

    def test_hyphen(self) -> None:
        """Hyphens become underscores."""
        assert_that(name_for("foo-bar"), is_(equal_to("foo_bar")))

    def test_class(self) -> None:
        """A class is named by its snake-cased name."""
        assert_that(name_for(OrderItem), is_(equal_to("order_item")))

    def test_instance(self) -> None:
        """An instance is named by its class."""
        assert_that(name_for(OrderItem()), is_(equal_to("order_item")))

    def test_alias(self) -> None:
        """`__alias__` names a class in place of its class name."""
        assert_that(name_for(Aliased), is_(equal_to("line_item")))

    def test_enum_member(self) -> None:
        """An enum member is an instance: named by its class, as in the old package."""
        assert_that(name_for(Colour.Red), is_(equal_to("colour")))

    def test_created_camel_case(self) -> None:
        """created("FooBar") is the old package's created.foo_bar."""
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: None}))
        assert_that(created("FooBar"), is_(equal_to("application/vnd.globality.pubsub._.created.foo_bar")))


class LifecycleChangeTests(unittest.TestCase):
    def test_built_in_verbs(self) -> None:
        """The binding starts with created, changed and deleted."""
        assert_that(LifecycleChange(), is_(equal_to({"created", "changed", "deleted"})))

    def test_add_custom_verb(self) -> None:
        """A custom verb can be added and then matches media types holding it."""
        verbs = LifecycleChange()
        verbs.add("archived")
        assert_that(verbs.matches(media_type("archived")("foo")), is_(equal_to(True)))

    def test_unknown_verb_does_not_match(self) -> None:
        """A media type without a known verb does not match."""
        assert_that(LifecycleChange().matches("application/vnd.globality.pubsub._.archived.foo"), is_(equal_to(False)))

    def test_add_bad_verb(self) -> None:
        """Adding something that is not a word is refused."""
        assert_that(calling(LifecycleChange().add).with_args("two words"), raises(ValueError, "not a word"))

    def test_enum_style_names(self) -> None:
        """`LifecycleChange.Created` and friends are the verbs themselves."""
        assert_that(make_media_type("foo", LifecycleChange.Deleted), is_(equal_to(deleted("foo"))))

    def test_graph_binding(self) -> None:
        """`pubsub_lifecycle_change` is a LifecycleChange bound once per graph."""
        graph = create_object_graph("test", testing=True)
        assert_that(graph.pubsub_lifecycle_change, is_(same_instance(graph.pubsub_lifecycle_change)))
        assert_that(isinstance(graph.pubsub_lifecycle_change, LifecycleChange), is_(equal_to(True)))
