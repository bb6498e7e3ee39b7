"""Dead letters under the defaults: found from the redrive policy, sent with their reason and original ids."""
from __future__ import annotations

import json
import threading
import unittest
from typing import Any

from hamcrest import assert_that, contains_string, equal_to, has_entries, is_, none
from marshmallow import fields
from microcosm.api import load_from_dict

from microcosm_pubsub.aws.provisioning import Stack
from microcosm_pubsub.consume.deadletter import RedrivePolicy
from microcosm_pubsub.consume.result import Action, Outcome, actions
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.testing.queues import admin_clients
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.cli_support import pubsub


MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.deadletter.job"
# Bounds for waits on the runner's threads; only a broken runner comes near them
WAIT_SECONDS = 30.0
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"

SNS: Any = None
SQS: Any = None


@schema
class JobSchema(PubSubMessageSchema):
    MEDIA_TYPE = MEDIA_TYPE

    name = fields.String(required=True)


def setUpModule() -> None:
    global SNS, SQS
    # The toolkit's clients for the endpoint: built once per process, closed at exit
    SNS, SQS = admin_clients(fixtures.endpoint())


def always_raises(message: dict[str, Any]) -> bool:
    raise ValueError(f"cannot price order {message['name']}")


class RedrivePolicyTestCase(unittest.TestCase):
    def test_reads_the_policy_from_queue_attributes(self) -> None:
        """A queue's RedrivePolicy attribute gives maxReceiveCount and the target ARN."""
        text = json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": "3"})
        policy = RedrivePolicy.from_attributes({"RedrivePolicy": text})
        assert_that(policy, is_(equal_to(RedrivePolicy(3, DLQ_ARN))))

    def test_no_policy_is_none(self) -> None:
        """A queue without a redrive policy has none."""
        assert_that(RedrivePolicy.from_attributes({"VisibilityTimeout": "30"}), is_(none()))

    def test_unreadable_policy_is_none(self) -> None:
        """A policy that is not the JSON SQS writes is treated as none, not as an error."""
        assert_that(RedrivePolicy.from_attributes({"RedrivePolicy": "{not json"}), is_(none()))

    def test_target_must_be_an_sqs_arn(self) -> None:
        """Looking up a target that is not an SQS queue ARN says so."""
        policy = RedrivePolicy(3, "arn:aws:sns:us-east-1:123456789012:topic")
        with self.assertRaisesRegex(ValueError, "not an SQS queue ARN"):
            policy.dead_letter_queue_url(lambda name, account: "unused")


class LastReceiveTableTestCase(unittest.TestCase):
    def test_last_receive_dead_letters_what_would_be_retried(self) -> None:
        """On the last receive, with a dead-letter queue, FAILED and RETRIED are dead-lettered; the rest as usual."""
        table = actions(True, last_receive=True)
        chosen = [table[outcome] for outcome in (Outcome.FAILED, Outcome.RETRIED, Outcome.SUCCEEDED, Outcome.INVALID)]
        assert_that(chosen, is_(equal_to([Action.DEAD_LETTER, Action.DEAD_LETTER, Action.DELETE, Action.DEAD_LETTER])))

    def test_without_a_dead_letter_queue_the_last_receive_retries(self) -> None:
        """Without a dead-letter queue there is nowhere to send it: a failure is retried as on any receive."""
        assert_that(actions(False, last_receive=True)[Outcome.FAILED], is_(Action.RETRY))


class DaemonTestBase(unittest.TestCase):
    def run_daemon(self, stack: Stack, **dispatcher: Any) -> ConsumerDaemon:
        """A daemon on `stack` whose handler always raises, retried at once, its runner on a thread."""
        config = fixtures.graph_config(
            stack, sqs_consumer={"message_retry_visibility_timeout_seconds": 0},
            sqs_message_dispatcher=dispatcher,
        )
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict(config))
        daemon.graph.sqs_message_handler_registry.register(MEDIA_TYPE, always_raises)
        daemon.start()
        assert daemon.runner is not None
        thread = threading.Thread(target=daemon.runner.run, name="runner-under-test", daemon=True)
        thread.start()
        self.addCleanup(self.stop, daemon, thread)
        return daemon

    def stop(self, daemon: ConsumerDaemon, thread: threading.Thread) -> None:
        daemon.stop.set()
        thread.join(WAIT_SECONDS)
        for key, component in list(daemon.graph.items()):
            if key in ("sqs_client", "sns_client"):
                component.close()
        assert_that(thread.is_alive(), is_(False))

    def dead_letter(self, queue_url: str) -> dict[str, Any]:
        """The one message that reaches `queue_url`, with its attributes."""
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            response = SQS.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"],
            )
            found.extend(response.get("Messages", []))
            return bool(found)

        assert_that(fixtures.wait_for(arrived, WAIT_SECONDS, interval=0.2), is_(True))
        assert_that(len(found), is_(equal_to(1)))
        return found[0]



