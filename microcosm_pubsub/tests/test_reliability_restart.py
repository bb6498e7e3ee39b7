"""Reliability across restarts: SIGTERM while a long poll is open or messages flow holds nothing hostage."""
from __future__ import annotations

import signal
import time

from hamcrest import assert_that, contains_string, equal_to, is_, less_than_or_equal_to

from microcosm_pubsub.runtime.runner import POLL_RETURN_MARGIN_SECONDS
from microcosm_pubsub.tests.fixtures import queue_counts, wait_for
from microcosm_pubsub.tests.reliability.cases import ReliabilityTestCase
from microcosm_pubsub.tests.reliability.daemon import WorkSchema
from microcosm_pubsub.tests.reliability.harness import attribute_value, receive_all, record_figures


# The daemons' long poll: short, so that each restart takes about this long when the queue is idle
POLL_SECONDS = 2


class RestartTest(ReliabilityTestCase):

    def start(self, stack, **sections):
        daemon = self.lab.start_daemon(stack, sqs_consumer={"wait_seconds": POLL_SECONDS}, **sections)
        started = wait_for(lambda: daemon.exited or "consuming" in daemon.log(), timeout=30)
        assert_that((started, daemon.exited), is_(equal_to((True, False))), daemon.tail())
        return daemon

    def test_message_sent_to_a_stopping_daemon_is_visible_at_once(self):
        """SIGTERM with a long poll open, then a message: the daemon exits 0 and the message is visible, not hidden."""
        # Given an idle daemon whose long poll is open
        stack = self.lab.new_stack("restart-poll", visibility_timeout=30)
        daemon = self.start(stack)
        # One message handled shows the receive loop running; its next poll goes out right after
        self.lab.publish(stack, ["warm-up"])
        self.wait_handled(daemon, ["warm-up"], timeout=10)
        time.sleep(0.3)

        # When it is stopped and a message arrives a moment later (the poll is still open)
        began = time.monotonic()
        daemon.send(signal.SIGTERM)
        time.sleep(0.7)
        self.lab.publish(stack, ["late"])
        status = daemon.wait()
        took = time.monotonic() - began

        # Then the message is visible again at once (not after 30 s), one receive used and said so
        assert_that(status, is_(equal_to(0)), daemon.tail())
        assert_that(queue_counts(self.lab.sqs, stack.queue_url), is_(equal_to((1, 0))))
        [message] = receive_all(self.lab.sqs, stack.queue_url, quiet=1)
        assert_that(message["Attributes"]["ApproximateReceiveCount"], is_(equal_to("2")))
        assert_that(daemon.log(), contains_string("released 1 messages unhandled"))
        assert_that(took, is_(less_than_or_equal_to(POLL_SECONDS + POLL_RETURN_MARGIN_SECONDS + 1)))

    def test_restarts_while_messages_flow_lose_nothing_and_dead_letter_nothing_without_a_reason(self):
        """Several SIGTERMs while messages flow: each handled, none in the dead-letter queue without a reason."""
        # Given a queue whose redrive policy moves a message after only two receives
        stack = self.lab.new_stack("restart-flow", visibility_timeout=30, max_receive_count=2)
        producer = self.lab.graph(stack).sns_producer
        names: list[str] = []

        def publish(count: int) -> None:
            for _ in range(count):
                names.append(f"flow-{len(names)}")
                producer.produce(WorkSchema.MEDIA_TYPE, name=names[-1], seconds=0.02)

        # When, several times, a daemon handles a few messages, is stopped while idle (its long poll open),
        # and more messages arrive while it stops
        statuses, hidden_after_exit, logs = [], [], []
        for _ in range(RESTARTS):
            daemon = self.start(stack)
            publish(BURST)
            self.wait_handled(daemon, names, timeout=10)
            daemon.send(signal.SIGTERM)
            time.sleep(0.7)
            publish(BURST)
            statuses.append(daemon.wait())
            logs.append(daemon.log())
            # Whatever the stopped daemon held is deleted or visible again, never left hidden
            hidden_after_exit.append(queue_counts(self.lab.sqs, stack.queue_url)[1])
        last = self.start(stack)
        # Well inside the visibility timeout: a message an exited daemon's poll took would be hidden for 30 s
        self.wait_handled(last, names, timeout=10)
        drained = wait_for(lambda: self.lab.depth(stack.queue_url) == 0, timeout=10)
        statuses.append(last.stop())

        # Then every message was handled, nothing was left hidden, and no dead letter lacks its reason
        assert stack.dead_letter_queue_url is not None
        dead = receive_all(self.lab.sqs, stack.dead_letter_queue_url, quiet=1)
        without_reason = [message for message in dead if not attribute_value(message, "pubsub_reason")]
        first_receives: dict[str, int] = {}
        for started in self.records.events("started"):
            first_receives.setdefault(started["name"], started["receive_count"])
        lost = len(set(names) - self.records.handled())
        record_figures(
            "restarts", "SIGTERM restarts while messages flow",
            f"{RESTARTS} restarts; before each SIGTERM {BURST} messages handled, {BURST} more sent while the "
            f"daemon stops (long poll {POLL_SECONDS} s open); maxReceiveCount 2",
            messages_in=len(names), handled=len(self.records.handled() & set(names)), lost=lost,
            duplicated=self.records.duplicates(), dead_lettered=len(dead),
            dead_letters_without_reason=len(without_reason), hidden_after_exit=sum(hidden_after_exit),
            first_handled_on_receive_2=sum(count == 2 for count in first_receives.values()),
            first_handled_later=sum(count > 2 for count in first_receives.values()),
        )
        assert_that(statuses, is_(equal_to([0] * (RESTARTS + 1))), "\n".join(logs))
        assert_that((lost, drained), is_(equal_to((0, True))), last.tail())
        assert_that(hidden_after_exit, is_(equal_to([0] * RESTARTS)))
        assert_that(without_reason, is_(equal_to([])))


# Daemons stopped with SIGTERM before the last one drains the queue, and the messages sent around each stop
RESTARTS = 3
BURST = 3

