"""Queues as destinations: a media type `sns_topic_arns` maps to an SQS queue (ARN or URL) is sent there."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from microcosm_pubsub.wire.errors import ProduceArgumentError
from microcosm_pubsub.wire.fifo import FifoIds, explicit_ids, is_fifo
from microcosm_pubsub.wire.outgoing import OutgoingMessage


if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        SendMessageBatchRequestEntryTypeDef,
        SendMessageBatchResultTypeDef,
        SendMessageResultTypeDef,
    )


# SQS SendMessage's DelaySeconds: 0 to 15 minutes.
# Source: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
SQS_MAX_DELAY_SECONDS = 900
CLIENT_KEYS = ("endpoint_url", "region_name")


def is_queue(destination: str) -> bool:
    """Whether a destination `sns_topic_arns` resolved is an SQS queue's URL or ARN rather than a topic."""
    if destination.startswith(("https://", "http://")):
        return True
    return destination.startswith("arn:") and destination.split(":", 3)[2:3] == ["sqs"]


def check_delay(media_type: str, destination: str, delay_seconds: Any) -> int:
    """`delay_seconds` when SQS takes it for this destination, else `ProduceArgumentError`."""
    if not is_queue(destination):
        raise ProduceArgumentError(
            f"delay_seconds is for messages sent to a queue; {media_type} goes to topic {destination} "
            "(SNS has no delay): map it to a queue in sns_topic_arns, or produce without delay_seconds"
        )
    if is_fifo(destination):
        raise ProduceArgumentError(
            f"delay_seconds cannot be given per message to FIFO queue {destination}; set the queue's DelaySeconds"
        )
    if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int) or not (
        0 <= delay_seconds <= SQS_MAX_DELAY_SECONDS
    ):
        raise ProduceArgumentError(
            f"delay_seconds is {delay_seconds!r}; SQS takes a whole number of seconds from 0 to {SQS_MAX_DELAY_SECONDS}"
        )
    return delay_seconds


def _producer_client(graph: Any) -> SQSClient:
    # The graph's `sqs_client`, unless only `sns_producer` says where: then a producer-only service configures one place
    consumer = graph.config.get("sqs_consumer") or {}
    producer = graph.config.get("sns_producer") or {}
    if any(consumer.get(key) for key in CLIENT_KEYS) or not any(producer.get(key) for key in CLIENT_KEYS):
        client: SQSClient = graph.sqs_client
    else:
        from microcosm_pubsub.aws.clients import make_client  # only a producer-only service sending to queues needs it
        client = make_client("sqs", producer, "sns_producer", float(producer.get("read_timeout_seconds") or 10.0))
    return client


class QueueSender:
    """SendMessage and SendMessageBatch for the producer; queue ARNs are looked up once (GetQueueUrl)."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self._client: SQSClient | None = None
        self._urls: dict[str, str] = {}

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = _producer_client(self.graph)
        return self._client

    def url(self, destination: str) -> str:
        """The queue's URL: the destination itself, or the one its ARN names; boto's errors propagate, as below."""
        if destination.startswith(("https://", "http://")):
            return destination
        url = self._urls.get(destination)
        if url is None:
            _, _, _, _, account, name = destination.split(":", 5)
            response = self.client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            url = self._urls[destination] = str(response["QueueUrl"])
        return url

    def send(self, message: OutgoingMessage) -> SendMessageResultTypeDef:
        """SendMessage with the body and attributes a topic would get, so the consumer reads a raw delivery."""
        return self.client.send_message(
            QueueUrl=self.url(message.topic_arn), MessageBody=message.body, MessageAttributes=message.attributes,
            **_options(message),
        )

    def send_batch(
        self, destination: str, messages: Sequence[OutgoingMessage], ids: Sequence[int],
    ) -> SendMessageBatchResultTypeDef:
        """SendMessageBatch, entries named by `ids`: `Successful` and `Failed` as SNS PublishBatch answers."""
        entries: list[SendMessageBatchRequestEntryTypeDef] = []
        for entry_id, message in zip(ids, messages, strict=True):
            entry: SendMessageBatchRequestEntryTypeDef = {
                "Id": str(entry_id), "MessageBody": message.body, "MessageAttributes": message.attributes,
            }
            entries.append({**entry, **_options(message)})
        return self.client.send_message_batch(QueueUrl=self.url(destination), Entries=entries)


class SendOptions(FifoIds, total=False):
    """What SendMessage and a SendMessageBatch entry take beyond the body and attributes, when given."""

    DelaySeconds: int


def _options(message: OutgoingMessage) -> SendOptions:
    options: SendOptions = {} if message.delay_seconds is None else {"DelaySeconds": message.delay_seconds}
    return {**options, **explicit_ids(message.message_group_id, message.deduplication_id, message.body)}
