"""The chain DSL's branching statements: switch, when and try_chain."""
from __future__ import annotations

import unittest

from hamcrest import assert_that, calling, equal_to, is_, none, raises

from microcosm_pubsub.chain import Chain, SafeContext, extracts
from microcosm_pubsub.chain.exceptions import ContextKeyNotFound
from microcosm_pubsub.chain.statements import switch, try_chain, when
from microcosm_pubsub.chain.statements.case import CaseStatement


def fail_with(error: type[Exception] | None) -> str:
    if error is not None:
        raise error("boom")
    return "ok"


class SwitchTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.chain = Chain(
            switch("kind")
            .case("a", lambda: 1)
            .case("b").then(lambda: 2)
            .case({"x": 1}).then(lambda: 3)
            .otherwise(lambda: 0),
        )

    def test_case_with_links(self) -> None:
        """case(value, *links) runs its links when the value matches."""
        assert_that(self.chain(kind="a"), is_(equal_to(1)))

    def test_case_then(self) -> None:
        """case(value).then(*links) is the same case, written in two steps."""
        assert_that(self.chain(kind="b"), is_(equal_to(2)))

    def test_unhashable_case_value(self) -> None:
        """Cases compare by equality, so dicts and lists work."""
        assert_that(self.chain(kind={"x": 1}), is_(equal_to(3)))

    def test_old_case_statement(self) -> None:
        """The old `CaseStatement(switch, value).then(...)` adds its case and returns the switch."""
        statement = switch("kind")
        chain = Chain(CaseStatement(statement, "c").then(lambda: 4).otherwise(lambda: 0))
        assert_that((chain(kind="c"), chain(kind="z")), is_(equal_to((4, 0))))

    def test_otherwise(self) -> None:
        """With no match, otherwise runs."""
        assert_that(self.chain(kind="z"), is_(equal_to(0)))

    def test_no_match_and_no_otherwise_is_none(self) -> None:
        """With no match and no otherwise, the result is None."""
        assert_that(Chain(switch("kind").case("a", lambda: 1))(kind="b"), is_(none()))

    def test_first_matching_case_wins(self) -> None:
        """Two equal cases: the first one runs."""
        chain = Chain(switch("kind").case("a", lambda: 1).case("a", lambda: 2))
        assert_that(chain(kind="a"), is_(equal_to(1)))

    def test_branch_writes_to_the_shared_context(self) -> None:
        """A branch's extractions are in the chain's context afterwards."""
        context = SafeContext(kind="a")
        Chain(switch("kind").case("a", extracts("picked")(lambda: "a")))(context)
        assert_that(context["picked"], is_(equal_to("a")))

    def test_missing_key_names_it(self) -> None:
        """Switching on a key that is not set raises ContextKeyNotFound."""
        assert_that(calling(self.chain), raises(ContextKeyNotFound, "`kind`"))


class WhenTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.chain = Chain(when("flag").then(lambda: "yes").otherwise(lambda: "no"))

    def test_truthy_runs_then(self) -> None:
        """A truthy value runs the then branch."""
        assert_that(self.chain(flag=[1]), is_(equal_to("yes")))

    def test_falsy_runs_otherwise(self) -> None:
        """A falsy value runs the otherwise branch."""
        assert_that(self.chain(flag=""), is_(equal_to("no")))

    def test_missing_branch_is_none(self) -> None:
        """A falsy value with no otherwise gives None."""
        assert_that(Chain(when("flag").then(lambda: "yes"))(flag=False), is_(none()))


class TryChainTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.chain = Chain(
            try_chain(fail_with)
            .catch(ValueError, lambda: "value")
            .catch(LookupError).then(lambda: "lookup"),
        )

    def test_no_error_returns_the_attempt(self) -> None:
        """Without an error or an otherwise, the attempt's result is returned."""
        assert_that(self.chain(error=None), is_(equal_to("ok")))

    def test_caught_type_runs_its_branch(self) -> None:
        """An error of a caught type runs that branch."""
        assert_that(self.chain(error=ValueError), is_(equal_to("value")))

    def test_catch_then(self) -> None:
        """catch(type).then(*links) is the same handler, written in two steps."""
        assert_that(self.chain(error=LookupError), is_(equal_to("lookup")))

    def test_subclass_of_a_caught_type_is_not_caught(self) -> None:
        """Only the exact type matches, as in microcosm-pubsub 2.x: a KeyError is not a LookupError here."""
        assert_that(calling(self.chain).with_args(error=KeyError), raises(KeyError))

    def test_uncaught_error_propagates(self) -> None:
        """An error of no caught type is raised to the caller."""
        assert_that(calling(self.chain).with_args(error=TypeError), raises(TypeError, "boom"))

    def test_otherwise_replaces_the_result(self) -> None:
        """With no error, otherwise runs and gives the result."""
        chain = Chain(try_chain(lambda: "attempt").otherwise(lambda: "otherwise"))
        assert_that(chain(), is_(equal_to("otherwise")))

    def test_otherwise_does_not_run_after_a_caught_error(self) -> None:
        """A caught error's branch gives the result; otherwise is skipped."""
        chain = Chain(try_chain(fail_with).catch(ValueError, lambda: "caught").otherwise(lambda: "otherwise"))
        assert_that(chain(error=ValueError), is_(equal_to("caught")))
