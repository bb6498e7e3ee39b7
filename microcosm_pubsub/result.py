"""Outcomes as data: what a handler's result means, how loudly it is logged, what SQS is told."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum, unique
from typing import TYPE_CHECKING

from microcosm_pubsub.errors import HandlerSignal, IgnoreMessage, Nack, SkipMessage, TTLExpired


if TYPE_CHECKING:
    from microcosm_pubsub.message import SQSMessage


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


RULES: dict[Outcome, Rule] = {
    Outcome.SUCCEEDED: Rule(logging.INFO, Action.DELETE, Action.DELETE),
    Outcome.SKIPPED: Rule(logging.INFO, Action.DELETE, Action.DELETE),
    # Dead-lettering ignored messages is opt-in: sqs_message_dispatcher.dead_letter_ignored
    Outcome.IGNORED: Rule(logging.INFO, Action.DELETE, Action.DELETE),
    Outcome.RETRIED: Rule(logging.INFO, Action.RETRY, Action.RETRY),
    Outcome.FAILED: Rule(logging.WARNING, Action.RETRY, Action.RETRY),
    Outcome.EXPIRED: Rule(logging.WARNING, Action.DELETE, Action.DEAD_LETTER),
    Outcome.INVALID: Rule(logging.WARNING, Action.LEAVE, Action.DEAD_LETTER),
}

# A handler's signal chooses its outcome; the nearest class in the exception's MRO wins
SIGNALS: dict[type[BaseException], Outcome] = {
    Nack: Outcome.RETRIED,
    SkipMessage: Outcome.SKIPPED,
    IgnoreMessage: Outcome.IGNORED,
    TTLExpired: Outcome.EXPIRED,
}


def outcome_of(error: BaseException) -> Outcome:
    """The outcome a handler's exception asks for: its signal's, else FAILED."""
    for cls in type(error).__mro__:
        if cls in SIGNALS:
            return SIGNALS[cls]
    return Outcome.FAILED


def actions(dead_letter_queue: bool, dead_letter_ignored: bool = False) -> dict[Outcome, Action]:
    """The action for each outcome under a dispatcher's configuration."""
    table = {
        outcome: rule.with_dead_letter_queue if dead_letter_queue else rule.without_dead_letter_queue
        for outcome, rule in RULES.items()
    }
    if dead_letter_queue and dead_letter_ignored:
        table[Outcome.IGNORED] = Action.DEAD_LETTER
    return table


@dataclass(frozen=True)
class MessageHandlingResult:
    """What happened to one message, before and after it is settled."""

    message: SQSMessage
    outcome: Outcome
    handler: str | None = None
    reason: str | None = None
    error: BaseException | None = field(default=None, compare=False)
    elapsed_seconds: float = 0.0
    # An explicit Nack delay; None leaves it to the backoff policy
    retry_seconds: int | None = None

    @classmethod
    def from_error(
        cls, message: SQSMessage, handler: str, error: BaseException, elapsed: float,
    ) -> MessageHandlingResult:
        outcome = outcome_of(error)
        reason = error.reason if isinstance(error, HandlerSignal) else None
        return cls(
            message=message,
            outcome=outcome,
            handler=handler,
            reason=reason or f"{type(error).__name__}: {error}",
            error=None if isinstance(error, HandlerSignal) else error,
            elapsed_seconds=elapsed,
            retry_seconds=error.visibility_timeout_seconds if isinstance(error, Nack) else None,
        )

    @property
    def level(self) -> int:
        return RULES[self.outcome].level
