"""InFlight: the prefetch bound, waiting for room, and which messages the heartbeat extends."""
from __future__ import annotations

import threading
import unittest
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from hamcrest import assert_that, calling, contains_inanyorder, empty, equal_to, is_, raises

from microcosm_pubsub.inflight import InFlight


def message(handle: str) -> Any:
    """InFlight only reads the receipt handle."""
    return SimpleNamespace(receipt_handle=handle)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CapacityTestCase(unittest.TestCase):
    def test_capacity_must_be_positive(self) -> None:
        """A capacity under one could never receive anything."""
        construct: Callable[[], Any] = calling(lambda: InFlight(0))
        assert_that(construct, raises(ValueError))

    def test_free_counts_down(self) -> None:
        """Each added message takes a slot."""
        in_flight = InFlight(3)
        in_flight.add(message("a"))
        in_flight.add(message("b"))
        assert_that((len(in_flight), in_flight.free), is_(equal_to((2, 1))))

    def test_remove_frees_slots(self) -> None:
        """Removing settled messages gives their slots back; unknown ones are ignored."""
        in_flight = InFlight(2)
        first, second = message("a"), message("b")
        in_flight.add(first)
        in_flight.add(second)
        in_flight.remove([first, message("unknown")])
        assert_that(in_flight.free, is_(equal_to(1)))

    def test_wait_for_room_returns_at_once_when_free(self) -> None:
        """With room, wait_for_room returns the free slots without waiting."""
        in_flight = InFlight(4)
        in_flight.add(message("a"))
        assert_that(in_flight.wait_for_room(timeout=0), is_(equal_to(3)))

    def test_wait_for_room_times_out_when_full(self) -> None:
        """When full, wait_for_room gives up after its timeout and reports no room."""
        in_flight = InFlight(1)
        in_flight.add(message("a"))
        assert_that(in_flight.wait_for_room(timeout=0.01), is_(equal_to(0)))

    def test_wait_for_room_wakes_when_a_message_settles(self) -> None:
        """A removal in another thread wakes a waiting receiver."""
        in_flight = InFlight(1)
        held = message("a")
        in_flight.add(held)
        remover = threading.Timer(0.05, in_flight.remove, args=([held],))
        remover.start()
        self.addCleanup(remover.join)
        # The timeout is only a bound for a broken wake-up; the removal normally ends the wait
        assert_that(in_flight.wait_for_room(timeout=10), is_(equal_to(1)))

    def test_wait_until_empty(self) -> None:
        """wait_until_empty is true once everything is settled, false if time runs out first."""
        in_flight = InFlight(2)
        held = message("a")
        in_flight.add(held)
        timed_out = in_flight.wait_until_empty(timeout=0.01)
        in_flight.remove([held])
        assert_that((timed_out, in_flight.wait_until_empty(timeout=0)), is_(equal_to((False, True))))


class DueTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.in_flight = InFlight(10, clock=self.clock)

    def test_nothing_is_due_before_the_interval(self) -> None:
        """A message received just now needs no extension."""
        self.in_flight.add(message("a"))
        self.clock.now += 9.9
        assert_that(self.in_flight.due(10), is_(empty()))

    def test_messages_are_due_after_the_interval(self) -> None:
        """Messages held for the interval or longer are due; newer ones are not."""
        old, older = message("old"), message("older")
        self.in_flight.add(older)
        self.clock.now += 5
        self.in_flight.add(old)
        self.clock.now += 5
        self.in_flight.add(message("new"))
        self.clock.now += 5
        assert_that(self.in_flight.due(10), contains_inanyorder(old, older))

    def test_due_marks_messages_as_extended(self) -> None:
        """Once reported, a message is not due again until another interval passes."""
        self.in_flight.add(message("a"))
        self.clock.now += 10
        first = self.in_flight.due(10)
        self.clock.now += 5
        second = self.in_flight.due(10)
        self.clock.now += 5
        third = self.in_flight.due(10)
        assert_that([len(first), len(second), len(third)], is_(equal_to([1, 0, 1])))

    def test_settled_messages_are_never_due(self) -> None:
        """A removed message is forgotten by the heartbeat."""
        settled = message("a")
        self.in_flight.add(settled)
        self.in_flight.remove([settled])
        self.clock.now += 60
        assert_that(self.in_flight.due(10), is_(empty()))


class SettlingTestCase(unittest.TestCase):
    def test_handled_messages_make_room_for_the_next_receive(self) -> None:
        """Once handled, messages waiting for their delete no longer hold back the next receive."""
        in_flight = InFlight(2, settling=2)
        held = [message("a"), message("b")]
        for item in held:
            in_flight.add(item)
        assert_that(in_flight.free, is_(equal_to(0)))
        for item in held:
            in_flight.handled(item)
        assert_that(in_flight.free, is_(equal_to(2)))

    def test_nothing_is_held_beyond_the_limit(self) -> None:
        """Handled-but-unsettled messages count against `limit`: capacity plus settling."""
        in_flight = InFlight(2, settling=1)
        for handle in ("a", "b", "c"):
            in_flight.add(message(handle))
            in_flight.handled(message(handle))
        assert_that((in_flight.limit, in_flight.free), is_(equal_to((3, 0))))

    def test_settling_releases_handled_messages(self) -> None:
        """Removing a handled message frees its place in both bounds."""
        in_flight = InFlight(1, settling=1)
        first = message("a")
        in_flight.add(first)
        in_flight.handled(first)
        in_flight.remove([first])
        assert_that((len(in_flight), in_flight.free), is_(equal_to((0, 1))))
