"""Reliability through a storm of handler exceptions: backoff, dead-lettering, logs."""
from __future__ import annotations

import unittest
from itertools import pairwise
from typing import Any, ClassVar

from hamcrest import assert_that, contains_string, empty, equal_to, greater_than_or_equal_to, is_, only_contains

from microcosm_pubsub.tests.fixtures import wait_for
from microcosm_pubsub.tests.reliability.cases import marker_of
from microcosm_pubsub.tests.reliability.harness import Lab, attribute_value, receive_all, record_figures


class StormTest(unittest.TestCase):
    """Every delivery of some messages raises; good messages flow past them (one daemon run, several checks)."""

    RETRY_SECONDS = 1
    MAX_ATTEMPTS = 2
    storm: ClassVar[list[str]]
    good: ClassVar[list[str]]
    dead: ClassVar[list[dict[str, Any]]]
    log: ClassVar[str]
    started: ClassVar[list[dict[str, Any]]]
    handled: ClassVar[set[str]]
    queue_left: ClassVar[int]
    status: ClassVar[int]

    @classmethod
    def setUpClass(cls) -> None:
        lab = Lab()
        cls.addClassCleanup(lab.close)
        stack = lab.new_stack("storm", visibility_timeout=30)
        cls.storm = [f"storm-{index}" for index in range(20)]
        cls.good = [f"calm-{index}" for index in range(20)]
        lab.publish(stack, cls.storm, fail="always")
        lab.publish(stack, cls.good)
        daemon = lab.start_daemon(
            stack, concurrency=4,
            sqs_consumer={"backoff_policy": "constant", "message_retry_visibility_timeout_seconds": cls.RETRY_SECONDS},
            sqs_message_dispatcher={
                "message_max_processing_attempts": cls.MAX_ATTEMPTS,
                "dead_letter_queue_url": stack.dead_letter_queue_url,
            },
        )
        wait_for(
            lambda: daemon.exited
            or (lab.depth(stack.dead_letter_queue_url) >= len(cls.storm) and lab.records.handled() >= set(cls.good)),
            timeout=60,
        )
        cls.status = daemon.stop()
        cls.queue_left = lab.depth(stack.queue_url)
        cls.log = daemon.log()
        assert stack.dead_letter_queue_url is not None
        cls.dead = receive_all(lab.sqs, stack.dead_letter_queue_url)
        cls.started = lab.records.events("started")
        cls.handled = lab.records.handled()
        names = cls.storm + cls.good
        dead_names = {marker_of(message["Body"]) for message in cls.dead}
        record_figures(
            "storm", "storm of handler exceptions",
            f"{len(cls.storm)} messages whose handler always raises among {len(cls.good)} good ones; "
            f"constant backoff {cls.RETRY_SECONDS} s, message_max_processing_attempts={cls.MAX_ATTEMPTS}",
            messages_in=len(names), handled=len(cls.handled & set(names)),
            lost=len(set(names) - cls.handled - dead_names),
            duplicated=lab.records.duplicates(), dead_lettered=len(cls.dead), exit_status=cls.status,
            queue_left=cls.queue_left,
        )

    def test_storm_leaves_nothing_behind(self):
        """After the storm the queue is empty and the daemon stops cleanly."""
        assert_that((self.queue_left, self.status), is_(equal_to((0, 0))), self.log[-3000:])

    def test_storm_messages_are_dead_lettered_with_their_reason(self):
        """Past message_max_processing_attempts each failing message is in the dead-letter queue, saying why."""
        assert_that(sorted(marker_of(message["Body"]) for message in self.dead), is_(equal_to(sorted(self.storm))))
        for message in self.dead:
            assert_that(attribute_value(message, "pubsub_outcome"), is_(equal_to("expired")))
            assert_that(
                attribute_value(message, "pubsub_reason"),
                contains_string(f"over message_max_processing_attempts={self.MAX_ATTEMPTS}"),
            )

    def test_storm_messages_follow_the_backoff_policy(self):
        """Each failing message is tried once per allowed attempt, the constant backoff apart."""
        for name in self.storm:
            deliveries = sorted(
                (record["t"], record["receive_count"]) for record in self.started if record["name"] == name
            )
            assert_that([count for _, count in deliveries], is_(equal_to(list(range(1, self.MAX_ATTEMPTS + 1)))))
            gaps = [later - earlier for (earlier, _), (later, _) in pairwise(deliveries)]
            # A lower bound only: moto hides the message for the backoff; a busy machine can only add to it
            assert_that(gaps, only_contains(greater_than_or_equal_to(self.RETRY_SECONDS - 0.1)))

    def test_failures_are_logged_with_the_error(self):
        """Each failure is a FAILED line naming the handler's exception; each expiry an EXPIRED line."""
        assert_that(self.log, contains_string("FAILED"))
        assert_that(self.log, contains_string("HandlerStorm: handler failed on purpose"))
        assert_that(self.log, contains_string("EXPIRED"))

    def test_good_messages_are_handled_through_the_storm(self):
        """The storm never keeps the good messages from being handled."""
        assert_that(set(self.good) - self.handled, is_(empty()))
