"""Reliability through endpoint outages: refused connections, 5xx and throttling."""
from __future__ import annotations

import time

from hamcrest import assert_that, contains_string, equal_to, greater_than, is_, less_than_or_equal_to

from microcosm_pubsub.tests.fixtures import wait_for
from microcosm_pubsub.tests.reliability.cases import ReliabilityTestCase
from microcosm_pubsub.tests.reliability.harness import record_figures
from microcosm_pubsub.tests.reliability.proxy import Proxy


class OutageTest(ReliabilityTestCase):
    """The endpoint goes away (or answers errors) for several seconds behind a loopback proxy."""

    OUTAGE_SECONDS = 4.0
    # A receive loop that backs off makes a handful of attempts in an outage; a busy loop makes thousands
    MAX_ATTEMPTS_PER_SECOND = 10

    def outage(self, mode: str) -> None:
        # Given a daemon consuming through the proxy, with a first lot handled
        stack = self.lab.new_stack(f"outage-{mode}", visibility_timeout=10)
        proxy = Proxy(int(self.lab.endpoint.url.rsplit(":", 1)[1]))
        self.addCleanup(proxy.close)
        before = [f"{mode}-before-{index}" for index in range(20)]
        during = [f"{mode}-during-{index}" for index in range(20)]
        self.lab.publish(stack, before)
        daemon = self.lab.start_daemon(stack, concurrency=4, sqs_endpoint_url=proxy.url)
        self.wait_handled(daemon, before, timeout=30)
        # Settled too, so that the outage meets the receive loop rather than a pending delete
        assert_that(wait_for(lambda: self.lab.depth(stack.queue_url) == 0, timeout=30), is_(True), daemon.tail())

        # When the endpoint is unreachable for several seconds while more messages arrive
        proxy.set_mode(mode)
        self.lab.publish(stack, during)
        time.sleep(self.OUTAGE_SECONDS)
        attempts = proxy.connections[mode] if mode == "refuse" else proxy.requests[mode]
        proxy.set_mode("forward")

        # Then the daemon logged, backed off, recovered by itself and lost nothing
        self.wait_handled(daemon, before + during, timeout=60)
        drained = wait_for(lambda: self.lab.depth(stack.queue_url) == 0, timeout=60)
        status = daemon.stop()
        lost = len(set(before + during) - self.records.handled())
        what = "connections refused (reset)" if mode == "refuse" else "HTTP 503 and throttling answers"
        record_figures(
            f"outage-{mode}", f"endpoint unreachable: {what}",
            f"{self.OUTAGE_SECONDS:g} s outage through a loopback proxy; {attempts} "
            f"{'connections' if mode == 'refuse' else 'requests'} reached it during the outage",
            messages_in=len(before + during), handled=len(self.records.handled()), lost=lost,
            duplicated=self.records.duplicates(), dead_lettered=self.lab.depth(stack.dead_letter_queue_url),
            attempts_during_outage=attempts,
        )
        assert_that(daemon.log(), contains_string("receive failed"))
        assert_that(attempts, is_(greater_than(0)))
        assert_that(attempts, is_(less_than_or_equal_to(self.OUTAGE_SECONDS * self.MAX_ATTEMPTS_PER_SECOND)))
        assert_that((lost, status, drained), is_(equal_to((0, 0, True))), daemon.tail())

    def test_unreachable_endpoint_is_survived(self):
        """Refused connections: the daemon logs, backs off (no busy loop), recovers, loses nothing."""
        self.outage("refuse")

    def test_failing_endpoint_is_survived(self):
        """HTTP 503 and throttling errors: the daemon logs, backs off (no busy loop), recovers, loses nothing."""
        self.outage("error")
