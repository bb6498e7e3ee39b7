"""Chain: links run in order over one context, and the chain DSL stays at the edge of the package."""
from __future__ import annotations

import subprocess
import sys
import unittest
from typing import Any

from hamcrest import assert_that, calling, contains_exactly, equal_to, is_, none, raises

from microcosm_pubsub.chain import Chain, SafeContext, binds, extracts
from microcosm_pubsub.chain.exceptions import ChainError, ContextKeyNotFound
from microcosm_pubsub.chain.statements import switch


class ChainTestCase(unittest.TestCase):
    def test_returns_the_last_result(self) -> None:
        """A chain returns what its last link returns."""
        assert_that(Chain(lambda: 1, lambda: 2)(), is_(equal_to(2)))

    def test_empty_chain_returns_none(self) -> None:
        """A chain with no links returns None."""
        assert_that(Chain()(), is_(none()))

    def test_keyword_arguments_seed_the_context(self) -> None:
        """Keyword arguments of the call are context keys for the links."""
        assert_that(Chain(lambda uri: uri.upper())(uri="a"), is_(equal_to("A")))

    def test_results_flow_through_extracts(self) -> None:
        """A link's @extracts result is an argument of later links."""
        chain = Chain(extracts("count")(lambda: 2), lambda count: count + 1)
        assert_that(chain(), is_(equal_to(3)))

    def test_results_flow_through_extract_names(self) -> None:
        """A link named extract_<key> feeds later links."""

        def extract_count() -> int:
            return 2

        assert_that(Chain(extract_count, lambda count: count * 5)(), is_(equal_to(10)))

    def test_binds_renames_for_one_link(self) -> None:
        """@binds lets a link read a key under its own parameter name."""
        chain = Chain(binds(user="owner")(lambda owner: f"by {owner}"))
        assert_that(chain(user="ada"), is_(equal_to("by ada")))

    def test_nested_chain_shares_the_context(self) -> None:
        """A chain used as a link runs on the same context, so its extractions stay visible."""
        chain = Chain(Chain(extracts("inner")(lambda: 4)), lambda inner: inner * 2)
        assert_that(chain(), is_(equal_to(8)))

    def test_given_context_collects_extractions(self) -> None:
        """A context passed in holds what the links extracted once the chain returns."""
        context = SafeContext()
        Chain(extracts("done")(lambda: True))(context)
        assert_that(context["done"], is_(True))

    def test_an_empty_context_passed_in_is_used(self) -> None:
        """An empty context given by the caller is the one used, not replaced by a new one."""
        context = SafeContext()
        Chain(extracts("n")(lambda: 1))(context, seed=0)
        assert_that(list(context), contains_exactly("seed", "n"))

    def test_each_run_gets_a_fresh_context(self) -> None:
        """Running a chain twice does not trip over the first run's keys."""
        chain = Chain(extracts("n")(lambda value: value))
        assert_that((chain(value=1), chain(value=2)), is_(equal_to((1, 2))))

    def test_link_sees_the_context(self) -> None:
        """A link with a `context` parameter receives the running context."""
        assert_that(Chain(lambda context: context.a)(a=1), is_(equal_to(1)))

    def test_missing_argument_names_it(self) -> None:
        """A link whose argument is in no key raises ContextKeyNotFound."""
        assert_that(calling(Chain(lambda uri: uri)), raises(ContextKeyNotFound, "`uri`"))

    def test_seeding_a_key_twice_is_refused(self) -> None:
        """Seeding a key the given context already has raises a ValueError."""
        assert_that(calling(Chain()).with_args(SafeContext(a=1), a=2), raises(ValueError))

    def test_a_link_that_cannot_be_called_is_refused_when_built(self) -> None:
        """A non-callable link, such as a case missing .then(), is refused when the chain is built."""
        pending: Any = switch("kind").case("a")
        assert_that(calling(Chain).with_args(pending), raises(ChainError, "missing .then"))

    def test_make_takes_links_keyword(self) -> None:
        """Chain.make builds from links=[...]."""
        assert_that(Chain.make(links=[lambda: 1])(), is_(equal_to(1)))

    def test_make_returns_the_given_chain(self) -> None:
        """Chain.make(chain=c) is c."""
        chain = Chain()
        assert_that(Chain.make(chain=chain), is_(chain))

    def test_make_with_nothing_is_refused(self) -> None:
        """Chain.make() with nothing to run explains what to pass."""
        assert_that(calling(Chain.make), raises(ChainError, "links"))


class EdgeTestCase(unittest.TestCase):
    def test_core_does_not_import_the_chain_dsl(self) -> None:
        """Importing the public API and the data path leaves microcosm_pubsub.chain unloaded."""
        code = (
            "import sys, microcosm_pubsub.api, microcosm_pubsub.dispatcher, microcosm_pubsub.consumer, "
            "microcosm_pubsub.producer; print('microcosm_pubsub.chain' in sys.modules)"
        )
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
        assert_that(output.stdout.strip(), is_(equal_to("False")))
