"""The receive loop's settings and stop conditions: idle time, message count, either; old keys still read."""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import assert_that, calling, equal_to, is_, none, raises
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.runtime.stopping import RunnerSettings, StopCondition
from microcosm_pubsub.wire.errors import ConfigurationError


class StopWhenIdleTestCase(unittest.TestCase):
    def test_stops_after_the_idle_seconds(self) -> None:
        """Nothing received for the idle seconds: stop, saying why."""
        condition = StopCondition(idle_seconds=5.0, now=100.0)
        assert_that((condition.reason(0, 104.0), condition.reason(0, 105.0)), is_(equal_to(
            (None, "idle for 5.0s (stop_when_idle_seconds=5)"),
        )))

    def test_messages_in_flight_are_not_idle(self) -> None:
        """A long handler is work, not idleness: the clock starts again when it finishes."""
        condition = StopCondition(idle_seconds=5.0, now=100.0)
        condition.reason(1, 120.0)
        assert_that(condition.reason(0, 124.0), is_(none()))

    def test_a_receive_with_messages_restarts_the_clock(self) -> None:
        """Messages received reset the idle time; an empty receive does not."""
        condition = StopCondition(idle_seconds=5.0, now=100.0)
        condition.received(2, 103.0)
        condition.received(0, 104.0)
        assert_that(condition.reason(0, 107.0), is_(none()))


class StopAfterMaxMessagesTestCase(unittest.TestCase):
    def test_budget_shrinks_with_each_receive(self) -> None:
        """The loop may receive only what is left of the count."""
        condition = StopCondition(max_messages=5)
        condition.received(3, 0.0)
        assert_that(condition.budget(), is_(equal_to(2)))

    def test_stops_once_all_are_settled(self) -> None:
        """All received and none in flight: stop; some still in flight: not yet."""
        condition = StopCondition(max_messages=2)
        condition.received(2, 0.0)
        assert_that((condition.reason(1, 0.0), condition.reason(0, 0.0)), is_(equal_to(
            (None, "2 messages handled (max_messages=2)"),
        )))


class BothStopConditionsTestCase(unittest.TestCase):
    def test_first_condition_to_stop_wins(self) -> None:
        """Either condition stops the loop; the smallest budget bounds the receives."""
        condition = StopCondition(idle_seconds=5.0, max_messages=3, now=0.0)
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


def runner_settings(**sections: Any) -> RunnerSettings:
    """The `pubsub_runner` component of a testing graph configured with `sections`."""
    graph = create_object_graph("test", testing=True, loader=load_from_dict(sections))
    settings = graph.pubsub_runner
    assert isinstance(settings, RunnerSettings)
    return settings


class RunnerKeysTestCase(unittest.TestCase):
    def test_library_defaults(self) -> None:
        """With nothing configured: one handler thread, the default in-flight bound, 30 s to drain."""
        settings = runner_settings()
        assert_that((settings.concurrency, settings.max_in_flight, settings.shutdown_timeout_seconds),
                    is_(equal_to((1, 0, 30.0))))

    def test_runner_keys(self) -> None:
        """`pubsub_runner` holds concurrency, max_in_flight and shutdown_timeout_seconds."""
        settings = runner_settings(pubsub_runner={"concurrency": 4, "max_in_flight": 12, "shutdown_timeout_seconds": 5})
        assert_that((settings.concurrency, settings.max_in_flight, settings.shutdown_timeout_seconds),
                    is_(equal_to((4, 12, 5.0))))

    def test_old_concurrency_key(self) -> None:
        """The old `sqs_consumer.concurrency` still sets the handler threads."""
        assert_that(runner_settings(sqs_consumer={"concurrency": 3}).concurrency, is_(equal_to(3)))

    def test_old_max_in_flight_key(self) -> None:
        """The old `sqs_message_dispatcher.max_in_flight` still bounds the messages in flight."""
        assert_that(runner_settings(sqs_message_dispatcher={"max_in_flight": 7}).max_in_flight, is_(equal_to(7)))

    def test_old_shutdown_timeout_key(self) -> None:
        """The old `sqs_message_dispatcher.shutdown_timeout_seconds` still sets the drain time."""
        settings = runner_settings(sqs_message_dispatcher={"shutdown_timeout_seconds": 2.5})
        assert_that(settings.shutdown_timeout_seconds, is_(equal_to(2.5)))

    def test_runner_key_wins_over_old_key(self) -> None:
        """Set in both places, `pubsub_runner`'s value is the one used."""
        settings = runner_settings(pubsub_runner={"concurrency": 6}, sqs_consumer={"concurrency": 2})
        assert_that(settings.concurrency, is_(equal_to(6)))

    def test_concurrency_below_one_is_refused(self) -> None:
        """A concurrency of 0 is refused, naming the key."""
        assert_that(calling(RunnerSettings.from_config).with_args({"concurrency": 0}),
                    raises(ConfigurationError, "pubsub_runner.concurrency"))
