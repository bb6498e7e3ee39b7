"""The chain DSL's call(f).with_args(...).as_(...) statement."""
from __future__ import annotations

import unittest

from hamcrest import assert_that, calling, equal_to, is_, raises

from microcosm_pubsub.chain import Chain, SafeContext
from microcosm_pubsub.chain.exceptions import ContextKeyAlreadySet
from microcosm_pubsub.chain.statements import call


def greet(name: str, greeting: str = "hello") -> str:
    return f"{greeting} {name}"


class CallTestCase(unittest.TestCase):
    def test_argument_names_a_context_key(self) -> None:
        """A string argument that is a context key passes that key's value."""
        chain = Chain(call(greet).with_args(name="author"))
        assert_that(chain(author="ada"), is_(equal_to("hello ada")))

    def test_argument_that_is_no_key_is_a_constant(self) -> None:
        """A value that names no context key is passed as it is."""
        assert_that(Chain(call(greet).with_args(name="ada"))(), is_(equal_to("hello ada")))

    def test_same_function_twice_on_two_keys(self) -> None:
        """One function runs twice with different arguments, each result under its own key."""
        chain = Chain(
            call(greet).with_args(name="first").as_("one"),
            call(greet).with_args(name="second").as_("two"),
            lambda one, two: [one, two],
        )
        assert_that(chain(first="a", second="b"), is_(equal_to(["hello a", "hello b"])))

    def test_other_parameters_come_from_the_context(self) -> None:
        """Parameters not given in with_args are read from the context."""
        chain = Chain(call(greet).with_args(name="ada"))
        assert_that(chain(greeting="hi"), is_(equal_to("hi ada")))

    def test_arguments_do_not_leak_into_the_context(self) -> None:
        """with_args values live in a child scope and are gone after the call."""
        context = SafeContext()
        Chain(call(greet).with_args(name="ada").as_("text"))(context)
        assert_that(sorted(context), is_(equal_to(["text"])))

    def test_argument_hiding_a_context_key_is_refused(self) -> None:
        """An argument whose name is already a context key raises ContextKeyAlreadySet."""
        chain = Chain(call(greet).with_args(name="ada"))
        assert_that(calling(chain).with_args(name="bob"), raises(ContextKeyAlreadySet, "would hide"))
