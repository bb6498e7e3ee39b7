"""Backoff policies: constant, exponential with injected jitter, the old names (3.0.0's base jitter too), the cap."""
from __future__ import annotations

import unittest

from hamcrest import assert_that, calling, equal_to, instance_of, is_, raises

from microcosm_pubsub.consume.backoff import (
    MAX_VISIBILITY_TIMEOUT_SECONDS,
    POLICIES,
    BackoffPolicy,
    ConstantBackoff,
    ExponentialBackoff,
    ExponentialBackoffBaseJitterPolicy,
    ExponentialBackoffPolicy,
    NaiveBackoffPolicy,
    clamp,
    make_backoff_policy,
)
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.wire.errors import ConfigurationError


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
        """compute_backoff_timeout honours an explicit delay, 0 included, in every named policy."""
        message = SQSMessage(None, None, None, None, None, approximate_receive_count=4)
        policies = [make_backoff_policy(name, 300) for name in POLICIES]
        delays = {type(policy).__name__: [policy.compute_backoff_timeout(message, t) for t in (0, 7)]
                  for policy in policies}
        assert_that(delays, is_(equal_to({type(policy).__name__: [0, 7] for policy in policies})))

    def test_compute_without_timeout(self) -> None:
        """compute_backoff_timeout without a delay asks the policy, with the message's receive count."""
        message = SQSMessage(None, None, None, None, None, approximate_receive_count=2)
        assert_that(ExponentialBackoff(3, random_fraction=lambda: 1.0).compute_backoff_timeout(message, None),
                    is_(equal_to(6)))


def extreme(policy: ExponentialBackoffBaseJitterPolicy, pick: str) -> list[tuple[int, int]]:
    """Make `policy` draw its lowest or highest value every time; returns the ranges it drew from."""
    drawn: list[tuple[int, int]] = []

    def randint(low: int, high: int) -> int:
        drawn.append((low, high))
        return low if pick == "low" else high

    policy.randint = randint
    return drawn


class BaseJitterPolicyTests(unittest.TestCase):
    def test_by_old_name(self) -> None:
        """sqs_consumer.backoff_policy=ExponentialBackoffBaseJitterPolicy builds the old 3.0.0 policy."""
        assert_that(make_backoff_policy("ExponentialBackoffBaseJitterPolicy", 5),
                    is_(instance_of(ExponentialBackoffBaseJitterPolicy)))

    def test_ranges_after_each_try(self) -> None:
        """After the n-th try the delay lies between n and n + 2**n / 2 seconds: 1-2, 2-4, 3-7, 4-12, 5-21."""
        lowest, highest = ExponentialBackoffBaseJitterPolicy(), ExponentialBackoffBaseJitterPolicy()
        extreme(lowest, "low")
        extreme(highest, "high")
        ranges = [(lowest.visibility_timeout(n), highest.visibility_timeout(n)) for n in range(1, 6)]
        assert_that(ranges, is_(equal_to([(n, n + 2**n // 2) for n in range(1, 6)])))

    def test_jitter_is_half_of_a_draw_from_n_to_two_to_the_n(self) -> None:
        """The jitter is drawn from 0 to half of a first draw between n and 2**n."""
        policy = ExponentialBackoffBaseJitterPolicy()
        drawn = extreme(policy, "high")
        policy.visibility_timeout(3)
        assert_that(drawn, is_(equal_to([(3, 8), (0, 4)])))

    def test_random_delays_stay_in_range(self) -> None:
        """With the real random source, delays after the fourth try stay within 4 to 12 seconds."""
        policy = ExponentialBackoffBaseJitterPolicy()
        delays = {policy.visibility_timeout(4) for _ in range(300)}
        assert_that((min(delays) >= 4, max(delays) <= 12, len(delays) > 1), is_(equal_to((True, True, True))))

    def test_capped_at_twelve_hours(self) -> None:
        """A long-failing message is delayed at most twelve hours, however many tries it has had."""
        policy = ExponentialBackoffBaseJitterPolicy()
        extreme(policy, "high")
        delays = [policy.visibility_timeout(n) for n in (17, 40, 10**9)]
        assert_that(delays, is_(equal_to([MAX_VISIBILITY_TIMEOUT_SECONDS] * 3)))

    def test_uses_the_receive_count(self) -> None:
        """Without an explicit delay, the message's receive count is the policy's n."""
        message = SQSMessage(None, None, None, None, None, approximate_receive_count=5)
        policy = ExponentialBackoffBaseJitterPolicy()
        extreme(policy, "low")
        assert_that(policy.compute_backoff_timeout(message, None), is_(equal_to(5)))


class TenfoldBackoffTestPolicy(BackoffPolicy):
    """A service's own policy, written for the old package: a direct subclass built with its keyword."""

    def __init__(self, message_retry_visibility_timeout_seconds: int, **kwargs: object) -> None:
        self.base = message_retry_visibility_timeout_seconds

    def compute_backoff_timeout(self, message: SQSMessage, visibility_timeout_seconds: int | None) -> int:
        return self.base * 10


class DoubledNaiveTestPolicy(NaiveBackoffPolicy):
    """A service's refinement of one of the named policies."""

    def visibility_timeout(self, receive_count: int) -> int:
        return 2 * super().visibility_timeout(receive_count)


class ServicePolicyTests(unittest.TestCase):
    def test_old_style_subclass_by_name(self) -> None:
        """A service's BackoffPolicy subclass is chosen by its class name and built with the base delay."""
        message = SQSMessage(None, None, None, None, None, approximate_receive_count=1)
        policy = make_backoff_policy("TenfoldBackoffTestPolicy", 3)
        assert_that(policy, is_(instance_of(TenfoldBackoffTestPolicy)))
        assert_that(policy.compute_backoff_timeout(message, None), is_(equal_to(30)))

    def test_subclass_of_a_named_policy(self) -> None:
        """A subclass of one of the named policies is found by name too, built as that policy is."""
        policy = make_backoff_policy("DoubledNaiveTestPolicy", 4)
        assert_that(policy.visibility_timeout(1), is_(equal_to(8)))

    def test_unknown_name_says_how_to_add_one(self) -> None:
        """The error for an unknown name says a service's own subclass can be named, once imported."""
        assert_that(
            calling(make_backoff_policy).with_args("NoSuchTestPolicy", 5),
            raises(ConfigurationError, "BackoffPolicy subclass imported before the graph is built"),
        )
