"""FIFO topics and queues on the local endpoint: provisioning, producing with groups, the daemon's per-group order."""
from __future__ import annotations

import hashlib
import json
import random
import threading
import unittest
from collections import defaultdict
from typing import Any

from hamcrest import (
    anything,
    assert_that,
    calling,
    contains_exactly,
    empty,
    equal_to,
    greater_than,
    has_entries,
    is_,
    not_,
    raises,
)
from marshmallow import fields
from microcosm.api import load_from_dict

from microcosm_pubsub.aws.provisioning import (
    DeadLetterSpec,
    Provisioner,
    QueueSpec,
    Stack,
    StackSpec,
    SubscriptionSpec,
    provision,
)
from microcosm_pubsub.produce.producer import held_back
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.testing.queues import admin_clients
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import Nack
from microcosm_pubsub.wire.fifo import FifoError
from microcosm_pubsub.wire.outgoing import OutgoingMessage


STEP = "application/vnd.microcosm.pubsub._.tests.fifo.step"
KEYED = "application/vnd.microcosm.pubsub._.tests.fifo.keyed"
PLAIN = "application/vnd.microcosm.pubsub._.tests.fifo.plain"
# Bounds for waits on the runner's threads; only a broken runner comes near them
WAIT_SECONDS = 120.0

SNS: Any = None
SQS: Any = None


@schema
class StepSchema(PubSubMessageSchema):
    """One step of a group's sequence; the group id comes from the `group` field."""

    MEDIA_TYPE = STEP
    MESSAGE_GROUP_KEY = "group"

    group = fields.String(required=True)
    seq = fields.Integer(required=True)


@schema
class KeyedSchema(PubSubMessageSchema):
    """The group id computed from the content."""

    MEDIA_TYPE = KEYED
    MESSAGE_GROUP_KEY = staticmethod(lambda content: f"customer-{content['customer']}")

    customer = fields.Integer(required=True)


@schema
class PlainSchema(PubSubMessageSchema):
    """No group key declared."""

    MEDIA_TYPE = PLAIN

    name = fields.String(required=True)


def setUpModule() -> None:
    global SNS, SQS
    SNS, SQS = admin_clients(fixtures.endpoint())


def fifo_stack(**kwargs: Any) -> Stack:
    return provision(SNS, SQS, fixtures.unique_name("fifo") + ".fifo", **kwargs)


def received_in_order(queue_url: str, count: int) -> list[dict[str, str]]:
    """`count` messages as the queue hands them out, each deleted before the next receive (FIFO locks a group)."""
    seen: list[dict[str, str]] = []
    for _ in range(count * 3):
        response = SQS.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["MessageGroupId"],
        )
        for message in response.get("Messages", []):
            seen.append({"group": message["Attributes"]["MessageGroupId"], "body": message["Body"]})
            SQS.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if len(seen) >= count:
            break
    return seen


class ProvisioningTestCase(unittest.TestCase):
    def test_fifo_stack(self) -> None:
        """A `.fifo` name gets a FIFO topic (content-based deduplication), FIFO queue and FIFO dead-letter queue."""
        stack = fifo_stack()
        topic = SNS.get_topic_attributes(TopicArn=stack.topic_arn)["Attributes"]
        queue = SQS.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])["Attributes"]
        dead = SQS.get_queue_attributes(QueueUrl=stack.dead_letter_queue_url, AttributeNames=["All"])["Attributes"]
        assert_that(
            (topic, queue, dead, stack.dead_letter_queue_url),
            contains_exactly(
                has_entries(FifoTopic="true", ContentBasedDeduplication="true"),
                has_entries(FifoQueue="true", ContentBasedDeduplication="true"),
                has_entries(FifoQueue="true"),
                stack.queue_url.removesuffix(".fifo") + "-dlq.fifo",
            ),
        )

    def test_fifo_stack_is_idempotent(self) -> None:
        """Provisioning a FIFO stack again changes nothing."""
        name = fixtures.unique_name("fifo") + ".fifo"
        provision(SNS, SQS, name)
        provisioner = Provisioner(SNS, SQS)
        dead_letter = DeadLetterSpec(name.removesuffix(".fifo") + "-dlq.fifo", 3)
        provisioner.run(StackSpec(
            (name,), (QueueSpec(name, 30, dead_letter),), (SubscriptionSpec(name, name, False, None),),
        ))
        assert_that(provisioner.changes, is_(empty()))


class ProducerTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.stack = fifo_stack(raw=True, dead_letter=False)
        self.graph = fixtures.make_graph(self.stack)
        self.addCleanup(fixtures.close_clients, self.graph)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.graph.sns_client.meta.events.register(
            "before-parameter-build.sns.*", lambda params, model, **_: self.calls.append((model.name, params)),
        )

    def groups(self, count: int) -> list[str]:
        return [item["group"] for item in received_in_order(self.stack.queue_url, count)]

    def test_group_given_to_produce(self) -> None:
        """`message_group_id=` goes out as the message's group."""
        self.graph.sns_producer.produce(PLAIN, name="one", message_group_id="g-1")
        assert_that(self.groups(1), contains_exactly("g-1"))

    def test_group_from_a_schema_field(self) -> None:
        """A schema's `MESSAGE_GROUP_KEY` naming a field takes the group from that field."""
        self.graph.sns_producer.produce(STEP, group="orders-7", seq=1)
        assert_that(self.groups(1), contains_exactly("orders-7"))

    def test_group_from_a_schema_function(self) -> None:
        """A schema's `MESSAGE_GROUP_KEY` function computes the group from the content."""
        self.graph.sns_producer.produce(KEYED, customer=42)
        assert_that(self.groups(1), contains_exactly("customer-42"))

    def test_no_group_is_an_error_before_any_call(self) -> None:
        """A FIFO topic without a group id raises a clear error and calls nothing."""
        assert_that(
            calling(self.graph.sns_producer.produce).with_args(PLAIN, name="one"),
            raises(FifoError, "needs a message group id"),
        )
        assert_that(self.calls, is_(empty()))

    def test_content_based_topic_gets_no_deduplication_id(self) -> None:
        """On a topic with content-based deduplication, no deduplication id is sent."""
        self.graph.sns_producer.produce(PLAIN, name="one", message_group_id="g")
        publish = [params for name, params in self.calls if name == "Publish"]
        assert_that(publish[0], not_(has_entries(MessageDeduplicationId=anything())))

    def test_explicit_deduplication_id_deduplicates(self) -> None:
        """Two produces with one `deduplication_id` deliver one message."""
        for _ in range(2):
            self.graph.sns_producer.produce(PLAIN, name="once", message_group_id="g", deduplication_id="d-1")
        self.graph.sns_producer.produce(PLAIN, name="after", message_group_id="g")
        assert_that(len(received_in_order(self.stack.queue_url, 3)), is_(equal_to(2)))

    def test_without_content_based_deduplication_the_body_hash_is_sent(self) -> None:
        """On a FIFO topic without content-based deduplication, the id is the body's SHA-256."""
        name = fixtures.unique_name("nodedup") + ".fifo"
        arn = SNS.create_topic(Name=name, Attributes={"FifoTopic": "true"})["TopicArn"]
        graph = fixtures.make_graph(None, sns_topic_arns={"default": arn})
        self.addCleanup(fixtures.close_clients, graph)
        sent: list[dict[str, Any]] = []
        graph.sns_client.meta.events.register(
            "before-parameter-build.sns.Publish", lambda params, **_: sent.append(params),
        )
        graph.sns_producer.produce(PLAIN, name="one", message_group_id="g")
        assert_that(sent[0]["MessageDeduplicationId"],
                    is_(equal_to(hashlib.sha256(sent[0]["Message"].encode()).hexdigest())))

    def test_standard_topic_refuses_fifo_ids(self) -> None:
        """A group id for a standard topic is a clear error, not AWS's."""
        graph = fixtures.make_graph(fixtures.new_stack("standard", dead_letter=False))
        self.addCleanup(fixtures.close_clients, graph)
        assert_that(
            calling(graph.sns_producer.produce).with_args(PLAIN, name="one", message_group_id="g"),
            raises(FifoError, "standard topic"),
        )

    def test_deferred_batches_keep_each_groups_order(self) -> None:
        """Messages produced in a `deferred()` block arrive in each group's produce order."""
        with self.graph.sns_producer.deferred():
            for seq in range(12):
                for group in ("a", "b", "c"):
                    self.graph.sns_producer.produce(STEP, group=group, seq=seq)
        by_group: dict[str, list[int]] = defaultdict(list)
        for item in received_in_order(self.stack.queue_url, 36):
            by_group[item["group"]].append(json.loads(item["body"])["seq"])
        assert_that(dict(by_group), is_(equal_to({group: list(range(12)) for group in "abc"})))


class HeldBackTestCase(unittest.TestCase):
    def test_a_failed_entry_holds_back_its_groups_later_entries(self) -> None:
        """After a batch entry fails, later entries of its group are not sent (they would overtake it); others are."""
        messages = [
            OutgoingMessage("arn:t.fifo", PLAIN, f"{group}-{seq}", {}, message_group_id=group)
            for group, seq in (("a", 0), ("b", 0), ("a", 1), ("b", 1))
        ]
        failures: list[dict[str, Any]] = [{"index": 0, "media_type": PLAIN, "code": "Throttled", "message": ""}]
        kept = held_back(messages, [2, 3], failures)
        assert_that((kept, [failure["index"] for failure in failures]), is_(equal_to(([3], [0, 2]))))


