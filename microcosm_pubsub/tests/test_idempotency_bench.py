"""The idempotency benchmark phase runs (a handful of messages; no timing asserted) and counts store calls."""
from __future__ import annotations

import unittest

from hamcrest import assert_that, close_to, contains_string, has_entries, has_key, is_

from benchmarks.idempotency import idempotency_phase, table


class IdempotencyPhaseTestCase(unittest.TestCase):
    def test_memory_and_sqlite(self) -> None:
        """New keys cost a claim and a completion (and a look-up per receive of ten); duplicates only the look-up."""
        results = idempotency_phase(count=20, rounds=1, stores=("memory", "sqlite"))
        assert_that(results, has_key("none"))
        for store in ("memory", "sqlite"):
            assert_that(results[store], has_entries(
                new_ops=close_to(2.1, 0.001), duplicate_ops=close_to(0.1, 0.001),
            ))
            assert_that(results[store], has_key("added_new_us"))
        assert_that(table(results), contains_string("| sqlite |"))
        assert_that(results["none"]["new_ops"], is_(0))
