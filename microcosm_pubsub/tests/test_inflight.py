"""InFlight: the bounds, whole receives, the hand-offs, when a settle batch closes, and the heartbeat."""
from __future__ import annotations

import threading
import unittest
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from hamcrest import assert_that, calling, contains_inanyorder, empty, equal_to, is_, none, raises

from microcosm_pubsub.runtime.inflight import InFlight


def message(handle: str) -> Any:
    """InFlight only reads the receipt handle."""
    return SimpleNamespace(receipt_handle=handle)


def messages(count: int, prefix: str = "m") -> list[Any]:
    return [message(f"{prefix}-{index}") for index in range(count)]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def handle_all(in_flight: InFlight, count: int) -> list[Any]:
    """Take `count` pending messages and finish each (the finished item is the message itself)."""
    taken = []
    for _ in range(count):
        message = in_flight.next_message()
        assert message is not None
        in_flight.finish(message)
        taken.append(message)
    return taken


class CapacityTestCase(unittest.TestCase):
    def test_capacity_must_be_positive(self) -> None:
        """A capacity under one could never receive anything."""
        construct: Callable[[], Any] = calling(lambda: InFlight(0))
        assert_that(construct, raises(ValueError))

    def test_received_messages_take_slots(self) -> None:
        """Each received message takes a slot until it is settled."""
        in_flight = InFlight(3)
        in_flight.received(messages(2), 0)
        assert_that((len(in_flight), in_flight.free), is_(equal_to((2, 1))))

    def test_a_receive_waits_until_a_whole_one_fits(self) -> None:
        """With ten wanted and only nine slots free, nothing is reserved."""
        in_flight = InFlight(11)
        in_flight.received(messages(2), 0)
        assert_that(in_flight.reserve(10, timeout=0.01), is_(equal_to(0)))

    def test_reserved_slots_are_taken_until_the_receive_is_back(self) -> None:
        """A reservation counts against the bound; `received` turns it into held messages or gives it back."""
        in_flight = InFlight(12)
        reserved = in_flight.reserve(10, timeout=0)
        during = in_flight.free
        in_flight.received(messages(4), reserved)
        assert_that((reserved, during, in_flight.free), is_(equal_to((10, 2, 8))))

    def test_a_reservation_takes_up_to_most_when_more_is_free(self) -> None:
        """Asked for at least five and at most ten with twenty free, the receive gets ten."""
        assert_that(InFlight(20).reserve(5, timeout=0, most=10), is_(equal_to(10)))

    def test_a_finished_handler_wakes_a_waiting_receiver(self) -> None:
        """Once a handler finishes, a receiver waiting for one slot gets it (its result waits to settle)."""
        in_flight = InFlight(3, settling=1)
        in_flight.received(messages(3), 0)
        taken = in_flight.next_message()
        finisher = threading.Timer(0.05, in_flight.finish, args=(taken,))
        finisher.start()
        self.addCleanup(finisher.join)
        assert_that(in_flight.reserve(1, timeout=10), is_(equal_to(1)))

    def test_nothing_is_held_beyond_the_limit(self) -> None:
        """Handled-but-unsettled messages count against `limit`: capacity plus settling."""
        in_flight = InFlight(2, settling=1)
        in_flight.received(messages(2), 0)
        handle_all(in_flight, 2)
        assert_that((in_flight.limit, in_flight.free), is_(equal_to((3, 1))))

    def test_settling_frees_both_bounds(self) -> None:
        """A settled message leaves; unknown ones are ignored."""
        in_flight = InFlight(1, settling=1)
        received = messages(1)
        in_flight.received(received, 0)
        handle_all(in_flight, 1)
        in_flight.settled([*received, message("unknown")])
        assert_that((len(in_flight), in_flight.free), is_(equal_to((0, 1))))