class Recorder:
    """Sees every step: per group, the order handled, and whether two of one group ever ran at once."""

    def __init__(self, fail: set[tuple[str, int]], nack: set[tuple[str, int]]) -> None:
        self.lock = threading.Lock()
        self.fail, self.nack = set(fail), set(nack)
        self.attempts: dict[str, list[int]] = defaultdict(list)
        self.succeeded: dict[str, list[int]] = defaultdict(list)
        self.running: set[str] = set()
        self.overlaps = 0
        self.max_running = 0
        self.random = random.Random(16)

    def __call__(self, content: dict[str, Any]) -> bool:
        group, seq = content["group"], content["seq"]
        with self.lock:
            self.overlaps += group in self.running
            self.running.add(group)
            self.max_running = max(self.max_running, len(self.running))
            self.attempts[group].append(seq)
            delay = self.random.uniform(0, 0.004)
        threading.Event().wait(delay)
        with self.lock:
            self.running.discard(group)
            if (group, seq) in self.fail:
                self.fail.discard((group, seq))
                raise RuntimeError(f"injected failure of {group} #{seq}")
            if (group, seq) in self.nack:
                self.nack.discard((group, seq))
                raise Nack(0)
            self.succeeded[group].append(seq)
            return True

    @property
    def done(self) -> int:
        with self.lock:
            return sum(len(seqs) for seqs in self.succeeded.values())


class DaemonOrderTestCase(unittest.TestCase):
    def test_groups_keep_their_order_across_sixteen_threads(self) -> None:
        """20 groups x 50 at concurrency 16, failures mid-group: each group handled in order, each message once."""
        groups, per_group = [f"g-{index:02d}" for index in range(20)], 50
        # Given a FIFO stack (no redrive: released messages must not be dead-lettered) and a daemon on it
        stack = fifo_stack(raw=True, dead_letter=False, visibility_timeout=10)
        config = fixtures.graph_config(
            stack, sqs_consumer={"concurrency": 16, "message_retry_visibility_timeout_seconds": 1},
        )
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict(config))
        recorder = Recorder(fail={("g-03", 20)}, nack={("g-11", 30)})
        daemon.graph.sqs_message_handler_registry.register(STEP, recorder)
        daemon.start()
        daemon.graph.use("sqs_client")
        runner = daemon.runner
        assert runner is not None
        thread = threading.Thread(target=runner.run, name="fifo-runner", daemon=True)
        thread.start()
        self.addCleanup(fixtures.close_clients, daemon.graph)

        # When every group's steps are produced in order, in deferred batches, while the daemon runs
        producer = daemon.graph.sns_producer
        for seq in range(per_group):
            with producer.deferred():
                for group in groups:
                    producer.produce(STEP, group=group, seq=seq)
        finished = fixtures.wait_for(lambda: recorder.done >= len(groups) * per_group, WAIT_SECONDS)
        daemon.stop.set()
        thread.join(WAIT_SECONDS)

        # Then each group succeeded once per step, in order, never two of a group at once, and the queue is empty
        assert_that((finished, thread.is_alive()), is_(equal_to((True, False))))
        assert_that(dict(recorder.succeeded), is_(equal_to({group: list(range(per_group)) for group in groups})))
        assert_that({group: attempts == sorted(attempts) for group, attempts in recorder.attempts.items()},
                    is_(equal_to(dict.fromkeys(groups, True))))
        assert_that(sum(len(attempts) for attempts in recorder.attempts.values()),
                    is_(equal_to(len(groups) * per_group + 2)))
        assert_that((recorder.overlaps, runner.counts), is_(equal_to(
            (0, {"succeeded": len(groups) * per_group, "failed": 1, "retried": 1}),
        )))
        assert_that(fixtures.queue_counts(SQS, stack.queue_url), is_(equal_to((0, 0))))
        assert_that(recorder.max_running, is_(greater_than(1)))


class QueueDestinationTestCase(unittest.TestCase):
    def test_fifo_queue_as_destination_keeps_group_order(self) -> None:
        """A media type mapped to a FIFO queue is sent with its group and a deduplication id, in order."""
        stack = fifo_stack(raw=True, dead_letter=False)
        graph = fixtures.make_graph(stack, sns_topic_arns={"mappings": {PLAIN: stack.queue_arn}})
        self.addCleanup(fixtures.close_clients, graph)
        producer = graph.sns_producer
        producer.produce(PLAIN, name="first", message_group_id="g-1")
        with producer.deferred():
            producer.produce(PLAIN, name="second", message_group_id="g-1")
            producer.produce(PLAIN, name="third", message_group_id="g-1")
        received = received_in_order(stack.queue_url, 3)
        assert_that([(item["group"], json.loads(item["body"])["name"]) for item in received],
                    contains_exactly(("g-1", "first"), ("g-1", "second"), ("g-1", "third")))
