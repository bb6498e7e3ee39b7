"""Exactly-once effects on SQLite under SIGKILL: the inbox and the outbox in one database file."""
from __future__ import annotations

import tempfile
import unittest
from pathlib import Path

from microcosm_pubsub.tests.daemons.exactly_once_faults import SqlStore, check_exactly_once, run_and_close


class SQLiteExactlyOnceTest(unittest.TestCase):

    def test_effects_and_follow_ups_once_each_with_daemons_and_relays_killed(self):
        """2,000 orders, 10% twice, SQLite store and outbox, daemon and relay SIGKILLed: effects, follow-ups once."""
        with tempfile.TemporaryDirectory(prefix="exactly-once-sqlite-") as directory:
            url = f"sqlite:///{Path(directory) / 'service.db'}"
            outcome = run_and_close(lambda _endpoint: SqlStore("sqlite", url))
        check_exactly_once(outcome)
