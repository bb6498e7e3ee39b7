"""Outcomes as data: signals mapped to outcomes by MRO, the action table with and without a DLQ, the old API."""
from __future__ import annotations

import asyncio
import logging
import unittest
from types import SimpleNamespace
from typing import Any
from unittest import mock

from hamcrest import assert_that, equal_to, has_entries, is_, none

from microcosm_pubsub import result as old
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Action, MessageHandlingResult, Outcome, actions, outcome_of
from microcosm_pubsub.wire.errors import (
    ConsumeError,
    HandlerSignal,
    IgnoreMessage,
    Nack,
    SkipMessage,
    TTLExpired,
)


# from_error never looks at the message; a placeholder keeps these tests free of SQS
MESSAGE: Any = object()


class RetryLater(Nack):
    """An application's own retry signal."""


class SkipAndNack(SkipMessage, Nack):
    """Inherits two signals; the nearer one in the MRO must win."""


class OutcomeOfTestCase(unittest.TestCase):
    def test_nack_is_retried(self) -> None:
        """Nack asks for a retry."""
        assert_that(outcome_of(Nack(0)), is_(equal_to(Outcome.RETRIED)))

    def test_skip_message_is_skipped(self) -> None:
        """SkipMessage means there is nothing to do."""
        assert_that(outcome_of(SkipMessage("done already")), is_(equal_to(Outcome.SKIPPED)))

    def test_ignore_message_is_ignored(self) -> None:
        """IgnoreMessage means the message is not for this service."""
        assert_that(outcome_of(IgnoreMessage("not ours")), is_(equal_to(Outcome.IGNORED)))

    def test_ttl_expired_is_expired(self) -> None:
        """TTLExpired means the message is too old to act on."""
        assert_that(outcome_of(TTLExpired("too old")), is_(equal_to(Outcome.EXPIRED)))

    def test_subclass_of_a_signal_takes_its_outcome(self) -> None:
        """An application's subclass of Nack is found through its MRO."""
        assert_that(outcome_of(RetryLater(5)), is_(equal_to(Outcome.RETRIED)))

    def test_nearest_signal_in_the_mro_wins(self) -> None:
        """With two signal bases, the first in the MRO decides."""
        assert_that(outcome_of(SkipAndNack("both")), is_(equal_to(Outcome.SKIPPED)))

    def test_any_other_exception_fails(self) -> None:
        """A plain exception is a failure."""
        assert_that(outcome_of(ValueError("boom")), is_(equal_to(Outcome.FAILED)))

    def test_other_package_errors_fail(self) -> None:
        """Our own non-signal errors are failures too, not signals."""
        assert_that(outcome_of(ConsumeError("unreachable")), is_(equal_to(Outcome.FAILED)))

    def test_bare_handler_signal_fails(self) -> None:
        """The signal base class itself chooses no outcome."""
        assert_that(outcome_of(HandlerSignal("vague")), is_(equal_to(Outcome.FAILED)))


class ActionsTestCase(unittest.TestCase):
    def test_without_dead_letter_queue(self) -> None:
        """Without a DLQ, EXPIRED is deleted and INVALID left to the redrive policy."""
        assert_that(actions(dead_letter_queue=False), is_(equal_to({
            Outcome.SUCCEEDED: Action.DELETE,
            Outcome.SKIPPED: Action.DELETE,
            Outcome.IGNORED: Action.DELETE,
            Outcome.RETRIED: Action.RETRY,
            Outcome.FAILED: Action.RETRY,
            Outcome.EXPIRED: Action.DELETE,
            Outcome.INVALID: Action.LEAVE,
        })))

    def test_with_dead_letter_queue(self) -> None:
        """With a DLQ, EXPIRED and INVALID are dead-lettered; IGNORED is still deleted."""
        assert_that(actions(dead_letter_queue=True), is_(equal_to({
            Outcome.SUCCEEDED: Action.DELETE,
            Outcome.SKIPPED: Action.DELETE,
            Outcome.IGNORED: Action.DELETE,
            Outcome.RETRIED: Action.RETRY,
            Outcome.FAILED: Action.RETRY,
            Outcome.EXPIRED: Action.DEAD_LETTER,
            Outcome.INVALID: Action.DEAD_LETTER,
        })))

    def test_dead_letter_ignored(self) -> None:
        """dead_letter_ignored sends IGNORED to the DLQ as well."""
        table = actions(dead_letter_queue=True, dead_letter_ignored=True)
        assert_that((table[Outcome.IGNORED], table[Outcome.SUCCEEDED]),
                    is_(equal_to((Action.DEAD_LETTER, Action.DELETE))))

    def test_dead_letter_ignored_needs_a_queue(self) -> None:
        """Without a DLQ, dead_letter_ignored cannot dead-letter and IGNORED is deleted."""
        assert_that(actions(dead_letter_queue=False, dead_letter_ignored=True)[Outcome.IGNORED],
                    is_(equal_to(Action.DELETE)))

    def test_every_outcome_has_an_action(self) -> None:
        """No outcome is left without an action in any configuration."""
        for dead_letter_queue in (False, True):
            assert_that(set(actions(dead_letter_queue)), is_(equal_to(set(Outcome))))