class HandOffTestCase(unittest.TestCase):
    def test_messages_go_to_handlers_in_receive_order(self) -> None:
        """Handler threads take messages in the order they were received."""
        in_flight = InFlight(5)
        received = messages(3)
        in_flight.received(received, 0)
        assert_that([in_flight.next_message() for _ in received], is_(equal_to(received)))

    def test_a_closing_runner_hands_pending_messages_back(self) -> None:
        """At close, messages no handler took go to the settler unhandled, and handlers get None."""
        in_flight = InFlight(5)
        received = messages(3)
        in_flight.received(received, 0)
        first = in_flight.next_message()
        pending = in_flight.close()
        assert_that((pending, in_flight.next_message(first)), is_(equal_to((2, None))))
        assert_that(in_flight.settle_batch(max_wait=60, timeout=0), contains_inanyorder(*received))

    def test_a_closing_runner_refuses_what_a_receive_brings_back(self) -> None:
        """Messages back from a receive after close are returned to the caller to release."""
        in_flight = InFlight(12)
        reserved = in_flight.reserve(10, timeout=0)
        in_flight.close()
        late = messages(2)
        assert_that((in_flight.received(late, reserved), len(in_flight)), is_(equal_to((late, 0))))


class BatchTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.in_flight = InFlight(20, clock=self.clock, settling=20)

    def test_a_batch_closes_at_ten(self) -> None:
        """Ten finished results make a batch even while others are in flight."""
        self.in_flight.received(messages(12), 0)
        handle_all(self.in_flight, 10)
        assert_that(self.in_flight.settle_batch(max_wait=60, timeout=0), is_(equal_to(messages(10))))

    def test_a_partial_batch_waits_while_others_are_in_flight(self) -> None:
        """Fewer than ten results wait while another message may still join them."""
        self.in_flight.received(messages(3), 0)
        handle_all(self.in_flight, 2)
        assert_that(self.in_flight.settle_batch(max_wait=60, timeout=0), is_(empty()))

    def test_a_partial_batch_closes_when_nothing_else_is_in_flight(self) -> None:
        """Once the last message in flight is handled, the partial batch goes."""
        self.in_flight.received(messages(3), 0)
        handle_all(self.in_flight, 3)
        assert_that(self.in_flight.settle_batch(max_wait=60, timeout=0), is_(equal_to(messages(3))))

    def test_a_partial_batch_closes_after_max_wait(self) -> None:
        """A result waits for company at most `max_wait` seconds."""
        self.in_flight.received(messages(3), 0)
        handle_all(self.in_flight, 2)
        self.clock.now += 10
        assert_that(self.in_flight.settle_batch(max_wait=10, timeout=0), is_(equal_to(messages(2))))

    def test_the_settler_is_told_to_leave_once_shut(self) -> None:
        """After shut, with nothing left to settle, the settler gets None."""
        self.in_flight.close()
        self.in_flight.shut()
        assert_that(self.in_flight.settle_batch(max_wait=60, timeout=10), is_(none()))


class DueTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.in_flight = InFlight(10, clock=self.clock)

    def test_nothing_is_due_before_the_interval(self) -> None:
        """A message received just now needs no extension."""
        self.in_flight.received(messages(1), 0)
        self.clock.now += 9.9
        assert_that(self.in_flight.due(10), is_(empty()))

    def test_messages_are_due_after_the_interval(self) -> None:
        """Messages held for the interval or longer are due; newer ones are not."""
        old, older = message("old"), message("older")
        self.in_flight.received([older], 0)
        self.clock.now += 5
        self.in_flight.received([old], 0)
        self.clock.now += 5
        self.in_flight.received(messages(1), 0)
        self.clock.now += 5
        assert_that(self.in_flight.due(10), contains_inanyorder(old, older))

    def test_due_marks_messages_as_extended(self) -> None:
        """Once reported, a message is not due again until another interval passes."""
        self.in_flight.received(messages(1), 0)
        self.clock.now += 10
        first = self.in_flight.due(10)
        self.clock.now += 5
        second = self.in_flight.due(10)
        self.clock.now += 5
        third = self.in_flight.due(10)
        assert_that([len(first), len(second), len(third)], is_(equal_to([1, 0, 1])))

    def test_settled_messages_are_never_due(self) -> None:
        """A settled message is forgotten by the heartbeat."""
        settled = messages(1)
        self.in_flight.received(settled, 0)
        self.in_flight.settled(settled)
        self.clock.now += 60
        assert_that(self.in_flight.due(10), is_(empty()))
