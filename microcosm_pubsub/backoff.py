"""Backoff policies: how long a failed message stays invisible before its next try."""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from microcosm_pubsub.errors import ConfigurationError


# SQS refuses a visibility timeout over twelve hours
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200


def clamp(seconds: float) -> int:
    """A visibility timeout SQS accepts: whole seconds from 0 to 12 hours."""
    return int(min(max(seconds, 0), MAX_VISIBILITY_TIMEOUT_SECONDS))


class BackoffPolicy(Protocol):
    def visibility_timeout(self, receive_count: int) -> int:
        """Seconds to hide a message that failed on its `receive_count`-th delivery."""


class ConstantBackoff:
    """The same delay after every failure."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def visibility_timeout(self, receive_count: int) -> int:
        return clamp(self.seconds)


class ExponentialBackoff:
    """`base * 2**(n-1)` capped at twelve hours, with full jitter so retries of a burst spread out."""

    def __init__(
        self,
        seconds: float,
        cap: float = MAX_VISIBILITY_TIMEOUT_SECONDS,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self.seconds = seconds
        self.cap = cap
        self.random_fraction = random_fraction

    def visibility_timeout(self, receive_count: int) -> int:
        # Past 2**31 the float overflows long after the cap has taken over
        exponent = min(max(receive_count - 1, 0), 31)
        ceiling = min(self.seconds * 2**exponent, self.cap)
        return clamp(ceiling * self.random_fraction())


POLICIES: dict[str, Callable[[float], BackoffPolicy]] = {
    "constant": ConstantBackoff,
    "exponential": ExponentialBackoff,
}


def make_backoff_policy(name: str, seconds: float) -> BackoffPolicy:
    """The policy called `name`, with `seconds` as its base delay.

    :raises ConfigurationError: for an unknown name, listing the known ones
    """
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown sqs_consumer.backoff_policy {name!r}; choose one of {', '.join(sorted(POLICIES))}"
        ) from None
    return factory(seconds)
