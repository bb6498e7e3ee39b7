"""Reliability under SIGKILL and SIGTERM: real daemons killed or stopped mid-batch."""
from __future__ import annotations

import signal

from hamcrest import assert_that, contains_string, equal_to, is_

from microcosm_pubsub.tests.fixtures import wait_for
from microcosm_pubsub.tests.reliability.cases import SOAK, ReliabilityTestCase
from microcosm_pubsub.tests.reliability.harness import record_figures


class KillTest(ReliabilityTestCase):
    """SIGKILL in the middle of a busy batch, then a restart: every message is handled; duplicates counted."""

    def kill_and_restart(self, concurrency: int, count: int, seconds: float) -> None:
        # Given a queue whose messages come back two seconds after a crash
        stack = self.lab.new_stack("kill", visibility_timeout=2)
        names = [f"kill-{concurrency}-{index}" for index in range(count)]
        self.lab.publish(stack, names, seconds=seconds)
        first = self.lab.start_daemon(stack, concurrency)
        busy = wait_for(lambda: first.exited or len(self.records.handled()) >= count // 3, timeout=60)
        assert_that((busy, first.exited), is_(equal_to((True, False))), first.tail())

        # When the daemon is killed mid-batch and another starts
        first.send(signal.SIGKILL)
        killed_status = first.wait()
        started = set(self.records.counts("started"))
        interrupted = len(started - self.records.handled())
        second = self.lab.start_daemon(stack, concurrency)
        self.wait_handled(second, names, timeout=120)
        # Messages the first daemon handled but had not yet deleted come back when their visibility lapses,
        # possibly after the second has handled every name: it handles and deletes those duplicates too
        drained = wait_for(lambda: self.lab.depth(stack.queue_url) == 0, timeout=60)
        status = second.stop()

        # Then nothing is lost and the queue is empty
        handled = self.records.handled()
        lost = len(set(names) - handled)
        record_figures(
            f"sigkill-concurrency-{concurrency}", f"SIGKILL mid-batch, concurrency {concurrency}",
            f"kill -9 after {count // 3}+ of {count} handled ({interrupted} interrupted in flight), restart",
            messages_in=count, handled=len(handled & set(names)), lost=lost,
            duplicated=self.records.duplicates(), dead_lettered=self.lab.depth(stack.dead_letter_queue_url),
        )
        assert_that(killed_status, is_(equal_to(-signal.SIGKILL)))
        assert_that(lost, is_(equal_to(0)))
        assert_that(status, is_(equal_to(0)), second.tail())
        assert_that(drained, is_(True), f"{self.lab.depth(stack.queue_url)} left on the queue; {second.tail()}")

    def test_sigkill_at_concurrency_1_loses_nothing(self):
        """Killed with SIGKILL mid-batch at concurrency 1, a restarted daemon handles every message."""
        self.kill_and_restart(concurrency=1, count=150 if SOAK else 30, seconds=0.05)

    def test_sigkill_at_concurrency_16_loses_nothing(self):
        """Killed with SIGKILL mid-batch at concurrency 16, a restarted daemon handles every message."""
        self.kill_and_restart(concurrency=16, count=1000 if SOAK else 160, seconds=0.1)


class SigtermTest(ReliabilityTestCase):

    def test_sigterm_finishes_in_flight_handlers(self):
        """SIGTERM during long handlers: they finish and are settled, the daemon exits 0, the rest is released."""
        # Given four long handlers running and more messages received behind them
        stack = self.lab.new_stack("sigterm", visibility_timeout=60)
        names = [f"sigterm-{index}" for index in range(10)]
        self.lab.publish(stack, names, seconds=1.0)
        first = self.lab.start_daemon(stack, concurrency=4)
        running = wait_for(lambda: first.exited or len(self.records.events("started")) >= 4, timeout=30)
        assert_that((running, first.exited), is_(equal_to((True, False))), first.tail())

        # When it is told to stop
        first.send(signal.SIGTERM)
        status = first.wait()
        started = {record["name"] for record in self.records.events("started") if record["pid"] == first.pid}
        finished = {record["name"] for record in self.records.events("handled") if record["pid"] == first.pid}

        # Then what had started finished; what had not was released at once (well before 60 s) for another daemon
        second = self.lab.start_daemon(stack, concurrency=4)
        self.wait_handled(second, names, timeout=30)
        second_status = second.stop()
        lost = len(set(names) - self.records.handled())
        record_figures(
            "sigterm", "SIGTERM during long handlers",
            f"SIGTERM with {len(started)} 1-second handlers running; a second daemon takes the rest",
            messages_in=len(names), handled=len(self.records.handled()), lost=lost,
            duplicated=self.records.duplicates(), dead_lettered=self.lab.depth(stack.dead_letter_queue_url),
        )
        assert_that(status, is_(equal_to(0)), first.tail())
        assert_that(finished, is_(equal_to(started)))
        assert_that(first.log(), contains_string("received SIGTERM"))
        assert_that((lost, second_status), is_(equal_to((0, 0))))
        assert_that(self.lab.depth(stack.queue_url), is_(equal_to(0)))
