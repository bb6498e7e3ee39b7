"""Outcomes as data: what a handler's result means, how loudly it is logged, what SQS is told."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, unique
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from microcosm_pubsub.consume.handler_loop import is_awaitable
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
    # With a dead-letter queue, on the redrive policy's last receive: SQS would move it next without a reason
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
# Actions after which the message comes back: a FIFO group's later ones wait for it, Lambda reports it
RETURNING = frozenset({Action.RETRY, Action.LEAVE, Action.RELEASE})

# A handler's signal chooses its outcome; the nearest class in the exception's MRO wins
SIGNALS: dict[type[BaseException], Outcome] = {
    Nack: Outcome.RETRIED, SkipMessage: Outcome.SKIPPED, IgnoreMessage: Outcome.IGNORED, TTLExpired: Outcome.EXPIRED,
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
    """The action for each outcome under a dispatcher's configuration (`last_receive`: the redrive policy's last)."""
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
    """The one decision of what SQS is told about a result: `RULES` under a dead-letter configuration."""

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


class MessageHandlingResult:
    """What happened to one message: its outcome, the handler, why, and how long it took.

    The old package's readable names are kept here; its constructor and methods are in `microcosm_pubsub.result`.
    """

    def __init__(
        self, message: SQSMessage, outcome: Outcome, handler: str | None = None, reason: str | None = None,
        error: BaseException | None = None, elapsed_seconds: float = 0.0, retry_seconds: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message
        self.outcome = outcome
        self.handler = handler
        self.reason = reason
        self.error = error
        self.elapsed_seconds = elapsed_seconds
        self.retry_seconds = retry_seconds
        self._extra: dict[str, Any] = dict(extra) if extra else {}
        self.handle_start_time: float | None = None
        # What SQS is told, once decided (FIFO ordering decides at the handler's return; settling reuses it)
        self.action: Action | None = None

    @classmethod
    def from_return(cls, message: SQSMessage, returned: Any, handler: str | None = None, elapsed: float = 0.0) -> Self:
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
    ) -> Self:
        signal = error if isinstance(error, HandlerSignal) else None
        return cls(
            message, outcome_of(error), handler, (signal and signal.reason) or f"{type(error).__name__}: {error}",
            None if signal else error, elapsed, error.visibility_timeout_seconds if isinstance(error, Nack) else None,
            signal.extra if signal else None,
        )

    @classmethod
    def of_block(cls, message: SQSMessage, error: BaseException | None) -> Self:
        """The outcome of a `with message:` block."""
        return cls(message, Outcome.SUCCEEDED) if error is None else cls.from_error(message, error)

    @property
    def level(self) -> int:
        return RULES[self.outcome].level

    @property
    def result(self) -> Outcome:
        return self.outcome

    @property
    def media_type(self) -> str | None:
        return self.message.media_type

    @property
    def extra(self) -> dict[str, Any]:
        if self.reason is not None and "reason" not in self._extra:
            return {"reason": self.reason, **self._extra}
        return self._extra

    @property
    def elapsed_time(self) -> float:
        return self.elapsed_seconds * 1000

    @property
    def exc_info(self) -> ExcInfo | None:
        error = self.error
        return None if error is None else (type(error), error, error.__traceback__)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.outcome.name} {self.media_type} handler={self.handler}>"
