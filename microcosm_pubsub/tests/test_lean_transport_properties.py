"""The lean transport against botocore on generated messages: any text SQS accepts, any attribute map, same bytes."""
from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microcosm_pubsub.tests.test_lean_transport import FIFO_URL, QUEUE_URL, Differential, sent, sns_answer, sqs_answer
from microcosm_pubsub.tests.test_lean_transport_sns import TOPIC_ARN, batch_published, published


PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# What SQS accepts in a body: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF
SQS_CHARACTERS = st.one_of(
    st.sampled_from("\t\n\r"), st.characters(min_codepoint=0x20, max_codepoint=0xD7FF),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFD), st.characters(min_codepoint=0x10000),
)
TEXT = st.text(SQS_CHARACTERS, max_size=200)
VALUE = st.text(SQS_CHARACTERS, max_size=24)
SHORT = st.text(SQS_CHARACTERS, min_size=1, max_size=12)
NAME = st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=24) | SHORT
SUFFIX = st.just("") | st.text(string.ascii_letters + string.digits + "-_.é", min_size=1, max_size=8).map(".{}".format)
ATTRIBUTE = st.one_of(
    st.builds(lambda kind, suffix, value: {"DataType": kind + suffix, "StringValue": value},
              st.sampled_from(["String", "Number"]), SUFFIX, VALUE),
    st.builds(lambda suffix, value: {"DataType": "Binary" + suffix, "BinaryValue": value},
              SUFFIX, st.binary(max_size=64)),
)
ATTRIBUTES = st.dictionaries(NAME, ATTRIBUTE, max_size=10)
# Fewer per entry of a batch: ten entries of ten attributes cost hypothesis more to make than the calls cost
ENTRY_ATTRIBUTES = st.dictionaries(NAME, ATTRIBUTE, max_size=3)
TRACE = st.none() | SHORT.map(lambda value: {"AWSTraceHeader": {"DataType": "String", "StringValue": value}})
FIFO = st.none() | st.tuples(SHORT, SHORT)


def sqs_entry(body: str, attributes: dict[str, Any], trace: dict[str, Any] | None,
              fifo: tuple[str, str] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"MessageBody": body}
    if attributes:
        entry["MessageAttributes"] = attributes
    if trace:
        entry["MessageSystemAttributes"] = trace
    if fifo:
        entry["MessageGroupId"], entry["MessageDeduplicationId"] = fifo
    return entry


def sns_entry(body: str, attributes: dict[str, Any], subject: str | None,
              fifo: tuple[str, str] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"Message": body}
    if attributes:
        entry["MessageAttributes"] = attributes
    if subject is not None:
        entry["Subject"] = subject
    if fifo:
        entry["MessageGroupId"], entry["MessageDeduplicationId"] = fifo
    return entry


SQS_ENTRIES = st.lists(st.builds(sqs_entry, TEXT, ENTRY_ATTRIBUTES, TRACE, FIFO), min_size=1, max_size=10)
SNS_ENTRIES = st.lists(st.builds(sns_entry, TEXT, ENTRY_ATTRIBUTES, st.none() | SHORT, FIFO), min_size=1, max_size=10)


class SqsPropertyTests(Differential):
    """Generated SendMessage and SendMessageBatch input: the same request bytes and the same result."""

    @PROPERTY_SETTINGS
    @given(body=TEXT, attributes=ATTRIBUTES, trace=TRACE, fifo=FIFO)
    def test_send_message(self, body: str, attributes: dict[str, Any], trace: dict[str, Any] | None,
                          fifo: tuple[str, str] | None) -> None:
        kwargs = {"QueueUrl": FIFO_URL if fifo else QUEUE_URL, **sqs_entry(body, attributes, trace, fifo)}
        self.same("SendMessage", kwargs, sqs_answer(sent(1)))

    @PROPERTY_SETTINGS
    @given(entries=SQS_ENTRIES)
    def test_send_message_batch(self, entries: list[dict[str, Any]]) -> None:
        numbered = [{"Id": str(index), **entry} for index, entry in enumerate(entries)]
        self.same("SendMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": numbered}, sqs_answer(
            {"Successful": [{"Id": entry["Id"], "MessageId": "m", "MD5OfMessageBody": "d"} for entry in numbered]}))


class SnsPropertyTests(Differential):
    """Generated Publish and PublishBatch input: the same request bytes and the same result."""

    service = "sns"

    @PROPERTY_SETTINGS
    @given(body=TEXT, attributes=ATTRIBUTES, subject=st.none() | SHORT, fifo=FIFO)
    def test_publish(self, body: str, attributes: dict[str, Any], subject: str | None,
                     fifo: tuple[str, str] | None) -> None:
        kwargs = {"TopicArn": TOPIC_ARN, **sns_entry(body, attributes, subject, fifo)}
        self.same("Publish", kwargs, sns_answer(published()))

    @PROPERTY_SETTINGS
    @given(entries=SNS_ENTRIES)
    def test_publish_batch(self, entries: list[dict[str, Any]]) -> None:
        numbered = [{"Id": str(index), **entry} for index, entry in enumerate(entries)]
        self.same("PublishBatch", {"TopicArn": TOPIC_ARN, "PublishBatchRequestEntries": numbered},
                  sns_answer(batch_published([entry["Id"] for entry in numbered], [])))
