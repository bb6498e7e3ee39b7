"""Backoff policies: constant, exponential with injected jitter, the twelve-hour cap, clamping."""
from __future__ import annotations

import unittest

from hamcrest import assert_that, calling, equal_to, instance_of, is_, raises

from microcosm_pubsub.backoff import (
    MAX_VISIBILITY_TIMEOUT_SECONDS,
    ConstantBackoff,
    ExponentialBackoff,
    ExponentialBackoffPolicy,
    NaiveBackoffPolicy,
    clamp,
    make_backoff_policy,
)
from microcosm_pubsub.errors import ConfigurationError
from microcosm_pubsub.message import SQSMessage


class ConstantBackoffTests(unittest.TestCase):
    def test_same_delay_every_time(self) -> None:
        """A constant policy gives its delay whatever the receive count."""
        policy = ConstantBackoff(7)
        assert_that([policy.visibility_timeout(count) for count in (1, 2, 10, 1000)], is_(equal_to([7] * 4)))

    def test_capped(self) -> None:
        """A constant delay over twelve hours is capped."""
        assert_that(ConstantBackoff(10**6).visibility_timeout(1), is_(equal_to(MAX_VISIBILITY_TIMEOUT_SECONDS)))


class ExponentialBackoffTests(unittest.TestCase):
    def test_doubles_with_each_receive(self) -> None:
        """With the full jitter fraction, the delay doubles with each receive."""
        policy = ExponentialBackoff(3, random_fraction=lambda: 1.0)
        assert_that([policy.visibility_timeout(count) for count in (1, 2, 3, 4)], is_(equal_to([3, 6, 12, 24])))

    def test_jitter_scales_delay(self) -> None:
        """The jitter fraction scales the exponential ceiling."""
        policy = ExponentialBackoff(4, random_fraction=lambda: 0.5)
        assert_that([policy.visibility_timeout(count) for count in (1, 2, 3)], is_(equal_to([2, 4, 8])))

    def test_zero_fraction_retries_at_once(self) -> None:
        """A zero jitter fraction gives no delay."""
        policy = ExponentialBackoff(4, random_fraction=lambda: 0.0)
        assert_that(policy.visibility_timeout(5), is_(equal_to(0)))

    def test_receive_count_below_one(self) -> None:
        """A receive count of zero is treated as the first."""
        policy = ExponentialBackoff(5, random_fraction=lambda: 1.0)
        assert_that(policy.visibility_timeout(0), is_(equal_to(5)))

    def test_cap_at_twelve_hours(self) -> None:
        """A long-failing message is delayed at most twelve hours."""
        policy = ExponentialBackoff(5, random_fraction=lambda: 1.0)
        assert_that(policy.visibility_timeout(10_000), is_(equal_to(43_200)))

    def test_custom_cap(self) -> None:
        """A smaller cap bounds the ceiling."""
        policy = ExponentialBackoff(5, cap=60, random_fraction=lambda: 1.0)
        assert_that(policy.visibility_timeout(20), is_(equal_to(60)))


class MakeBackoffPolicyTests(unittest.TestCase):
    def test_constant_by_name(self) -> None:
        """"constant" builds a constant policy with the base delay."""
        policy = make_backoff_policy("constant", 9)
        assert_that(policy, is_(instance_of(ConstantBackoff)))
        assert_that(policy.visibility_timeout(3), is_(equal_to(9)))

    def test_exponential_by_name(self) -> None:
        """"exponential" builds an exponential policy."""
        assert_that(make_backoff_policy("exponential", 9), is_(instance_of(ExponentialBackoff)))

    def test_unknown_name_lists_choices(self) -> None:
        """An unknown policy name is a ConfigurationError that lists the known ones."""
        assert_that(
            calling(make_backoff_policy).with_args("fibonacci", 5),
            raises(ConfigurationError, "fibonacci.*constant, exponential"),
        )

    def test_unknown_name_names_key(self) -> None:
        """The error names the configuration key to fix."""
        assert_that(
            calling(make_backoff_policy).with_args("linear", 5),
            raises(ConfigurationError, r"sqs_consumer\.backoff_policy"),
        )


class ClampTests(unittest.TestCase):
    def test_negative_is_zero(self) -> None:
        """A negative delay becomes zero."""
        assert_that(clamp(-3), is_(equal_to(0)))

    def test_over_cap(self) -> None:
        """A delay over twelve hours becomes twelve hours."""
        assert_that(clamp(50_000), is_(equal_to(43_200)))

    def test_whole_seconds(self) -> None:
        """A fractional delay is truncated to whole seconds."""
        assert_that(clamp(2.7), is_(equal_to(2)))


class OldPolicyNamesTests(unittest.TestCase):
    def test_naive_by_old_name(self) -> None:
        """sqs_consumer.backoff_policy=NaiveBackoffPolicy gives the constant delay."""
        policy = make_backoff_policy("NaiveBackoffPolicy", 5)
        assert_that((type(policy).__name__, policy.visibility_timeout(3)), is_(equal_to(("NaiveBackoffPolicy", 5))))

    def test_exponential_by_old_name(self) -> None:
        """ExponentialBackoffPolicy draws from 1 to 2**n - 1 seconds after the n-th receive."""
        policy = make_backoff_policy("ExponentialBackoffPolicy", 5)
        assert_that(policy, is_(instance_of(ExponentialBackoffPolicy)))
        drawn: list[tuple[int, int]] = []
        assert isinstance(policy, ExponentialBackoffPolicy)

        def randint(low: int, high: int) -> int:
            drawn.append((low, high))
            return high

        policy.randint = randint
        assert_that(policy.visibility_timeout(3), is_(equal_to(7)))
        assert_that(drawn, is_(equal_to([(1, 7)])))

    def test_exponential_capped(self) -> None:
        """The old exponential policy stays within twelve hours after many receives."""
        policy = ExponentialBackoffPolicy()
        policy.randint = lambda low, high: high
        assert_that(policy.visibility_timeout(1000), is_(equal_to(MAX_VISIBILITY_TIMEOUT_SECONDS)))

    def test_explicit_timeout_wins(self) -> None:
        """compute_backoff_timeout honours an explicit delay, 0 included, in every policy."""
        message = SQSMessage(None, None, None, None, None, approximate_receive_count=4)
        policies = (NaiveBackoffPolicy(5), ExponentialBackoffPolicy())
        delays = [policy.compute_backoff_timeout(message, 0) for policy in policies]
        assert_that(delays, is_(equal_to([0, 0])))

    def test_compute_without_timeout(self) -> None:
        """compute_backoff_timeout without a delay asks the policy, with the message's receive count."""
        message = SQSMessage(None, None, None, None, None, approximate_receive_count=2)
        assert_that(ExponentialBackoff(3, random_fraction=lambda: 1.0).compute_backoff_timeout(message, None),
                    is_(equal_to(6)))
