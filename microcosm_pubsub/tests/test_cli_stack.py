"""The stack file format, and `pubsub provision` applying it against the local endpoint."""
from __future__ import annotations

import json
import re
import unittest
from pathlib import Path
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_inanyorder,
    contains_string,
    equal_to,
    has_entries,
    has_item,
    is_,
    is_not,
    none,
    only_contains,
    raises,
    starts_with,
)

from microcosm_pubsub.aws.provisioning import DeadLetterSpec
from microcosm_pubsub.cli.stack import StackFileError, parse_stack
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.cli_support import drain, pubsub, pubsub_in_process, temporary_directory, write_json


def stack_document(prefix: str = "cli-stack") -> tuple[dict[str, Any], dict[str, str]]:
    """A stack with unique names: one topic, a filtered enveloped queue and a raw queue without a dead-letter queue."""
    names = {key: fixtures.unique_name(f"{prefix}-{key}") for key in ("topic", "billing", "audit")}
    document = {
        "topics": [names["topic"]],
        "queues": [
            {"name": names["billing"], "visibilityTimeout": 60, "deadLetter": {"maxReceiveCount": 5}},
            {"name": names["audit"], "deadLetter": False},
        ],
        "subscriptions": [
            {"topic": names["topic"], "queue": names["billing"], "mediaTypes": ["a.created.order", "a.changed.*"]},
            {"topic": names["topic"], "queue": names["audit"], "raw": True},
        ],
    }
    return document, names


class TestStackFormat(unittest.TestCase):
    def test_queue_defaults(self) -> None:
        """A queue gets a 30 s visibility timeout and a `<name>-dlq` after 3 receives unless told otherwise."""
        stack = parse_stack({"queues": [{"name": "billing"}]})
        assert_that(stack.queues[0].visibility_timeout, is_(equal_to(30)))
        assert_that(stack.queues[0].dead_letter, is_(equal_to(DeadLetterSpec("billing-dlq", 3))))

    def test_fifo_names_make_a_fifo_stack(self) -> None:
        """`.fifo` names are accepted, and a FIFO queue's default dead-letter queue is FIFO too."""
        stack = parse_stack({
            "topics": ["orders.fifo"], "queues": [{"name": "billing.fifo"}],
            "subscriptions": [{"topic": "orders.fifo", "queue": "billing.fifo"}],
        })
        assert_that(stack.dead_letter_queues, is_(equal_to(["billing-dlq.fifo"])))

    def test_dead_letter_false_means_none(self) -> None:
        """`deadLetter: false` leaves the queue without a dead-letter queue."""
        stack = parse_stack({"queues": [{"name": "billing", "deadLetter": False}]})
        assert_that(stack.queues[0].dead_letter, is_(none()))
        assert_that(stack.dead_letter_queues, is_(equal_to([])))

    def test_errors_name_the_bad_field(self) -> None:
        """Each kind of mistake is reported with the path of the field at fault."""
        cases = [
            ([], "the top level: must be an object"),
            ({"topic": []}, "stack: topic: unknown field"),
            ({"queues": [{"name": "q", "visibilityTimeout": "30"}]}, "queues[0].visibilityTimeout: must be an integer"),
            ({"queues": [{"name": "q", "deadLetter": {"maxReceiveCount": 0}}]}, "queues[0].deadLetter.maxReceiveCount"),
            ({"queues": [{"visibilityTimeout": 3}]}, "queues[0].name: required"),
            ({"queues": [{"name": "q.fifo", "deadLetter": {"name": "q-dlq"}}]}, "must be FIFO"),
            ({"topics": ["t"], "queues": [{"name": "q.fifo"}], "subscriptions": [{"topic": "t", "queue": "q.fifo"}]},
             "can only subscribe to a FIFO topic"),
            ({"queues": [{"name": "q" * 80 + ".fifo"}]}, "not a valid queue name"),
            ({"queues": [{"name": "bad name"}]}, "not a valid queue name"),
            ({"topics": ["t", "t"]}, "topics[1]: 't' is declared twice"),
            ({"topics": ["t"], "queues": [{"name": "q"}], "subscriptions": [{"topic": "u", "queue": "q"}]},
             "subscriptions[0].topic: 'u' is not declared"),
            ({"topics": ["t"], "queues": [{"name": "q"}],
              "subscriptions": [{"topic": "t", "queue": "q", "mediaTypes": []}]}, "subscriptions[0].mediaTypes"),
            ({"queues": [{"name": "q"}, {"name": "q-dlq"}]}, "queues[0].deadLetter.name"),
        ]
        for document, message in cases:
            assert_that(calling(parse_stack).with_args(document), raises(StackFileError, re.escape(message)), message)


    def test_every_problem_is_reported_not_only_the_first(self) -> None:
        """One pass names each bad field of the file, in separate lines."""
        document = {
            "topics": ["orders", "orders"],
            "queues": [{"name": "billing", "visibilityTimeout": "60"}, {"visibilityTimeout": 3}],
            "subscriptions": [{"topic": "orders", "queue": "nope"}],
        }
        try:
            parse_stack(document)
        except StackFileError as error:
            problems = error.problems
        else:
            raise AssertionError("parse_stack accepted a broken stack")
        assert_that(problems, contains_inanyorder(
            starts_with("stack: topics[1]: 'orders' is declared twice"),
            starts_with("stack: queues[0].visibilityTimeout: must be an integer"),
            "stack: queues[1].name: required",
            "stack: subscriptions[0].queue: 'nope' is not declared in queues",
        ))

    def test_a_bad_name_is_reported_once(self) -> None:
        """A subscription naming an invalid topic is not also reported as naming an undeclared one."""
        document = {"topics": ["bad topic"], "queues": [{"name": "q"}],
                    "subscriptions": [{"topic": "bad topic", "queue": "q"}]}
        assert_that(calling(parse_stack).with_args(document), raises(StackFileError))
        try:
            parse_stack(document)
        except StackFileError as error:
            assert_that(error.problems, contains_exactly(
                starts_with("stack: topics[0]: 'bad topic' is not a valid topic name"),
                starts_with("stack: subscriptions[0].topic: 'bad topic' is not a valid topic name"),
            ))