class DaemonDeadLetterTestCase(DaemonTestBase):
    def test_defaults_dead_letter_a_failing_message_with_its_reason(self) -> None:
        """Defaults only, maxReceiveCount 3, a handler that always raises: the dead letter carries the error."""
        stack = fixtures.new_stack("deadletter", max_receive_count=3)
        assert stack.dead_letter_queue_url is not None
        daemon = self.run_daemon(stack)
        message_id = daemon.graph.sns_producer.produce(MEDIA_TYPE, name="o-1")
        dead = self.dead_letter(stack.dead_letter_queue_url)
        attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
        assert_that(attributes, has_entries(
            pubsub_outcome="failed",
            pubsub_reason="ValueError: cannot price order o-1",
            pubsub_receive_count="3",
            pubsub_message_id=message_id,
        ))
        assert_that(fixtures.wait_for(lambda: fixtures.queue_counts(SQS, stack.queue_url) == (0, 0), 5), is_(True))

    def test_configured_dead_letter_queue_wins(self) -> None:
        """sqs_message_dispatcher.dead_letter_queue_url is used instead of the redrive policy's target."""
        stack = fixtures.new_stack("deadletter", max_receive_count=2)
        elsewhere = SQS.create_queue(QueueName=fixtures.unique_name("elsewhere"))["QueueUrl"]
        self.run_daemon(stack, dead_letter_queue_url=elsewhere)
        fixtures.make_graph(stack).sns_producer.produce(MEDIA_TYPE, name="o-2")
        dead = self.dead_letter(elsewhere)
        assert_that(dead["MessageAttributes"]["pubsub_reason"]["StringValue"], contains_string("o-2"))

    def test_configured_attempts_win_over_the_redrive_policy(self) -> None:
        """With message_max_processing_attempts set, the daemon leaves the redrive policy's count alone."""
        stack = fixtures.new_stack("deadletter", max_receive_count=3)
        daemon = self.run_daemon(stack, message_max_processing_attempts=5)
        dispatcher = daemon.graph.sqs_message_dispatcher
        assert_that((dispatcher.last_receive, dispatcher.dead_letter_queue_url), is_(equal_to((None, None))))

    def test_following_the_redrive_policy_can_be_turned_off(self) -> None:
        """dead_letter_from_redrive_policy false leaves dead-lettering to SQS, as before."""
        stack = fixtures.new_stack("deadletter", max_receive_count=3)
        daemon = self.run_daemon(stack, dead_letter_from_redrive_policy=False)
        assert_that(daemon.graph.sqs_message_dispatcher.last_receive, is_(none()))


class PeekTestCase(DaemonTestBase):
    def test_peek_shows_the_original_ids(self) -> None:
        """`pubsub peek` of the dead-letter queue shows the message id the daemon logged."""
        stack = fixtures.new_stack("deadletter", max_receive_count=2)
        dead_letter_queue_url = stack.dead_letter_queue_url
        assert dead_letter_queue_url is not None
        daemon = self.run_daemon(stack)
        message_id = daemon.graph.sns_producer.produce(MEDIA_TYPE, name="o-3")
        assert_that(
            fixtures.wait_for(lambda: fixtures.queue_counts(SQS, dead_letter_queue_url)[0] == 1, WAIT_SECONDS),
            is_(True),
        )
        result = pubsub("peek", dead_letter_queue_url, "-n", "1")
        assert_that(result.returncode, is_(equal_to(0)))
        assert_that(result.stdout, contains_string(f"original: message_id={message_id}  sqs_message_id="))
