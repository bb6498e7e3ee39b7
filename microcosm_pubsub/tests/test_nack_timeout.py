"""An explicit nack timeout wins over the backoff policy (the old 3.0.0's rule), on the local endpoint."""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import assert_that, empty, equal_to, instance_of, is_
from marshmallow import fields

from microcosm_pubsub.consume.backoff import BackoffPolicy
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import Nack


@schema
class NackTimeoutSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.globality.pubsub._.created.test-nack-timeout"

    name = fields.String(required=True)


MEDIA_TYPE = NackTimeoutSchema.MEDIA_TYPE


class IgnoringNackTimeoutTestPolicy(BackoffPolicy):
    """A service's own policy written for the old 2.30.3 (whose exponential policy ignored the explicit delay)."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def compute_backoff_timeout(self, message: SQSMessage, visibility_timeout_seconds: int | None) -> int:
        return 600


class ExplicitNackTimeoutTests(unittest.TestCase):
    """The 3.0.0 base-jitter policy hides a message for at least a second; an explicit 0 brings it back at once."""

    policy = "ExponentialBackoffBaseJitterPolicy"

    def setUp(self) -> None:
        self.stack = fixtures.new_stack("nack-timeout", dead_letter=False, visibility_timeout=30)
        self.graph = fixtures.make_graph(self.stack, sqs_consumer={"backoff_policy": self.policy})
        self.addCleanup(fixtures.close_clients, self.graph)
        self.graph.sns_producer.produce(MEDIA_TYPE, name="a")

    def receive_again(self) -> list[SQSMessage]:
        messages: list[SQSMessage] = self.graph.sqs_consumer.consume(wait_seconds=0)
        return messages

    def test_message_nack_zero(self) -> None:
        """message.nack(0) makes the message visible at once despite the configured policy."""
        fixtures.receive(self.graph)[0].nack(0)
        assert_that([message.approximate_receive_count for message in self.receive_again()], is_(equal_to([2])))

    def test_handler_nack_zero(self) -> None:
        """A handler raising Nack(0) is RETRIED and its message visible again at once despite the policy."""

        def handler(content: dict[str, Any]) -> bool:
            raise Nack(0)

        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, handler)
        results = self.graph.sqs_message_dispatcher.handle_batch(fixtures.receive(self.graph))
        assert_that([result.outcome for result in results], is_(equal_to([Outcome.RETRIED])))
        assert_that([message.approximate_receive_count for message in self.receive_again()], is_(equal_to([2])))

    def test_policy_alone_hides(self) -> None:
        """nack() without a timeout leaves the delay to the policy: the message stays hidden for now."""
        fixtures.receive(self.graph)[0].nack()
        assert_that(self.receive_again(), is_(empty()))



class ServicePolicyTests(ExplicitNackTimeoutTests):
    """The same with a service's own policy, named in configuration, that ignores the explicit delay itself."""

    policy = "IgnoringNackTimeoutTestPolicy"

    def test_service_policy_is_used(self) -> None:
        """The consumer uses the service's policy named in sqs_consumer.backoff_policy."""
        assert_that(self.graph.sqs_consumer.backoff_policy, is_(instance_of(IgnoringNackTimeoutTestPolicy)))
