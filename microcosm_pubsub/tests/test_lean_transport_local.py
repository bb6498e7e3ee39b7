"""The lean transport against botocore on the local endpoint: the same round trips give the same results.

Each client gets its own topic and queue, built alike, and does the same calls in the same order; the results
must be equal once the names that differ (queue, topic), ids, receipt handles, request ids and times are set aside.
"""
from __future__ import annotations

import unittest
from typing import Any

from hamcrest import assert_that, equal_to, has_entries, has_length, instance_of, same_instance

from microcosm_pubsub.aws.lean import lean_client
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.test_lean_transport import NON_ASCII, Outcome, attributes


# Values that differ between two runs of the same calls, by key
VARYING = {"MessageId", "ReceiptHandle", "RequestId", "SequenceNumber", "SentTimestamp",
           "ApproximateFirstReceiveTimestamp"}
# Headers of the answer that differ with them
VARYING_HEADERS = {"date", "x-amzn-requestid", "content-length", "x-amz-crc32", "x-amz-request-id"}
TRACE = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"}}

# moto's SNS cannot deliver binary attributes to SQS (it hashes the text of them): the others, then
STRING_ATTRIBUTES = {name: value for name, value in attributes().items() if "StringValue" in value}


def settled(value: Any, names: dict[str, str]) -> Any:
    """`value` with what differs between the two runs replaced: varying keys' values, and each run's own names."""
    if isinstance(value, dict):
        return {key: "<varies>" if key in VARYING else
                {name: header for name, header in item.items() if name not in VARYING_HEADERS}
                if key == "HTTPHeaders" else settled(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [settled(item, names) for item in value]
    if isinstance(value, str):
        for own, common in names.items():
            value = value.replace(own, common)
        return value
    return value


class LocalRoundTripTests(unittest.TestCase):
    """Every lean operation, through botocore on one stack and through the lean client on a twin."""

    def setUp(self) -> None:
        endpoint = fixtures.endpoint()
        self.plain = endpoint.client("sqs")
        self.addCleanup(self.plain.close)
        self.fast = lean_client(endpoint.client("sqs"))
        self.addCleanup(self.fast.close)
        self.plain_sns = endpoint.client("sns")
        self.addCleanup(self.plain_sns.close)
        self.fast_sns = lean_client(endpoint.client("sns"))
        self.addCleanup(self.fast_sns.close)
        name = fixtures.unique_name("lean")
        self.stacks = [endpoint.provision(f"{name}-plain", raw=True, dead_letter=False),
                       endpoint.provision(f"{name}-lean", raw=True, dead_letter=False)]
        self.names = {f"{name}-plain": "<name>", f"{name}-lean": "<name>"}

    def both(self, method: str, per_stack: Any, sns: bool = False) -> list[Outcome]:
        """Call `method` with `per_stack(stack)`'s arguments through both clients; the settled outcomes, compared."""
        clients = (self.plain_sns, self.fast_sns) if sns else (self.plain, self.fast)
        operation = clients[1].meta.method_to_api_mapping[method]
        sent_before = clients[1].lean_sent[operation]
        outcomes = []
        for client, stack in zip(clients, self.stacks, strict=True):
            try:
                outcomes.append(Outcome(result=getattr(client, method)(**per_stack(stack))))
            except Exception as error:
                outcomes.append(Outcome(error=error))
        plain, lean = outcomes
        if plain.error is None and lean.error is None:
            assert_that(settled(lean.result, self.names), equal_to(settled(plain.result, self.names)))
        else:
            assert_that((type(lean.error).__name__, str(lean.error)), equal_to((type(plain.error).__name__,
                                                                                 str(plain.error))))
            assert_that(settled(getattr(lean.error, "response", None), self.names),
                        equal_to(settled(getattr(plain.error, "response", None), self.names)))
            # The lean client's own exception classes (each session has its own)
            own = getattr(clients[1].exceptions, type(plain.error).__name__, type(plain.error))
            assert_that(type(lean.error), same_instance(own))
        # One request, the lean client's own
        assert_that(clients[1].lean_sent[operation] - sent_before, equal_to(1))
        assert_that(clients[1].fallbacks[operation], equal_to(0))
        return outcomes

    def receive_all(self, count: int, **kwargs: Any) -> list[Outcome]:
        """Receive until each queue has given `count` messages (a few receives at most); both clients' messages."""
        gathered: list[list[dict[str, Any]]] = [[], []]
        for _ in range(5):
            for index, (client, stack) in enumerate(zip((self.plain, self.fast), self.stacks, strict=True)):
                if len(gathered[index]) < count:
                    result = client.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, **kwargs)
                    gathered[index].extend(result.get("Messages", []))
            if all(len(messages) >= count for messages in gathered):
                break
        for messages in gathered:
            assert_that(messages, has_length(count))
            messages.sort(key=lambda item: item["Body"])
        assert_that(settled(gathered[1], self.names), equal_to(settled(gathered[0], self.names)))
        return [Outcome(result=messages) for messages in gathered]

    def test_sqs_round_trip(self) -> None:
        """Send, send a batch, receive with every attribute, change visibility, delete: the same results."""
        self.both("send_message", lambda stack: {"QueueUrl": stack.queue_url, "MessageBody": NON_ASCII,
                                                 "MessageAttributes": attributes(), "MessageSystemAttributes": TRACE})
        batch = [{"Id": "plain", "MessageBody": "plain"}, {"Id": "unicode", "MessageBody": "漢字😀",
                                                          "MessageAttributes": attributes()},
                 {"Id": "delayed", "MessageBody": "delayed", "DelaySeconds": 0}]
        self.both("send_message_batch", lambda stack: {"QueueUrl": stack.queue_url, "Entries": batch})
        plain, lean = self.receive_all(
            4, AttributeNames=["All"], MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"],
            VisibilityTimeout=30, WaitTimeSeconds=0)
        assert_that(plain.result[-1], has_entries(Body="漢字😀", MessageAttributes=has_entries(
            blob=has_entries(BinaryValue=bytes(range(256))))))
        handles = [[message["ReceiptHandle"] for message in outcome.result] for outcome in (plain, lean)]
        stacks = self.stacks

        def handle(stack: Any, index: int) -> str:
            return handles[stacks.index(stack)][index]

        self.both("change_message_visibility", lambda stack: {
            "QueueUrl": stack.queue_url, "ReceiptHandle": handle(stack, 0), "VisibilityTimeout": 60})
        self.both("change_message_visibility_batch", lambda stack: {"QueueUrl": stack.queue_url, "Entries": [
            {"Id": "1", "ReceiptHandle": handle(stack, 1), "VisibilityTimeout": 60},
            {"Id": "2", "ReceiptHandle": handle(stack, 2), "VisibilityTimeout": 60}]})
        self.both("delete_message", lambda stack: {"QueueUrl": stack.queue_url, "ReceiptHandle": handle(stack, 0)})
        self.both("delete_message_batch", lambda stack: {"QueueUrl": stack.queue_url, "Entries": [
            {"Id": str(index), "ReceiptHandle": handle(stack, index)} for index in (1, 2, 3)]})
        # Nothing left: both answer no messages
        self.both("receive_message", lambda stack: {"QueueUrl": stack.queue_url, "WaitTimeSeconds": 0})

    def test_sqs_partial_failure(self) -> None:
        """A batch with a receipt handle the queue never gave: one entry fails, the same way for both."""
        self.both("send_message", lambda stack: {"QueueUrl": stack.queue_url, "MessageBody": "one"})
        plain, lean = self.receive_all(1)
        handles = {id(stack): outcome.result[0]["ReceiptHandle"]
                   for stack, outcome in zip(self.stacks, (plain, lean), strict=True)}
        outcomes = self.both("delete_message_batch", lambda stack: {"QueueUrl": stack.queue_url, "Entries": [
            {"Id": "good", "ReceiptHandle": handles[id(stack)]}, {"Id": "bad", "ReceiptHandle": "not-a-handle"}]})
        assert_that(outcomes[0].result, has_entries(Failed=has_length(1)))

    def test_sqs_errors(self) -> None:
        """A queue that does not exist, and a receipt handle that is not one."""
        outcomes = self.both("receive_message", lambda stack: {"QueueUrl": stack.queue_url + "-missing"})
        assert_that(outcomes[0].error, instance_of(self.plain.exceptions.QueueDoesNotExist))
        self.both("send_message", lambda stack: {"QueueUrl": stack.queue_url + "-missing", "MessageBody": "m"})
        self.both("delete_message", lambda stack: {"QueueUrl": stack.queue_url, "ReceiptHandle": "not-a-handle"})
        self.both("change_message_visibility", lambda stack: {"QueueUrl": stack.queue_url,
                                                              "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 5})

    def test_sns_round_trip(self) -> None:
        """Publish and a batch to each topic; the raw-delivered messages on each queue are the same."""
        self.both("publish", lambda stack: {"TopicArn": stack.topic_arn, "Message": NON_ASCII, "Subject": "é",
                                            "MessageAttributes": STRING_ATTRIBUTES}, sns=True)
        entries = [{"Id": "1", "Message": "plain"},
                   {"Id": "2", "Message": "漢字😀", "MessageAttributes": STRING_ATTRIBUTES}]
        self.both("publish_batch", lambda stack: {"TopicArn": stack.topic_arn, "PublishBatchRequestEntries": entries},
                  sns=True)
        self.receive_all(3, MessageAttributeNames=["All"])

    def test_sns_errors(self) -> None:
        outcomes = self.both("publish", lambda stack: {"TopicArn": stack.topic_arn + "-missing", "Message": "m"},
                             sns=True)
        assert_that(outcomes[0].error, instance_of(self.plain_sns.exceptions.NotFoundException))
        self.both("publish_batch", lambda stack: {"TopicArn": stack.topic_arn, "PublishBatchRequestEntries": [
            {"Id": "same", "Message": "a"}, {"Id": "same", "Message": "b"}]}, sns=True)

    def test_the_lean_path_ran(self) -> None:
        """The calls above went out through the lean transport, none handed to botocore."""
        self.both("send_message", lambda stack: {"QueueUrl": stack.queue_url, "MessageBody": "m"})
        self.both("publish", lambda stack: {"TopicArn": stack.topic_arn, "Message": "m"}, sns=True)
        assert_that(dict(self.fast.lean_sent), equal_to({"SendMessage": 1}))
        assert_that(dict(self.fast_sns.lean_sent), equal_to({"Publish": 1}))
        assert_that(sum(self.fast.fallbacks.values()) + sum(self.fast_sns.fallbacks.values()), equal_to(0))

