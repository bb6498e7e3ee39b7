"""Backoff policies: how long a failed message stays invisible before its next try."""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from microcosm_pubsub.wire.errors import ConfigurationError


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage


# SQS refuses a visibility timeout over twelve hours
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200


def clamp(seconds: float) -> int:
    """A visibility timeout SQS accepts: whole seconds from 0 to 12 hours."""
    return int(min(max(seconds, 0), MAX_VISIBILITY_TIMEOUT_SECONDS))


class BackoffPolicy(Protocol):
    def visibility_timeout(self, receive_count: int) -> int: ...

    def compute_backoff_timeout(self, message: SQSMessage, visibility_timeout_seconds: int | None) -> int: ...


class Backoff:
    """What every policy shares: an explicit delay (0 included) wins, capped at 12 h."""

    def visibility_timeout(self, receive_count: int) -> int:
        raise NotImplementedError

    def compute_backoff_timeout(self, message: SQSMessage, visibility_timeout_seconds: int | None) -> int:
        if visibility_timeout_seconds is not None:
            return clamp(visibility_timeout_seconds)
        return self.visibility_timeout(message.approximate_receive_count or 1)


class ConstantBackoff(Backoff):
    """The same delay after every failure."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def visibility_timeout(self, receive_count: int) -> int:
        return clamp(self.seconds)


class ExponentialBackoff(Backoff):
    """`base * 2**(n-1)` capped at twelve hours, with full jitter so retries of a burst spread out."""

    def __init__(
        self, seconds: float, cap: float = MAX_VISIBILITY_TIMEOUT_SECONDS,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self.seconds = seconds
        self.cap = cap
        self.random_fraction = random_fraction

    def visibility_timeout(self, receive_count: int) -> int:
        # Past 2**31 the float overflows long after the cap has taken over
        exponent = min(max(receive_count - 1, 0), 31)
        return clamp(min(self.seconds * 2**exponent, self.cap) * self.random_fraction())


class NaiveBackoffPolicy(ConstantBackoff):
    """The old package's default: `message_retry_visibility_timeout_seconds` after every failure."""


class _RandomBackoff(Backoff):
    """The old package's random policies: the receive count is the base, `randint` an attribute tests fix."""

    def __init__(self, seconds: float | None = None) -> None:
        # A base delay given by the consumer's configuration is not used
        self.seconds = seconds
        self.randint: Callable[[int, int], int] = random.randint


class ExponentialBackoffPolicy(_RandomBackoff):
    """The old package's exponential policy: 1 to `2**n - 1` seconds after the n-th try (a `Nack` delay wins)."""

    # Past 2**16 s the twelve-hour cap has long taken over
    MAX_EXPONENT = 16

    def visibility_timeout(self, receive_count: int) -> int:
        exponent = min(max(receive_count, 1), self.MAX_EXPONENT)
        return clamp(self.randint(1, 2**exponent - 1))


class ExponentialBackoffBaseJitterPolicy(_RandomBackoff):
    """The old 3.0.0's policy: `n + randint(0, randint(n, 2**n) // 2)` seconds after the n-th try, capped at 12 h."""

    def visibility_timeout(self, receive_count: int) -> int:
        base = max(receive_count, 1)
        if base >= MAX_VISIBILITY_TIMEOUT_SECONDS:
            # The floor alone is past the cap (and 2**base would be a number of thousands of digits)
            return MAX_VISIBILITY_TIMEOUT_SECONDS
        return clamp(base + self.randint(0, self.randint(base, 2**base) // 2))


POLICIES: dict[str, Callable[[float], BackoffPolicy]] = {
    "constant": ConstantBackoff,
    "exponential": ExponentialBackoff,
    # The old package's names (sqs_consumer.backoff_policy=NaiveBackoffPolicy)
    "NaiveBackoffPolicy": NaiveBackoffPolicy,
    "ExponentialBackoffPolicy": ExponentialBackoffPolicy,
    "ExponentialBackoffBaseJitterPolicy": ExponentialBackoffBaseJitterPolicy,
}


def make_backoff_policy(name: str, seconds: float) -> BackoffPolicy:
    """The policy called `name` (ours, the old package's, or a service's subclass), `seconds` its base delay."""
    factory = POLICIES.get(name)
    if factory is not None:
        return factory(seconds)
    defined = service_policy(name)
    if defined is None:
        raise ConfigurationError(
            f"unknown sqs_consumer.backoff_policy {name!r}; choose one of {', '.join(sorted(POLICIES))}, "
            "or the class name of a BackoffPolicy subclass imported before the graph is built"
        )
    # A service's class: its constructor's signature is its own
    constructor: Any = defined
    if issubclass(defined, Backoff):
        # Ours take the base delay as their first argument
        return cast("BackoffPolicy", constructor(seconds))
    # The old package built a policy with this keyword, whatever else its constructor takes
    return cast("BackoffPolicy", constructor(message_retry_visibility_timeout_seconds=seconds))


def service_policy(name: str) -> type[Any] | None:
    """A subclass of `BackoffPolicy` (or of our policies), at any depth, called `name`."""
    pending: list[type[Any]] = [BackoffPolicy, Backoff]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name and cls not in (BackoffPolicy, Backoff):
            return cls
        pending.extend(cls.__subclasses__())
    return None
