"""The chain DSL's assign, assign_constant, assign_function and extract statements."""
from __future__ import annotations

import unittest
from types import SimpleNamespace
from typing import Any

from hamcrest import assert_that, calling, equal_to, is_, raises

from microcosm_pubsub.chain import Chain
from microcosm_pubsub.chain.exceptions import AttributeNotFound, ChainError
from microcosm_pubsub.chain.statements import assign, assign_constant, assign_function, extract


class AssignTestCase(unittest.TestCase):
    def test_dotted_path_reads_keys(self) -> None:
        """assign("a.b") reads key b of the mapping under a."""
        assert_that(Chain(assign("event.uri").to("uri"))(event={"uri": "u"}), is_(equal_to("u")))

    def test_dotted_path_reads_attributes(self) -> None:
        """assign("a.b") reads attribute b of an object under a."""
        message = SimpleNamespace(uri="u")
        assert_that(Chain(assign("message.uri").to("uri"))(message=message), is_(equal_to("u")))

    def test_deep_path(self) -> None:
        """Paths mix keys and attributes at any depth."""
        message = SimpleNamespace(content={"opaque": {"id": 3}})
        assert_that(Chain(assign("message.content.opaque.id").to("id"))(message=message), is_(equal_to(3)))

    def test_mapping_key_beats_a_dict_method(self) -> None:
        """A payload key named like a dict method (items) reads the key, not the method."""
        assert_that(Chain(assign("event.items").to("found"))(event={"items": [1]}), is_(equal_to([1])))

    def test_value_is_stored_for_later_links(self) -> None:
        """The assigned key is an argument of later links."""
        chain = Chain(assign("event.uri").to("uri"), lambda uri: uri + "!")
        assert_that(chain(event={"uri": "u"}), is_(equal_to("u!")))

    def test_missing_step_names_where_it_looked(self) -> None:
        """A missing step raises AttributeNotFound naming the step and the path before it."""
        chain = Chain(assign("event.body.uri").to("uri"))
        assert_that(
            calling(chain).with_args(event={"body": {}}),
            raises(AttributeNotFound, "attribute `uri` on `event.body`"),
        )

    def test_missing_step_is_an_attribute_error(self) -> None:
        """AttributeNotFound is an AttributeError."""
        assert_that(calling(Chain(assign("event.uri").to("uri"))).with_args(event={}), raises(AttributeError))

    def test_without_to_is_explained(self) -> None:
        """assign() run without .to() says to add it."""
        assert_that(calling(Chain(assign("event.uri"))).with_args(event={}), raises(ChainError, r"\.to\("))


class AssignConstantTestCase(unittest.TestCase):
    def test_stores_the_constant(self) -> None:
        """assign_constant(v).to(k) stores v under k."""
        assert_that(Chain(assign_constant(5).to("n"), lambda n: n * 2)(), is_(equal_to(10)))


class AssignFunctionTestCase(unittest.TestCase):
    def test_function_taking_one_argument_gets_the_context(self) -> None:
        """A function with a parameter is called with the context, whatever the parameter is named."""
        assert_that(Chain(assign_function(lambda ctx: ctx["a"] + 1).to("b"))(a=1), is_(equal_to(2)))

    def test_function_taking_nothing_is_called_bare(self) -> None:
        """A function without parameters is called with none."""
        assert_that(Chain(assign_function(lambda: 3).to("b"))(), is_(equal_to(3)))

    def test_keyword_only_context_is_passed_by_name(self) -> None:
        """A keyword-only `context` parameter receives the context."""

        def count(*, context: Any) -> int:
            return len(context)

        assert_that(Chain(assign_function(count).to("n"))(a=1, b=2), is_(equal_to(2)))

    def test_builtin_type(self) -> None:
        """A builtin such as list is called with no arguments."""
        assert_that(Chain(assign_function(list).to("empty"))(), is_(equal_to([])))


class ExtractTestCase(unittest.TestCase):
    def test_copies_a_key(self) -> None:
        """extract(new, old) stores the value of old under new."""
        assert_that(Chain(extract("b", "a"), lambda b: b)(a=1), is_(equal_to(1)))

    def test_property_argument(self) -> None:
        """extract(new, old, prop) reads old.prop."""
        assert_that(Chain(extract("b", "a", "x"))(a={"x": 2}), is_(equal_to(2)))
