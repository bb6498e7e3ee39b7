"""Exactly-once effects on PostgreSQL under SIGKILL: a real server, the inbox and the outbox in its transactions."""
from __future__ import annotations

import unittest

from microcosm_pubsub.testing.postgres import postgres_url
from microcosm_pubsub.tests.daemons.exactly_once_faults import SqlStore, check_exactly_once, run_and_close


class PostgresExactlyOnceTest(unittest.TestCase):

    def test_effects_and_follow_ups_once_each_with_daemons_and_relays_killed(self):
        """2,000 orders, 10% twice, PostgreSQL store and outbox, daemon and relay SIGKILLed: each effect once"""
        url = postgres_url()
        outcome = run_and_close(lambda _endpoint: SqlStore("postgres", url))
        check_exactly_once(outcome)
