"""Exactly-once effects on DynamoDB under SIGKILL: the local endpoint's tables, follow-ups with derived ids."""
from __future__ import annotations

import unittest

from microcosm_pubsub.tests.daemons.exactly_once_faults import DynamoDBStore, check_exactly_once, run_and_close


class DynamoDBExactlyOnceTest(unittest.TestCase):

    def test_effects_and_follow_ups_once_each_with_daemons_killed(self):
        """2,000 orders, 10% twice, DynamoDB store, daemon SIGKILLed: each effect once, one follow-up each."""
        outcome = run_and_close(DynamoDBStore)
        check_exactly_once(outcome)
