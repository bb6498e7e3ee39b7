"""Sending messages to a dead-letter queue with their reason; finding that queue from a redrive policy."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import MessageHandlingResult
from microcosm_pubsub.wire.batching import sized_batches
from microcosm_pubsub.wire.limits import SQS_BATCH_TARGET_BYTES, SQS_MAX_ATTRIBUTES, SQS_MAX_BATCH
from microcosm_pubsub.wire.outgoing import Attributes, MessageAttributeValue


if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef


logger = logging.getLogger("microcosm_pubsub.deadletter")

# Keeps the reason readable and the message under SQS's size limit
MAX_REASON_CHARS = 1024
# Characters SQS refuses in a message attribute value
DISALLOWED = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def attribute(value: object, data_type: str = "String") -> MessageAttributeValue:
    return {"DataType": data_type, "StringValue": DISALLOWED.sub("?", str(value))[:MAX_REASON_CHARS] or "-"}


def dead_letter_attributes(result: MessageHandlingResult, source_queue: str) -> Attributes:
    """Why the message is here, then as many of its own attributes as SQS allows."""
    message = result.message
    attributes: Attributes = {
        "pubsub_outcome": attribute(result.outcome.value),
        "pubsub_reason": attribute(result.reason or result.outcome.value),
        "pubsub_media_type": attribute(message.media_type or "unknown"),
        "pubsub_receive_count": attribute(message.approximate_receive_count, "Number"),
        "pubsub_source_queue": attribute(source_queue),
    }
    if message.message_id:
        # The id the daemon logged (the SNS one for SNS deliveries), so a dead letter can be matched to its lines
        attributes["pubsub_message_id"] = attribute(message.message_id)
    if message.sqs_message_id:
        attributes["pubsub_sqs_message_id"] = attribute(message.sqs_message_id)
    error = None if result.error is None else f"{type(result.error).__name__}: {result.error}"
    if error is not None and error != result.reason:
        attributes["pubsub_error"] = attribute(error)
    for name, value in message.delivery.attributes.items():
        if len(attributes) >= SQS_MAX_ATTRIBUTES:
            break
        if name in attributes or not isinstance(value, dict) or "DataType" not in value:
            continue
        kept: MessageAttributeValue = {"DataType": value["DataType"]}
        if "StringValue" in value:
            kept["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            kept["BinaryValue"] = value["BinaryValue"]
        attributes[name] = kept
    return attributes


def sized_chunks(results: Sequence[MessageHandlingResult]) -> list[list[MessageHandlingResult]]:
    """Batches of at most ten and SQS_BATCH_TARGET_BYTES of bodies, so that one huge message goes alone."""
    # Bodies only: our attributes add about 1 KiB a message, well inside SQS's batch limit
    return list(sized_batches(
        results, lambda result: len(result.message.delivery.body.encode("utf-8", "surrogatepass")),
        SQS_BATCH_TARGET_BYTES, SQS_MAX_BATCH,
    ))


@dataclass(frozen=True)
class RedrivePolicy:
    """A queue's redrive policy: SQS moves a message to `dead_letter_target_arn` after `max_receive_count` receives."""

    max_receive_count: int
    dead_letter_target_arn: str

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any]) -> RedrivePolicy | None:
        """The policy in a queue's attributes; None when it has none, or one this cannot read."""
        text = attributes.get("RedrivePolicy")
        if not isinstance(text, str) or not text:
            return None
        try:
            policy = json.loads(text)
            return cls(int(policy["maxReceiveCount"]), str(policy["deadLetterTargetArn"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("cannot read the queue's redrive policy %r; SQS's redrive is left to itself", text)
            return None

    def dead_letter_queue_url(self, find_queue_url: Callable[[str, str], str]) -> str:
        """The dead-letter queue's URL, by `find_queue_url(name, account)` of its ARN (`ValueError`: no SQS ARN)."""
        parts = self.dead_letter_target_arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise ValueError(f"{self.dead_letter_target_arn!r} is not an SQS queue ARN")
        return find_queue_url(parts[5], parts[4])


class BatchSender(Protocol):
    """What dead-lettering needs from SQS (the consumer offers it)."""

    def send_message_batch(
        self, queue_url: str, entries: list[SendMessageBatchRequestEntryTypeDef],
    ) -> Mapping[str, Any]: ...


class DeadLetterQueue:
    """Sends results to the configured queue; a message is deleted only once the send succeeded."""

    def __init__(self, sender: BatchSender, queue_url: str) -> None:
        self.sender = sender
        self.queue_url = queue_url

    def send(self, results: Sequence[MessageHandlingResult], source_queue: str) -> list[SQSMessage]:
        """Send in batches of ten; returns the messages that are now safe to delete."""
        sent: list[SQSMessage] = []
        for chunk in sized_chunks(results):
            # The body as received, so that a requeue restores exactly what the producer sent
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(index), "MessageBody": result.message.delivery.body,
                 "MessageAttributes": dead_letter_attributes(result, source_queue)}
                for index, result in enumerate(chunk)
            ]
            try:
                response = self.sender.send_message_batch(self.queue_url, entries)
            except (BotoCoreError, ClientError) as error:
                logger.error("dead-lettering %d messages to %s failed, left on the queue: %s",
                             len(chunk), self.queue_url, error)
                continue
            sent.extend(chunk[int(success["Id"])].message for success in response.get("Successful", []))
            for failure in response.get("Failed", []):
                logger.error("dead-lettering message %s failed, left on the queue: %s %s",
                             chunk[int(failure["Id"])].message.message_id, failure.get("Code"), failure.get("Message"))
        return sent
