"""How the chain DSL wires one link: arguments from the context, @extracts, extract_<key>, @binds."""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import assert_that, calling, equal_to, is_, raises

from microcosm_pubsub.chain.context import SafeContext
from microcosm_pubsub.chain.context_decorators import (
    get_from_context,
    save_to_context,
    save_to_context_by_func_name,
    temporarily_replace_context_keys,
)
from microcosm_pubsub.chain.decorators import binds, extracts
from microcosm_pubsub.chain.exceptions import ChainError, ContextKeyAlreadySet, ContextKeyNotFound


class Resource:
    """A plain object whose methods are links."""

    factor = 3

    def scaled(self, value: int) -> int:
        return value * self.factor

    @classmethod
    def tripled(cls, value: int) -> int:
        return value * cls.factor

    @extracts("scaled")
    def scale_and_store(self, value: int) -> int:
        return value * self.factor

    @extracts("doubled")
    @staticmethod
    def double(value: int) -> int:
        return value * 2


class InjectionTestCase(unittest.TestCase):
    def test_parameters_are_read_by_name(self) -> None:
        """Each parameter is filled from the context key of the same name, in any order."""
        wrapped = get_from_context({"b": 2, "a": 1}, lambda a, b: (a, b))
        assert_that(wrapped(), is_(equal_to((1, 2))))

    def test_a_default_is_used_when_the_key_is_missing(self) -> None:
        """A parameter with a default does not need the key."""
        wrapped = get_from_context({"a": 1}, lambda a, b=5: a + b)
        assert_that(wrapped(), is_(equal_to(6)))

    def test_a_present_key_wins_over_the_default(self) -> None:
        """A key in the context replaces the default."""
        wrapped = get_from_context({"a": 1, "b": 1}, lambda a, b=5: a + b)
        assert_that(wrapped(), is_(equal_to(2)))

    def test_missing_key_names_key_and_function(self) -> None:
        """A missing required key raises ContextKeyNotFound naming the key and the function."""

        def handle(message: Any) -> Any:
            return message

        assert_that(calling(get_from_context({}, handle)), raises(ContextKeyNotFound, "`message`.*handle"))

    def test_key_error_inside_the_function_is_not_relabelled(self) -> None:
        """A KeyError raised by the link itself passes through unchanged."""

        def broken() -> None:
            raise KeyError("inner")

        assert_that(calling(get_from_context({}, broken)), raises(KeyError, "inner"))

    def test_caller_arguments_are_not_overwritten(self) -> None:
        """Arguments given by the caller are kept; only the rest come from the context."""
        wrapped = get_from_context({"a": 1, "b": 2}, lambda a, b: (a, b))
        assert_that(wrapped(10), is_(equal_to((10, 2))))

    def test_keyword_only_parameters_are_filled(self) -> None:
        """Keyword-only parameters are read from the context too."""
        wrapped = get_from_context({"a": 1}, lambda *, a: a)
        assert_that(wrapped(), is_(equal_to(1)))

    def test_methods_do_not_ask_for_self(self) -> None:
        """A bound method reads only its own parameters."""
        assert_that(get_from_context({"value": 2}, Resource().scaled)(), is_(equal_to(6)))

    def test_classmethods_do_not_ask_for_cls(self) -> None:
        """A classmethod reads only its own parameters."""
        assert_that(get_from_context({"value": 2}, Resource.tripled)(), is_(equal_to(6)))

    def test_builtins_without_a_signature_are_called_bare(self) -> None:
        """A callable Python cannot inspect is called with no arguments."""
        assert_that(get_from_context({}, dict)(), is_(equal_to({})))

    def test_a_context_parameter_gets_the_plain_dict(self) -> None:
        """With a plain dict as context, a `context` parameter still receives it."""
        context = {"a": 1}
        assert_that(get_from_context(context, lambda context: context)(), is_(context))


