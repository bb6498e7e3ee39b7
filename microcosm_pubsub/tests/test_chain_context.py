"""The chain DSL's write-once context and its scoped children."""
from __future__ import annotations

import copy
import unittest

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    equal_to,
    has_length,
    instance_of,
    is_,
    raises,
    same_instance,
)

from microcosm_pubsub.chain.context import SafeContext
from microcosm_pubsub.chain.exceptions import AttributeNotFound, ContextKeyAlreadySet, ContextKeyNotFound
from microcosm_pubsub.wire.errors import PubSubError


class SafeContextTestCase(unittest.TestCase):
    def test_keys_read_as_items_and_attributes(self) -> None:
        """A key set once reads back by item and by attribute."""
        context = SafeContext(uri="https://example.com/1")
        assert_that((context["uri"], context.uri), is_(equal_to(("https://example.com/1",) * 2)))

    def test_setting_a_key_twice_is_refused(self) -> None:
        """A second write of the same key raises a ValueError."""
        context = SafeContext(uri="a")
        assert_that(calling(context.__setitem__).with_args("uri", "b"), raises(ValueError, "already set"))

    def test_the_refusal_is_a_pubsub_error(self) -> None:
        """The write-once error belongs to the package's error tree."""
        context = SafeContext(uri="a")
        assert_that(calling(context.update).with_args(uri="b"), raises(PubSubError))

    def test_context_key_is_the_context_itself(self) -> None:
        """The key `context` reads as the context, without being one of its keys."""
        context = SafeContext(uri="a")
        assert_that((context["context"], list(context)), contains_exactly(same_instance(context), ["uri"]))

    def test_context_key_cannot_be_set(self) -> None:
        """The self-reference cannot be replaced."""
        assert_that(calling(SafeContext).with_args(context=1), raises(ContextKeyAlreadySet))

    def test_missing_key_is_a_key_error_naming_it(self) -> None:
        """Reading a missing key raises ContextKeyNotFound, which is a KeyError."""
        assert_that(calling(SafeContext().__getitem__).with_args("uri"), raises(KeyError, "`uri`"))

    def test_missing_attribute_is_an_attribute_error(self) -> None:
        """Attribute access to a missing key raises an AttributeError, so hasattr() answers False."""
        assert_that(hasattr(SafeContext(), "uri"), is_(False))

    def test_missing_attribute_error_names_the_key(self) -> None:
        """The attribute error says which key was missing."""
        assert_that(calling(getattr).with_args(SafeContext(), "uri"), raises(AttributeNotFound, "`uri`"))

    def test_get_answers_the_default_for_a_missing_key(self) -> None:
        """Mapping.get works as usual."""
        assert_that(SafeContext().get("uri", "none"), is_(equal_to("none")))

    def test_assign_overwrites_on_purpose(self) -> None:
        """assign() is the one explicit way to overwrite a key."""
        context = SafeContext(uri="a").assign("uri", "b")
        assert_that(context["uri"], is_(equal_to("b")))

    def test_deepcopy_gives_an_equal_context(self) -> None:
        """A context can be deep-copied (its attribute lookup does not trap dunders)."""
        context = SafeContext(uri="a")
        assert_that(copy.deepcopy(context), is_(equal_to(context)))

    def test_missing_key_error_is_readable(self) -> None:
        """The missing-key message is not wrapped in KeyError's quotes."""
        error = ContextKeyNotFound("uri")
        assert_that(str(error).startswith("Failed to find context key `uri`"), is_(True))


class ScopedContextTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.parent = SafeContext(message="m")
        self.child = self.parent.local(item=1)

    def test_child_reads_its_parent(self) -> None:
        """A child sees its parent's keys."""
        assert_that(self.child.message, is_(equal_to("m")))

    def test_child_keys_stay_out_of_the_parent(self) -> None:
        """Keys set on a child do not appear in the parent."""
        assert_that("item" in self.parent, is_(False))

    def test_child_cannot_shadow_a_parent_key(self) -> None:
        """A child cannot set a key its parent has."""
        assert_that(calling(self.child.__setitem__).with_args("message", "x"), raises(ValueError))

    def test_child_iterates_own_keys_first(self) -> None:
        """A child lists its own keys, then its parent's, each once."""
        assert_that((list(self.child), self.child), contains_exactly(["item", "message"], has_length(2)))

    def test_context_key_in_a_child_is_the_child(self) -> None:
        """Inside a child, `context` is the child."""
        assert_that(self.child["context"], is_(same_instance(self.child)))

    def test_local_of_a_child_is_a_scoped_context(self) -> None:
        """Children nest."""
        grandchild = self.child.local()
        assert_that((grandchild, grandchild.message), contains_exactly(instance_of(SafeContext), "m"))
