"""Outcomes as data: what a handler's result means, how loudly it is logged, what SQS is told."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, unique
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from microcosm_pubsub.consume.handler_loop import is_awaitable, run_awaitable
from microcosm_pubsub.wire.errors import HandlerSignal, IgnoreMessage, InvalidMessage, Nack, SkipMessage, TTLExpired


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


@unique
class Outcome(Enum):
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    IGNORED = "ignored"
    RETRIED = "retried"
    FAILED = "failed"
    EXPIRED = "expired"
    INVALID = "invalid"


# The old package's name for the outcomes
MessageHandlingResultType = Outcome


@unique
class Action(Enum):
    """What the queue is told."""

    DELETE = "delete"
    RETRY = "retry"  # visibility set by the backoff policy or an explicit Nack
    DEAD_LETTER = "dead_letter"  # sent to the dead-letter queue with its reason, then deleted
    LEAVE = "leave"  # untouched: the queue's own redrive policy decides
    RELEASE = "release"  # visible again at once: received but not handled (shutdown)


@dataclass(frozen=True)
class Rule:
    level: int
    without_dead_letter_queue: Action
    with_dead_letter_queue: Action
    # Sent to the error reporter (Sentry) when it comes with an exception
    reported: bool = False
    # With a dead-letter queue, on the last receive the queue's redrive policy allows: SQS would move a
    # message left for another try at its next receive, without a reason, so it is dead-lettered now with one
    on_last_receive: Action | None = None


RULES: dict[Outcome, Rule] = {
    Outcome.SUCCEEDED: Rule(logging.INFO, Action.DELETE, Action.DELETE),
    Outcome.SKIPPED: Rule(logging.INFO, Action.DELETE, Action.DELETE),
    # Dead-lettering ignored messages is opt-in: sqs_message_dispatcher.dead_letter_ignored
    Outcome.IGNORED: Rule(logging.INFO, Action.DELETE, Action.DELETE),
    Outcome.RETRIED: Rule(logging.INFO, Action.RETRY, Action.RETRY, on_last_receive=Action.DEAD_LETTER),
    Outcome.FAILED: Rule(
        logging.WARNING, Action.RETRY, Action.RETRY, reported=True, on_last_receive=Action.DEAD_LETTER,
    ),
    Outcome.EXPIRED: Rule(logging.WARNING, Action.DELETE, Action.DEAD_LETTER, reported=True),
    Outcome.INVALID: Rule(logging.WARNING, Action.LEAVE, Action.DEAD_LETTER),
}

# A handler's signal chooses its outcome; the nearest class in the exception's MRO wins
SIGNALS: dict[type[BaseException], Outcome] = {
    Nack: Outcome.RETRIED,
    SkipMessage: Outcome.SKIPPED,
    IgnoreMessage: Outcome.IGNORED,
    TTLExpired: Outcome.EXPIRED,
    InvalidMessage: Outcome.INVALID,
}


def outcome_of(error: BaseException) -> Outcome:
    """The outcome a handler's exception asks for: its signal's, else FAILED."""
    for cls in type(error).__mro__:
        if cls in SIGNALS:
            return SIGNALS[cls]
    return Outcome.FAILED


def actions(
    dead_letter_queue: bool, dead_letter_ignored: bool = False, last_receive: bool = False,
) -> dict[Outcome, Action]:
    """The action for each outcome under a dispatcher's configuration.

    :param last_receive: the table for a message on the last receive its queue's redrive policy allows
    """
    table = {
        outcome: rule.with_dead_letter_queue if dead_letter_queue else rule.without_dead_letter_queue
        for outcome, rule in RULES.items()
    }
    if dead_letter_queue and dead_letter_ignored:
        table[Outcome.IGNORED] = Action.DEAD_LETTER
    if dead_letter_queue and last_receive:
        table.update({outcome: rule.on_last_receive for outcome, rule in RULES.items() if rule.on_last_receive})
    return table


class SettlePolicy:
    """The one decision of what SQS is told about a result: `RULES` under a dead-letter configuration.

    The daemon's dispatcher, the `with message:` exit and the Lambda handler all ask `action(result)`.
    """

    def __init__(
        self, dead_letter_queue: bool = False, dead_letter_ignored: bool = False, last_receive: int | None = None,
    ) -> None:
        self.dead_letter_queue = dead_letter_queue
        self.dead_letter_ignored = dead_letter_ignored
        # The receive count from which a failure is the message's last try: the redrive policy's maxReceiveCount
        self.last_receive = last_receive
        # Tables built once: `action` runs per message
        self.table = actions(dead_letter_queue, dead_letter_ignored)
        self.last_receive_table = actions(dead_letter_queue, dead_letter_ignored, last_receive=True)

    def action(self, result: MessageHandlingResult) -> Action:
        last = self.last_receive
        if last is not None and result.message.approximate_receive_count >= last:
            return self.last_receive_table[result.outcome]
        return self.table[result.outcome]

    def __repr__(self) -> str:
        return (f"<SettlePolicy dead_letter_queue={self.dead_letter_queue} "
                f"dead_letter_ignored={self.dead_letter_ignored} last_receive={self.last_receive}>")


# `resolve()` and a message settled on its own, with no dispatcher configuration to follow
WITHOUT_DEAD_LETTER_QUEUE = SettlePolicy()


class MessageHandlingResult:
    """What happened to one message, before and after it is settled.

    Ours: `MessageHandlingResult(message, outcome, handler, reason, error, elapsed_seconds, retry_seconds)`.
    The old package's keywords work too: `result=` (the outcome), `media_type=`, `exc_info=`, `extra=`,
    and its properties `result`, `media_type`, `extra` (with `reason`), `elapsed_time` (ms),
    `handle_start_time` (seconds from publishing to handling) and `exc_info`.
    """

    def __init__(
        self,
        message: SQSMessage | None = None,
        outcome: Outcome | None = None,
        handler: str | None = None,
        reason: str | None = None,
        error: BaseException | None = None,
        elapsed_seconds: float = 0.0,
        retry_seconds: int | None = None,
        *,
        result: Outcome | None = None,
        media_type: str | None = None,
        exc_info: Any = None,
        extra: Mapping[str, Any] | None = None,
        handle_start_time: float | None = None,
    ) -> None:
        chosen = outcome if outcome is not None else result
        if chosen is None:
            raise TypeError("MessageHandlingResult needs an outcome (`outcome=` or the old `result=`)")
        # Only results built the old way, from `result=` alone, have no message
        self.message = cast("SQSMessage", message)
        self.outcome: Outcome = chosen
        self.handler = handler
        self.reason = reason
        self.error = error
        self.elapsed_seconds = elapsed_seconds
        # An explicit Nack delay; None leaves it to the backoff policy
        self.retry_seconds = retry_seconds
        self._media_type = media_type
        self._exc_info = exc_info
        self._extra: dict[str, Any] = dict(extra or {})
        self.handle_start_time = handle_start_time

    @classmethod
    def invoke(cls, handler: Callable[[Any], Any], message: SQSMessage) -> MessageHandlingResult:
        """Call `handler` with the message's content; its return value or exception is the outcome."""
        started = time.perf_counter()
        try:
            returned = handler(message.content)
            if is_awaitable(returned):
                returned = run_awaitable(returned)
        except Exception as error:
            return cls.from_error(message, error, elapsed=time.perf_counter() - started)
        return cls.from_return(message, returned, elapsed=time.perf_counter() - started)

    @classmethod
    def from_return(
        cls, message: SQSMessage, returned: Any, handler: str | None = None, elapsed: float = 0.0,
    ) -> MessageHandlingResult:
        """A truthy return is SUCCEEDED, a falsy one SKIPPED; an awaitable that was never run is FAILED."""
        if is_awaitable(returned):
            close = getattr(returned, "close", None)
            if callable(close):
                # Closed here so that Python does not warn about it later, far from its cause
                close()
            return cls(
                message, Outcome.FAILED, handler,
                f"the handler returned {type(returned).__name__} that nothing awaited: call it through the "
                "dispatcher (or run_awaitable) so that async handlers run",
                elapsed_seconds=elapsed,
            )
        if returned:
            return cls(message, Outcome.SUCCEEDED, handler, elapsed_seconds=elapsed)
        return cls(message, Outcome.SKIPPED, handler, "handler returned a falsy value", elapsed_seconds=elapsed)

    @classmethod
    def from_error(
        cls, message: SQSMessage, error: BaseException, handler: str | None = None, elapsed: float = 0.0,
    ) -> MessageHandlingResult:
        """The outcome a handler's exception asks for; a signal's reason and extra are kept."""
        signal = error if isinstance(error, HandlerSignal) else None
        reason = signal.reason if signal else None
        return cls(
            message=message,
            outcome=outcome_of(error),
            handler=handler,
            reason=reason or f"{type(error).__name__}: {error}",
            error=None if signal else error,
            elapsed_seconds=elapsed,
            retry_seconds=error.visibility_timeout_seconds if isinstance(error, Nack) else None,
            extra=signal.extra if signal else None,
        )

    @classmethod
    def of_block(cls, message: SQSMessage, error: BaseException | None) -> MessageHandlingResult:
        """The outcome of a `with message:` block: a clean exit succeeded, else what its exception asks for."""
        if error is None:
            return cls(message, Outcome.SUCCEEDED)
        return cls.from_error(message, error)

    @property
    def level(self) -> int:
        return RULES[self.outcome].level

    @property
    def result(self) -> Outcome:
        """The old package's name for the outcome."""
        return self.outcome

    @property
    def media_type(self) -> str | None:
        if self._media_type is not None or self.message is None:
            return self._media_type
        media_type: str | None = self.message.media_type
        return media_type

    @property
    def extra(self) -> dict[str, Any]:
        """The signal's extra, with `reason` when there is one."""
        if self.reason is not None and "reason" not in self._extra:
            return {"reason": self.reason, **self._extra}
        return self._extra

    @extra.setter
    def extra(self, extra: Mapping[str, Any]) -> None:
        self._extra = dict(extra)

    @property
    def elapsed_time(self) -> float:
        """Milliseconds the handling took (the old package's unit)."""
        return self.elapsed_seconds * 1000

    @property
    def exc_info(self) -> Any:
        """`(type, value, traceback)` of a failure, else None."""
        if self._exc_info is not None:
            return self._exc_info
        if self.error is None:
            return None
        return (type(self.error), self.error, self.error.__traceback__)

    def resolve(self, message: SQSMessage | None = None) -> MessageHandlingResult:
        """Settle the message alone, as the table says without a dead-letter queue: delete, retry, or leave.

        The dispatcher settles in batches instead; this is the old one-call-per-message path.
        """
        target = message or self.message
        if target is None:
            raise TypeError("resolve() needs the message to settle")
        action = WITHOUT_DEAD_LETTER_QUEUE.action(self)
        if action is Action.DELETE:
            target.ack()
        elif action is Action.RETRY:
            target.nack(self.retry_seconds)
        return self

    def log_fields(self, opaque: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The opaque context, then the extra, then what this result says, for a structured log line."""
        fields: dict[str, Any] = {**dict(opaque or {}), **self.extra}
        fields.update(
            media_type=self.media_type,
            outcome=self.outcome.value,
            handler=self.handler,
            elapsed_time=self.elapsed_time,
        )
        if self.handle_start_time is not None:
            fields["handle_start_time"] = self.handle_start_time
        return fields

    def log(self, logger: logging.Logger, opaque: Mapping[str, Any] | None = None) -> None:
        """One line at the outcome's level; the fields go under `pubsub` so no key can clash with the record's."""
        logger.log(
            self.level,
            "Result for media type: %s was : %s%s",
            self.media_type, self.outcome.name, f" ({self.reason})" if self.reason else "",
            exc_info=self.exc_info if self.outcome is Outcome.FAILED else None,
            extra={"pubsub": self.log_fields(opaque)},
        )

    def error_reporting(self, sentry_config: Any, opaque: Mapping[str, Any] | None = None) -> None:
        """Report a FAILED or EXPIRED result that carries an exception, when error reporting is on."""
        if not RULES[self.outcome].reported or self.exc_info is None:
            return
        if not getattr(sentry_config, "enabled", False):
            return
        tag_mapping = dict(getattr(sentry_config, "tag_mapping", None) or {})
        self._report_error(opaque, tag_mapping, getattr(sentry_config, "user_id_key", None))

    def _report_error(
        self, opaque: Mapping[str, Any] | None, tag_mapping: Mapping[str, str], user_id_key: str | None,
    ) -> None:
        try:
            import sentry_sdk  # type: ignore[import-not-found, unused-ignore]  # noqa: F401  # the sentry extra
        except ImportError:
            return
        # Loaded only here: the old API's reporting shares the Sentry middleware's one capture
        from microcosm_pubsub.middleware.reporting import capture

        context = {str(key).lower(): value for key, value in (opaque or {}).items()}
        tags = {tag: str(context[key.lower()]) for key, tag in tag_mapping.items() if key.lower() in context}
        user_id = context.get(user_id_key.lower()) if user_id_key else None
        capture(self.exc_info, tags, str(user_id) if user_id else None)

    def __repr__(self) -> str:
        return f"<MessageHandlingResult {self.outcome.name} {self.media_type} handler={self.handler}>"
