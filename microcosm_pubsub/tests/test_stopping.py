"""Stop conditions of the receive loop as plain objects: idle time, message count, either."""
from __future__ import annotations

import unittest

from hamcrest import assert_that, calling, equal_to, is_, none, raises

from microcosm_pubsub.errors import ConfigurationError
from microcosm_pubsub.stopping import AnyStop, IdleStop, MaxMessagesStop, RunnerSettings


class IdleStopTestCase(unittest.TestCase):
    def test_stops_after_the_idle_seconds(self) -> None:
        """Nothing received for the idle seconds: stop, saying why."""
        condition = IdleStop(5.0, now=100.0)
        assert_that((condition.reason(0, 104.0), condition.reason(0, 105.0)), is_(equal_to(
            (None, "idle for 5.0s (stop_when_idle_seconds=5)"),
        )))

    def test_messages_in_flight_are_not_idle(self) -> None:
        """A long handler is work, not idleness: the clock starts again when it finishes."""
        condition = IdleStop(5.0, now=100.0)
        condition.reason(1, 120.0)
        assert_that(condition.reason(0, 124.0), is_(none()))

    def test_a_receive_with_messages_restarts_the_clock(self) -> None:
        """Messages received reset the idle time; an empty receive does not."""
        condition = IdleStop(5.0, now=100.0)
        condition.received(2, 103.0)
        condition.received(0, 104.0)
        assert_that(condition.reason(0, 107.0), is_(none()))


class MaxMessagesStopTestCase(unittest.TestCase):
    def test_budget_shrinks_with_each_receive(self) -> None:
        """The loop may receive only what is left of the count."""
        condition = MaxMessagesStop(5)
        condition.received(3, 0.0)
        assert_that(condition.budget(), is_(equal_to(2)))

    def test_stops_once_all_are_settled(self) -> None:
        """All received and none in flight: stop; some still in flight: not yet."""
        condition = MaxMessagesStop(2)
        condition.received(2, 0.0)
        assert_that((condition.reason(1, 0.0), condition.reason(0, 0.0)), is_(equal_to(
            (None, "2 messages handled (max_messages=2)"),
        )))


class AnyStopTestCase(unittest.TestCase):
    def test_first_condition_to_stop_wins(self) -> None:
        """Either condition stops the loop; the smallest budget bounds the receives."""
        condition = AnyStop([IdleStop(5.0, now=0.0), MaxMessagesStop(3)])
        condition.received(1, 1.0)
        assert_that((condition.budget(), condition.reason(0, 6.0)), is_(equal_to(
            (2, "idle for 5.0s (stop_when_idle_seconds=5)"),
        )))


class RunnerSettingsTestCase(unittest.TestCase):
    def test_defaults_never_stop(self) -> None:
        """Without stop settings the loop runs until a signal; the unreachable bound is five minutes."""
        settings = RunnerSettings.from_config({})
        condition = settings.stop_condition()
        assert_that(
            (settings.unreachable_exit_seconds, condition.budget(), condition.reason(0, 1e9)),
            is_(equal_to((300.0, None, None))),
        )

    def test_a_count_below_one_is_refused(self) -> None:
        """max_messages 0 would stop before any work: a configuration error naming the key."""
        assert_that(
            calling(RunnerSettings.from_config).with_args({"max_messages": 0}),
            raises(ConfigurationError, "pubsub_runner.max_messages is 0"),
        )

    def test_error_names_the_idle_key(self) -> None:
        """A non-positive idle time is refused, naming its key."""
        assert_that(
            calling(RunnerSettings.from_config).with_args({"stop_when_idle_seconds": -1}),
            raises(ConfigurationError, "pubsub_runner.stop_when_idle_seconds is -1"),
        )