class TestProvision(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = temporary_directory(self)
        self.sqs = fixtures.endpoint().client("sqs")
        self.sns = fixtures.endpoint().client("sns")
        self.addCleanup(self.sqs.close)
        self.addCleanup(self.sns.close)

    def provision(self, document: Any, *args: str) -> Any:
        return pubsub("provision", "--stack", write_json(self.directory, "stack.json", document), *args)

    def queue(self, name: str) -> dict[str, str]:
        url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return {str(key): value for key, value in attributes.items()}

    def test_provision_creates_the_stack_and_a_second_run_changes_nothing(self) -> None:
        """The first run creates everything it lists; the second says 'no changes'."""
        document, names = stack_document()
        first = self.provision(document, "--iam-policy-out", self.directory)
        assert_that(first.returncode, is_(equal_to(0)), first.stderr)
        assert_that(first.stdout, contains_string(f"create topic {names['topic']}"))
        assert_that(first.stdout, contains_string(f"create subscription {names['topic']} -> {names['audit']}"))
        billing = self.queue(names["billing"])
        assert_that(billing["VisibilityTimeout"], is_(equal_to("60")))
        assert_that(json.loads(billing["RedrivePolicy"]), has_entries(
            deadLetterTargetArn=self.queue(f"{names['billing']}-dlq")["QueueArn"], maxReceiveCount=5,
        ))
        assert_that(self.queue(names["audit"]).get("RedrivePolicy"), is_(none()))

        second = self.provision(document, "--iam-policy-out", self.directory)
        assert_that(second.stdout.splitlines()[0], is_(equal_to("no changes")))

    def test_provision_creates_a_fifo_stack(self) -> None:
        """`.fifo` names give a FIFO topic, queue and dead-letter queue; a second run changes nothing."""
        topic, queue = fixtures.unique_name("orders") + ".fifo", fixtures.unique_name("billing") + ".fifo"
        document = {"topics": [topic], "queues": [{"name": queue}], "subscriptions": [{"topic": topic, "queue": queue}]}
        first = self.provision(document, "--iam-policy-out", self.directory)
        assert_that(first.returncode, is_(equal_to(0)), first.stderr)
        dead_letter = self.queue(queue.removesuffix(".fifo") + "-dlq.fifo")
        assert_that((self.queue(queue)["FifoQueue"], dead_letter["FifoQueue"]), is_(equal_to(("true", "true"))))
        assert_that(json.loads(self.queue(queue)["RedrivePolicy"]),
                    has_entries(deadLetterTargetArn=dead_letter["QueueArn"]))
        second = self.provision(document, "--iam-policy-out", self.directory)
        assert_that(second.stdout.splitlines()[0], is_(equal_to("no changes")))

    def test_subscriptions_deliver_raw_or_enveloped_and_filter_on_media_type(self) -> None:
        """The raw queue gets every message as is; the enveloped one only its media types, wrapped."""
        document, names = stack_document()
        self.provision(document, "--iam-policy-out", self.directory)
        topic_arn = self.sns.create_topic(Name=names["topic"])["TopicArn"]
        for media_type in ("a.created.order", "a.changed.order", "a.deleted.order"):
            self.sns.publish(TopicArn=topic_arn, Message=json.dumps({"mediaType": media_type}),
                             MessageAttributes={"media_type": {"DataType": "String", "StringValue": media_type}})
        audit = drain(self.sqs, self.sqs.get_queue_url(QueueName=names["audit"])["QueueUrl"])
        billing = drain(self.sqs, self.sqs.get_queue_url(QueueName=names["billing"])["QueueUrl"])
        assert_that(len(audit), is_(equal_to(3)))
        assert_that(json.loads(audit[0]["Body"]), is_not(has_entries(Type="Notification")))
        assert_that(sorted(json.loads(json.loads(message["Body"])["Message"])["mediaType"] for message in billing),
                    contains_exactly("a.changed.order", "a.created.order"))

    def test_changed_file_updates_only_what_differs(self) -> None:
        """A changed visibility timeout is the one change a re-run makes."""
        document, names = stack_document()
        self.provision(document, "--iam-policy-out", self.directory)
        document["queues"][0]["visibilityTimeout"] = 90
        result = self.provision(document, "--iam-policy-out", self.directory)
        assert_that(result.stdout.splitlines()[:2], contains_exactly(
            f"update queue {names['billing']}: visibility timeout 90s", "1 change applied",
        ))

    def test_dry_run_prints_the_plan_and_creates_nothing(self) -> None:
        """--dry-run says what it would do and leaves the endpoint as it was."""
        document, names = stack_document()
        result = self.provision(document, "--dry-run")
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        assert_that(result.stdout, contains_string(f"would create queue {names['billing']}"))
        assert_that(result.stdout, contains_string("nothing applied"))
        assert_that(calling(self.sqs.get_queue_url).with_args(QueueName=names["billing"]), raises(Exception))

    def test_iam_policies_name_only_the_stacks_resources(self) -> None:
        """The producer may publish to the topics; the consumer may consume the queues and feed their DLQs."""
        document, names = stack_document()
        self.provision(document, "--iam-policy-out", self.directory)
        producer = json.loads(Path(self.directory, "producer-policy.json").read_text())
        consumer = json.loads(Path(self.directory, "consumer-policy.json").read_text())
        assert_that(producer["Statement"][0], has_entries(
            Action=["sns:Publish"], Resource=[self.sns.create_topic(Name=names["topic"])["TopicArn"]],
        ))
        assert_that(consumer["Statement"][0]["Action"], has_item("sqs:ReceiveMessage"))
        assert_that(consumer["Statement"][0]["Resource"], contains_exactly(
            self.queue(names["audit"])["QueueArn"], self.queue(names["billing"])["QueueArn"],
        ))
        assert_that(consumer["Statement"][1], has_entries(
            Action=["sqs:GetQueueUrl", "sqs:SendMessage"], Resource=[self.queue(f"{names['billing']}-dlq")["QueueArn"]],
        ))

    def test_malformed_stack_file_exits_2_naming_the_problem(self) -> None:
        """A stack file that is not JSON is a one-line input error with its position."""
        result = self.provision('{"topics": ["a",]}')
        assert_that(result.returncode, is_(equal_to(2)))
        assert_that(result.stderr, contains_string("not valid JSON"))
        assert_that(result.stderr, contains_string("line 1 column"))
        assert_that(result.stderr, is_not(contains_string("Traceback")))

    def test_provision_reports_every_problem_of_the_file(self) -> None:
        """Each problem of the stack file is its own error line; the exit status is 2 and nothing is created."""
        name = fixtures.unique_name("cli-stack-bad")
        stack = write_json(self.directory, "stack.json", {
            "topics": [name, "bad topic"], "queues": [{"name": name, "visibilityTimeout": -1, "color": "red"}],
        })
        status, _, stderr = pubsub_in_process("provision", "--stack", stack)
        assert_that(status, is_(equal_to(2)))
        lines = stderr.strip().splitlines()
        assert_that(lines, contains_inanyorder(
            contains_string("topics[1]: 'bad topic' is not a valid topic name"),
            contains_string("queues[0].visibilityTimeout: must be an integer"),
            contains_string("queues[0].color: unknown field"),
        ))
        assert_that(lines, only_contains(starts_with(f"pubsub provision: error: {stack}: ")))
        assert_that(calling(self.sqs.get_queue_url).with_args(QueueName=name), raises(Exception))

    def test_invalid_stack_field_exits_2_naming_the_field(self) -> None:
        """A field of the wrong type is reported by its path."""
        stack = write_json(self.directory, "stack.json", {"queues": [{"name": "q", "visibilityTimeout": -1}]})
        status, _, stderr = pubsub_in_process("provision", "--stack", stack)
        assert_that(status, is_(equal_to(2)))
        assert_that(stderr, contains_string("queues[0].visibilityTimeout"))
