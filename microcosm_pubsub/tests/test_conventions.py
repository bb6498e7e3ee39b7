"""Media-type naming: make_media_type, the lifecycle verbs, the organization and parsing."""
from __future__ import annotations

import unittest
from enum import Enum

from hamcrest import assert_that, equal_to, is_, none

from microcosm_pubsub.conventions import (
    DEFAULT_ORGANIZATION,
    ORGANIZATION_ENVIRON,
    LifecycleChange,
    changed,
    created,
    deleted,
    make_media_type,
    parse_media_type,
)
from microcosm_pubsub.tests import fixtures


class Colour(Enum):
    Red = "red"


class Widget:
    pass


class MakeMediaTypeTests(unittest.TestCase):
    def setUp(self) -> None:
        # A developer's shell may set the organization; these tests are about the default
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: None}))

    def test_private_by_default(self) -> None:
        """A media type is private (`._`) unless asked otherwise."""
        assert_that(make_media_type("foo"), is_(equal_to("application/vnd.globality.pubsub._.foo")))

    def test_public_drops_underscore(self) -> None:
        """`public=True` drops the `._` segment."""
        assert_that(make_media_type("foo", public=True), is_(equal_to("application/vnd.globality.pubsub.foo")))

    def test_lifecycle_change_before_name(self) -> None:
        """The lifecycle change goes between the privacy segment and the name."""
        assert_that(
            make_media_type("foo", LifecycleChange.Changed),
            is_(equal_to("application/vnd.globality.pubsub._.changed.foo")),
        )

    def test_lifecycle_change_as_string(self) -> None:
        """A lifecycle change may be given by its value."""
        assert_that(make_media_type("foo", "deleted"), is_(equal_to(deleted("foo"))))

    def test_enum_and_class_resources(self) -> None:
        """An enum resource is named by its value, a class by its lower-cased name."""
        assert_that(created(Colour.Red), is_(equal_to("application/vnd.globality.pubsub._.created.red")))
        assert_that(created(Widget), is_(equal_to("application/vnd.globality.pubsub._.created.widget")))

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
        assert_that(make_media_type("foo"), is_(equal_to("application/vnd.initech.pubsub._.foo")))

    def test_argument_beats_environment(self) -> None:
        """An explicit organization wins over the environment variable."""
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: "initech"}))
        assert_that(deleted("foo", organization="acme"), is_(equal_to("application/vnd.acme.pubsub._.deleted.foo")))

    def test_empty_environment_means_default(self) -> None:
        """An empty environment variable falls back to the default organization."""
        self.enterContext(fixtures.environ(**{ORGANIZATION_ENVIRON: ""}))
        assert_that(make_media_type("foo"), is_(equal_to("application/vnd.globality.pubsub._.foo")))


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
        assert_that(parse_media_type(make_media_type("foo")), is_(none()))

    def test_unknown_verb(self) -> None:
        """An unknown verb parses to None."""
        assert_that(parse_media_type("application/vnd.globality.pubsub._.frobbed.foo"), is_(none()))

    def test_verb_without_name(self) -> None:
        """A verb with no resource name after it parses to None."""
        assert_that(parse_media_type("application/vnd.globality.pubsub._.created"), is_(none()))
