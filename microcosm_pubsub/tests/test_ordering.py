"""FIFO ordering as plain objects: one message per group at a time, in order; a returning one holds its group."""
from __future__ import annotations

import unittest

from hamcrest import assert_that, contains_exactly, empty, equal_to, is_, none, not_none

from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Action, MessageHandlingResult, Outcome, SettlePolicy
from microcosm_pubsub.runtime.inflight import InFlight
from microcosm_pubsub.runtime.ordering import GroupedPending, pending_for
from microcosm_pubsub.wire.fifo import is_fifo
from microcosm_pubsub.wire.received import Delivery, Opened


def message(name: str, group: str | None) -> SQSMessage:
    """A received message named `name` (its receipt handle) in FIFO group `group`."""
    return SQSMessage.received(
        None, Opened("text/plain", {"name": name}, name), Delivery(name, name, 1, message_group_id=group),
    )


def grouped(count: int, *groups: str) -> list[SQSMessage]:
    """`count` messages per group, interleaved as a FIFO receive returns them: a-0, b-0, a-1, b-1..."""
    return [message(f"{group}-{index}", group) for index in range(count) for group in groups]


def result(item: SQSMessage, outcome: Outcome = Outcome.SUCCEEDED) -> MessageHandlingResult:
    return MessageHandlingResult(item, outcome)


def decide(handled: MessageHandlingResult) -> Action:
    return SettlePolicy().action(handled)


def names(items: list[SQSMessage]) -> list[str]:
    return [item.receipt_handle for item in items]


def take_all(pending: GroupedPending) -> list[SQSMessage]:
    """Every message that may run now, without finishing any."""
    taken = []
    while pending:
        taken.append(pending.popleft())
    return taken


class GroupedPendingTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.pending = GroupedPending(decide)

    def test_one_message_per_group_at_a_time(self) -> None:
        """Of two groups received interleaved, only each group's first message may run."""
        self.pending.extend(grouped(3, "a", "b"))
        assert_that(names(take_all(self.pending)), contains_exactly("a-0", "b-0"))

    def test_the_next_of_a_group_after_it_finishes(self) -> None:
        """A group's next message may run once its previous one finished, in the order received."""
        self.pending.extend(grouped(3, "a"))
        order = []
        while self.pending:
            taken = self.pending.popleft()
            order.append(taken.receipt_handle)
            self.pending.finished(result(taken))
        assert_that(order, contains_exactly("a-0", "a-1", "a-2"))

    def test_a_finish_frees_only_its_own_group(self) -> None:
        """Group b finishing does not let a's second message run while a's first runs."""
        self.pending.extend(grouped(2, "a", "b"))
        _, first_b = take_all(self.pending)
        self.pending.finished(result(first_b))
        assert_that(names(take_all(self.pending)), contains_exactly("b-1"))

    def test_a_failure_hands_back_the_rest_of_its_group(self) -> None:
        """A failed message's group gives back its later messages unhandled."""
        self.pending.extend(grouped(3, "a", "b"))
        first_a, _ = take_all(self.pending)
        handed_back = self.pending.finished(result(first_a, Outcome.FAILED))
        assert_that(names(handed_back), contains_exactly("a-1", "a-2"))

    def test_other_groups_go_on_after_a_failure(self) -> None:
        """After group a fails, b's later messages still run, and none of a's."""
        self.pending.extend(grouped(2, "a", "b"))
        first_a, first_b = take_all(self.pending)
        self.pending.finished(result(first_a, Outcome.RETRIED))
        self.pending.finished(result(first_b))
        assert_that((names(take_all(self.pending)), self.pending.waiting), is_(equal_to((["b-1"], 0))))

    def test_a_final_outcome_lets_the_group_go_on(self) -> None:
        """A message skipped or ignored is done with: its group's next message runs."""
        self.pending.extend(grouped(2, "a"))
        self.pending.finished(result(self.pending.popleft(), Outcome.IGNORED))
        assert_that(names(take_all(self.pending)), contains_exactly("a-1"))

    def test_a_message_handed_back_takes_its_group_with_it(self) -> None:
        """At shutdown, a message handed back unhandled hands back its group's later ones too."""
        self.pending.extend(grouped(2, "a"))
        assert_that(names(self.pending.finished(self.pending.popleft())), contains_exactly("a-1"))

    def test_messages_without_a_group_run_in_parallel(self) -> None:
        """Messages with no group id (not from a FIFO queue) are each their own group."""
        self.pending.extend([message("x", None), message("y", None)])
        assert_that(names(take_all(self.pending)), contains_exactly("x", "y"))

    def test_length_counts_what_could_start_now(self) -> None:
        """`len` counts one message per group with nothing running; `waiting` counts them all."""
        self.pending.extend(grouped(3, "a", "b", "c"))
        self.pending.popleft()
        assert_that((len(self.pending), self.pending.waiting), is_(equal_to((2, 8))))

    def test_clear_leaves_nothing_to_take(self) -> None:
        """Cleared (the runner closing), nothing waits and nothing may run."""
        self.pending.extend(grouped(2, "a"))
        everything = names(list(self.pending))
        self.pending.clear()
        assert_that((everything, self.pending.waiting, bool(self.pending)), is_(equal_to((["a-0", "a-1"], 0, False))))


class InFlightOrderingTestCase(unittest.TestCase):
    def test_failure_releases_the_group_in_the_settle_batch(self) -> None:
        """In the runner's hand-offs, a failed message and its group's later ones settle together, those released."""
        in_flight = InFlight(10, pending=GroupedPending(decide))
        in_flight.received(grouped(3, "a"), 0)
        first = in_flight.next_message()
        assert first is not None
        assert_that(in_flight.next_message(result(first, Outcome.FAILED), wait=False), is_(none()))
        batch = in_flight.settle_batch(max_wait=0.0, timeout=0.0)
        assert_that(
            [item.outcome if isinstance(item, MessageHandlingResult) else item.receipt_handle for item in batch or []],
            contains_exactly(Outcome.FAILED, "a-1", "a-2"),
        )


class PendingForTestCase(unittest.TestCase):
    def test_fifo_queues_by_name(self) -> None:
        """A queue is FIFO when its URL ends in `.fifo`, as AWS requires of its name."""
        assert_that(
            [is_fifo(url) for url in ("http://q/1/jobs.fifo", "http://q/1/jobs", None)],
            contains_exactly(True, False, False),
        )

    def test_standard_queue_keeps_its_plain_line(self) -> None:
        """A standard queue gets no grouping (the runner's deque), a FIFO queue does."""
        assert_that(
            (pending_for("http://q/1/jobs", decide), pending_for("http://q/1/jobs.fifo", decide)),
            contains_exactly(none(), not_none()),
        )

    def test_nothing_left_in_a_fresh_pending(self) -> None:
        """A new pending has nothing to take."""
        assert_that(list(GroupedPending(decide)), is_(empty()))