class MessageHandlingResultTestCase(unittest.TestCase):
    def test_nack_carries_its_delay(self) -> None:
        """An explicit Nack delay, 0 included, reaches the result."""
        result = MessageHandlingResult.from_error(MESSAGE, Nack(0, reason="later"), "handler", 0.1)
        assert_that((result.outcome, result.retry_seconds, result.reason), is_(equal_to((Outcome.RETRIED, 0, "later"))))

    def test_nack_without_delay_leaves_it_to_the_policy(self) -> None:
        """Nack() without a delay leaves retry_seconds unset."""
        result = MessageHandlingResult.from_error(MESSAGE, Nack(), "handler", 0.1)
        assert_that(result.retry_seconds, is_(none()))

    def test_signals_are_not_kept_as_errors(self) -> None:
        """A signal is control flow: no error to log with a traceback."""
        result = MessageHandlingResult.from_error(MESSAGE, SkipMessage("nothing to do"), "handler", 0.1)
        assert_that((result.error, result.reason), is_(equal_to((None, "nothing to do"))))

    def test_failures_keep_the_error(self) -> None:
        """A real failure keeps its exception and names it in the reason."""
        error = KeyError("id")
        result = MessageHandlingResult.from_error(MESSAGE, error, "handler", 0.1)
        assert_that((result.outcome, result.error, result.reason),
                    is_(equal_to((Outcome.FAILED, error, "KeyError: 'id'"))))

    def test_failures_log_as_warnings(self) -> None:
        """FAILED logs at WARNING, SUCCEEDED at INFO."""
        failed = MessageHandlingResult(MESSAGE, Outcome.FAILED)
        succeeded = MessageHandlingResult(MESSAGE, Outcome.SUCCEEDED)
        assert_that((failed.level, succeeded.level), is_(equal_to((logging.WARNING, logging.INFO))))

    def test_old_names_on_core_results(self) -> None:
        """What the dispatcher hands out answers the old package's `result` and `elapsed_time` (ms)."""
        result = MessageHandlingResult(MESSAGE, Outcome.SKIPPED, elapsed_seconds=0.25)
        assert_that((result.result, result.elapsed_time), is_(equal_to((Outcome.SKIPPED, 250.0))))


def old_message() -> SQSMessage:
    return SQSMessage(None, {"name": "n-1"}, "application/vnd.test.old", "m-1", "h-1")


class OldResultTestCase(unittest.TestCase):
    def test_invoke_runs_async_handlers(self) -> None:
        """The old `MessageHandlingResult.invoke(handler, message)` awaits an async handler."""
        seen: list[Any] = []

        async def handler(content: Any) -> bool:
            await asyncio.sleep(0)
            seen.append(content)
            return True

        result = old.MessageHandlingResult.invoke(handler, old_message())
        assert_that((result.outcome, seen), is_(equal_to((Outcome.SUCCEEDED, [{"name": "n-1"}]))))

    def test_built_from_old_keywords(self) -> None:
        """`result=`, `media_type=` and `exc_info=` build a result without a message; `extra` is assignable."""
        result = old.MessageHandlingResult(result=Outcome.FAILED, media_type="media", exc_info=(1, 2, 3))
        result.extra = {"key": "value"}
        assert_that((result.outcome, result.media_type, result.exc_info, result.extra),
                    is_(equal_to((Outcome.FAILED, "media", (1, 2, 3), {"key": "value"}))))

    def test_error_reporting_goes_through_report_error(self) -> None:
        """`error_reporting` reports a FAILED result through `_report_error`, the seam old services patch."""
        reported: list[Any] = []
        for outcome in (Outcome.FAILED, Outcome.SUCCEEDED):
            result = old.MessageHandlingResult(result=outcome, media_type="media", exc_info=(1, 2, 3))
            with mock.patch.object(result, "_report_error") as report:
                result.error_reporting(SimpleNamespace(enabled=True), {})
            reported.append((outcome, report.call_count))
        assert_that(reported, is_(equal_to([(Outcome.FAILED, 1), (Outcome.SUCCEEDED, 0)])))

    def test_log_is_the_dispatcher_line(self) -> None:
        """`result.log(logger, opaque)` writes the dispatcher's outcome line, with the opaque context and extra."""
        result = old.MessageHandlingResult.from_error(old_message(), Nack(3, reason="later", extra={"k": "v"}))
        with self.assertLogs("old.result", logging.INFO) as captured:
            result.log(logging.getLogger("old.result"), {"x-request-id": "r-1"})
        record = captured.records[0]
        assert_that((record.getMessage(), record.funcName), is_(equal_to((
            "RETRIED application/vnd.test.old m-1 receive_count=1 handler=None elapsed_ms=0.0 action=retry"
            " reason=later",
            "log",
        ))))
        assert_that(vars(record)["pubsub"], has_entries({"x-request-id": "r-1", "k": "v", "outcome": "retried"}))