class ExtractsTestCase(unittest.TestCase):
    def test_one_key_stores_the_result(self) -> None:
        """@extracts("k") stores the return value under k."""
        context: dict[str, Any] = {}
        save_to_context(context, extracts("k")(lambda: 1))()
        assert_that(context, is_(equal_to({"k": 1})))

    def test_several_keys_store_one_item_each(self) -> None:
        """@extracts("a", "b") spreads a returned pair over two keys."""
        context: dict[str, Any] = {}
        save_to_context(context, extracts("a", "b")(lambda: (1, 2)))()
        assert_that(context, is_(equal_to({"a": 1, "b": 2})))

    def test_wrong_number_of_values_is_explained(self) -> None:
        """Returning fewer values than keys raises a ChainError saying how many were expected."""
        wrapped = save_to_context({}, extracts("a", "b")(lambda: (1,)))
        assert_that(calling(wrapped), raises(ChainError, "must return 2 values"))

    def test_the_original_function_is_left_unmarked(self) -> None:
        """Marking makes a new callable; the decorated original keeps its own mark."""

        @extracts("first")
        def link() -> int:
            return 1

        extracts("second")(link)
        context: dict[str, Any] = {}
        save_to_context(context, link)()
        assert_that(context, is_(equal_to({"first": 1})))

    def test_marked_method_defined_in_a_class(self) -> None:
        """@extracts on a method in a class body still binds self."""
        context: dict[str, Any] = {"value": 2}
        save_to_context(context, get_from_context(context, Resource().scale_and_store))()
        assert_that(context["scaled"], is_(equal_to(6)))

    def test_marked_staticmethod_stays_static(self) -> None:
        """@extracts written above @staticmethod marks it without binding self."""
        context: dict[str, Any] = {"value": 2}
        save_to_context(context, get_from_context(context, Resource().double))()
        assert_that(context["doubled"], is_(equal_to(4)))

    def test_marked_class_marks_its_instances(self) -> None:
        """@extracts on a callable class applies to each instance."""

        @extracts("out")
        class Double:
            def __call__(self, value: int) -> int:
                return value * 2

        context: dict[str, Any] = {"value": 2}
        save_to_context(context, get_from_context(context, Double()))()
        assert_that(context["out"], is_(equal_to(4)))

    def test_extracts_needs_a_key(self) -> None:
        """@extracts() with no key is refused when written."""
        assert_that(calling(extracts), raises(ChainError, "at least one"))

    def test_extract_prefix_names_the_key(self) -> None:
        """A function named extract_<key> stores its result under <key>."""

        def extract_total() -> int:
            return 7

        context: dict[str, Any] = {}
        save_to_context_by_func_name(context, extract_total)()
        assert_that(context, is_(equal_to({"total": 7})))

    def test_extracts_mark_beats_the_name(self) -> None:
        """An @extracts mark wins over an extract_ name."""

        @extracts("other")
        def extract_total() -> int:
            return 7

        context: dict[str, Any] = {}
        save_to_context_by_func_name(context, extract_total)()
        assert_that(context, is_(equal_to({})))


class BindsTestCase(unittest.TestCase):
    def link(self) -> Any:
        return temporarily_replace_context_keys(self.context, get_from_context(self.context, self.bound))

    def setUp(self) -> None:
        self.context = SafeContext(user_id=7)
        self.bound = binds(user_id="owner_id")(lambda owner_id: owner_id)

    def test_old_key_is_read_under_the_new_name(self) -> None:
        """@binds(old="new") lets a link read `old` as `new`."""
        assert_that(self.link()(), is_(equal_to(7)))

    def test_new_name_is_removed_afterwards(self) -> None:
        """The new name is gone once the link returns."""
        self.link()()
        assert_that("owner_id" in self.context, is_(False))

    def test_new_name_is_removed_after_an_error(self) -> None:
        """The new name is gone even when the link raises."""
        failing = binds(user_id="owner_id")(lambda owner_id: 1 / 0)
        link = temporarily_replace_context_keys(self.context, get_from_context(self.context, failing))
        assert_that(calling(link), raises(ZeroDivisionError))
        assert_that("owner_id" in self.context, is_(False))

    def test_missing_old_key_is_a_key_error(self) -> None:
        """Binding a key the context lacks raises a KeyError naming it."""
        link = temporarily_replace_context_keys({}, binds(user_id="owner_id")(lambda: None))
        assert_that(calling(link), raises(KeyError, "user_id"))

    def test_new_name_already_set_is_refused(self) -> None:
        """Binding onto a name the context already has raises ContextKeyAlreadySet."""
        self.context["owner_id"] = 8
        assert_that(calling(self.link()), raises(ContextKeyAlreadySet, "owner_id"))
