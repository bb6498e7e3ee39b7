"""The chain DSL's for_each statement."""
from __future__ import annotations

import unittest

from hamcrest import assert_that, calling, equal_to, is_, raises

from microcosm_pubsub.chain import Chain, SafeContext, extracts
from microcosm_pubsub.chain.exceptions import ChainError
from microcosm_pubsub.chain.statements import for_each


class ForEachTestCase(unittest.TestCase):
    def test_results_in_order(self) -> None:
        """do() runs once per item; the statement returns the results in order."""
        chain = Chain(for_each("n").in_("numbers").do(lambda n: n * 10))
        assert_that(chain(numbers=[1, 2]), is_(equal_to([10, 20])))

    def test_results_stored_under_item_list(self) -> None:
        """Results are stored under `<item>_list` by default."""
        chain = Chain(for_each("n").in_("numbers").do(lambda n: n + 1), lambda n_list: sum(n_list))
        assert_that(chain(numbers=[1, 2]), is_(equal_to(5)))

    def test_as_names_the_result_key(self) -> None:
        """as_() stores the results under another key."""
        context = SafeContext(numbers=[1])
        Chain(for_each("n").in_("numbers").do(lambda n: n).as_("copied"))(context)
        assert_that(context["copied"], is_(equal_to([1])))

    def test_each_item_has_its_own_scope(self) -> None:
        """Per-item extractions do not collide between items, nor leak into the chain's context."""
        context = SafeContext(numbers=[1, 2])
        Chain(for_each("n").in_("numbers").do(extracts("double")(lambda n: n * 2), lambda double: double))(context)
        assert_that(sorted(context), is_(equal_to(["n_list", "numbers"])))

    def test_item_body_reads_the_outer_context(self) -> None:
        """Items see the keys of the chain's context."""
        chain = Chain(for_each("n").in_("numbers").do(lambda n, offset: n + offset))
        assert_that(chain(numbers=[1, 2], offset=100), is_(equal_to([101, 102])))

    def test_when_filters_results(self) -> None:
        """when(predicate) keeps the results for which it is true."""
        chain = Chain(for_each("n").in_("numbers").do(lambda n: n).when(lambda result: result > 1))
        assert_that(chain(numbers=[1, 2, 3]), is_(equal_to([2, 3])))

    def test_when_not_none_drops_nones(self) -> None:
        """when_not_none() drops None results but keeps other falsy ones."""
        chain = Chain(for_each("n").in_("numbers").do(lambda n: n).when_not_none())
        assert_that(chain(numbers=[0, None, ""]), is_(equal_to([0, ""])))

    def test_missing_in_or_do_is_explained(self) -> None:
        """Running a for_each without in_() or do() says what is missing."""
        assert_that(calling(Chain(for_each("n").do(lambda n: n))), raises(ChainError, r"\.in_"))

    def test_non_iterable_items_are_explained(self) -> None:
        """Items that cannot be iterated raise a ChainError naming the key."""
        chain = Chain(for_each("n").in_("numbers").do(lambda n: n))
        assert_that(calling(chain).with_args(numbers=3), raises(ChainError, "`numbers`"))
