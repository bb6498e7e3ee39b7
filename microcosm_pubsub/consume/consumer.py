"""`sqs_consumer`: receive messages from one SQS queue and settle them, singly or in batches."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.consume.backoff import BackoffPolicy, clamp, make_backoff_policy
from microcosm_pubsub.consume.envelope import SQSEnvelope, whole_number
from microcosm_pubsub.consume.large_payload import cleaner
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.readers import reader_for
from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.consume.settle import Settlement
from microcosm_pubsub.graph.config import defaults, key_list, typed
from microcosm_pubsub.middleware.chain import MiddlewareChain
from microcosm_pubsub.wire.batching import chunks
from microcosm_pubsub.wire.errors import ConfigurationError, ConsumeError
from microcosm_pubsub.wire.fifo import is_fifo
from microcosm_pubsub.wire.limits import SQS_MAX_BATCH


if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeFilterType
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef, SendMessageBatchResultTypeDef


logger = logging.getLogger("microcosm_pubsub.consumer")

# `SQS_MAX_BATCH` and `chunks` are kept importable from here, where they used to live
__all__ = ["SQS_MAX_BATCH", "SQSConsumer", "chunks", "whole_number"]


# What each receive asks SQS for; a FIFO queue's group keeps its messages in order (ordering.py)
ATTRIBUTES: list[QueueAttributeFilterType] = ["ApproximateReceiveCount", "SentTimestamp"]
FIFO_ATTRIBUTES: list[QueueAttributeFilterType] = [*ATTRIBUTES, "MessageGroupId"]


@defaults(
    sqs_queue_url=typed(str, default_value=None),
    endpoint_url=typed(str, default_value=None),
    profile_name=typed(str, default_value=None),
    region_name=typed(str, default_value=None),
    # SQS hands out at most ten messages per receive
    limit=typed(int, default_value=10),
    # Long polling: fewer empty receives, and messages arrive as soon as they are sent
    wait_seconds=typed(int, default_value=20),
    # "constant" or "exponential" (jitter, capped at 12 h); the old NaiveBackoffPolicy, ExponentialBackoffPolicy too
    backoff_policy=typed(str, default_value="constant"),
    # Base delay of the backoff policy after a failure
    message_retry_visibility_timeout_seconds=typed(int, default_value=5),
    # The old home of pubsub_runner.concurrency, read when that is unset
    concurrency=typed(int, default_value=None),
    connect_timeout_seconds=typed(float, default_value=5.0),
    read_timeout_seconds=typed(float, default_value=30.0),
    # boto3's standard retry mode, counting the first try
    max_attempts=typed(int, default_value=3),
    # "lean": the calls that scale with messages skip botocore's per-call machinery (docs/operating.md);
    # "botocore": every call through botocore, for its event hooks
    transport=typed(str, default_value="lean"),
    # A Lambda SQS event (or one record) to consume instead of a queue, as the old package's daemon took it
    sqs_event=None,
    # Delete a large payload's S3 object with its message; off: SNS fans out to several queues reading one object
    large_payload_delete_after_handling=typed(bool, default_value=False),
    # Buckets pointers may name (comma-separated); empty: any, as AWS's extended clients read
    large_payload_buckets=typed(key_list, default_value=[]),
)
class SQSConsumer:
    """Receives from `sqs_consumer.sqs_queue_url`; malformed messages come back marked, never raised."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        config = graph.config.sqs_consumer
        self.sqs_queue_url: str | None = config.sqs_queue_url
        self.limit = int(config.limit)
        self.wait_seconds = int(config.wait_seconds)
        if not 1 <= self.limit <= SQS_MAX_BATCH:
            raise ConfigurationError(f"sqs_consumer.limit is {self.limit}; SQS takes 1 to {SQS_MAX_BATCH}")
        if not 0 <= self.wait_seconds <= 20:
            raise ConfigurationError(f"sqs_consumer.wait_seconds is {self.wait_seconds}; SQS takes 0 to 20")
        self.backoff_policy: BackoffPolicy = make_backoff_policy(
            config.backoff_policy, config.message_retry_visibility_timeout_seconds,
        )
        self.sqs_event: Mapping[str, Any] | None = config.get("sqs_event") or None
        self.envelope: SQSEnvelope = graph.sqs_envelope
        self.middleware: MiddlewareChain = graph.pubsub_middleware
        self.settlement = Settlement(self, self.middleware, graph.config.sqs_message_dispatcher, cleaner(graph))

    @cached_property
    def client(self) -> SQSClient:
        """The SQS client; a reader for a file path or `STDIN` as the queue URL, or a Lambda event."""
        reader = reader_for(self.sqs_queue_url, self.sqs_event)
        # A reader answers, in boto3's shapes, the calls made of a queue it reads (receive, delete)
        client: SQSClient = self.graph.sqs_client if reader is None else cast("SQSClient", reader)
        return client

    @property
    def sqs_client(self) -> SQSClient:
        """The old package's name for the client; assignable."""
        return self.client

    @sqs_client.setter
    def sqs_client(self, client: SQSClient) -> None:
        self.__dict__["client"] = client

    @property
    def receives_in_parallel(self) -> bool:
        """Whether several threads may receive at once: botocore clients carry `meta`, readers read in order."""
        return hasattr(self.client, "meta")

    @property
    def queue_url(self) -> str:
        if not self.sqs_queue_url:
            raise ConfigurationError(
                "no SQS queue to consume: pass --sqs-queue-url, or set sqs_consumer.sqs_queue_url "
                "(environment variable <SERVICE>__SQS_CONSUMER__SQS_QUEUE_URL)"
            )
        return self.sqs_queue_url

    def consume(self, limit: int | None = None, wait_seconds: int | None = None) -> list[SQSMessage]:
        """Receive up to `limit` messages, waiting up to `wait_seconds` for the first; `ConsumeError` if SQS refuses."""
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=min(limit or self.limit, SQS_MAX_BATCH),
                WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
                AttributeNames=FIFO_ATTRIBUTES if is_fifo(self.queue_url) else ATTRIBUTES,
                MessageAttributeNames=["All"],
            )
        except (BotoCoreError, ClientError) as error:
            raise ConsumeError(f"receiving from {self.queue_url} failed: {error}") from error
        received_at = time.time()
        messages = [self.wrap(raw, received_at) for raw in response.get("Messages", [])]
        self.middleware.received(messages)
        return messages

    def wrap(self, raw: Mapping[str, Any], received_at: float | None = None) -> SQSMessage:
        """A received message as an `SQSMessage`; never raises, whatever the message holds."""
        message = self.envelope.parse_raw_message(self, raw, received_at)
        if message.is_valid:
            try:
                problem = self.middleware.incoming(message)
            except Exception as error:
                # A faulty middleware must not take the receive loop, or the rest of the batch, with it
                logger.exception("middleware failed on message %s", message.message_id)
                problem = f"middleware failed: {type(error).__name__}: {error}"
            if problem:
                message.opened = replace(message.opened, content=None, problem=problem)
        return message

    def retry_delay(self, message: SQSMessage, visibility_timeout_seconds: int | None = None) -> int:
        if visibility_timeout_seconds is not None:
            # As in the old 3.0.0, an explicit delay (0 included) wins over any policy, one a service assigned too
            return clamp(visibility_timeout_seconds)
        return self.backoff_policy.compute_backoff_timeout(message, None)

    def ack(self, message: SQSMessage) -> None:
        with self._refused("delete_message"):
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)

    def nack(self, message: SQSMessage, visibility_timeout_seconds: int | None = None) -> None:
        self.extend_visibility(message, self.retry_delay(message, visibility_timeout_seconds))

    def extend_visibility(self, message: SQSMessage, seconds: int) -> None:
        with self._refused("change_message_visibility"):
            self.client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=clamp(seconds),
            )

    @contextmanager
    def _refused(self, operation: str) -> Iterator[None]:
        """boto's errors of `operation` as `ConsumeError`."""
        try:
            yield
        except (BotoCoreError, ClientError) as error:
            raise ConsumeError(f"{operation} on {self.queue_url} failed: {error}") from error

    def queue_attributes(self, names: Sequence[str]) -> dict[str, Any]:
        """The consumed queue's attributes `names`; boto's errors propagate, as in the two below."""
        # The names are the runner's, which SQS checks: typed as boto3 lists them
        listed = cast("list[QueueAttributeFilterType]", list(names))
        response = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=listed)
        return dict(response["Attributes"].items())

    def find_queue_url(self, name: str, account: str) -> str:
        return str(self.client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])

    def send_message_batch(
        self, queue_url: str, entries: list[SendMessageBatchRequestEntryTypeDef],
    ) -> SendMessageBatchResultTypeDef:
        return self.client.send_message_batch(QueueUrl=queue_url, Entries=entries)

    def settle_block(self, message: SQSMessage, error: BaseException | None) -> bool:
        """Settle a `with message:` block's outcome as every path does; swallow signals, let a failure propagate."""
        result = MessageHandlingResult.of_block(message, error)
        self.settlement.settle([result])
        return error is not None and result.outcome is not Outcome.FAILED

    def delete_batch(self, messages: Sequence[SQSMessage]) -> list[SQSMessage]:
        """Delete in batches of ten; returns the messages SQS did not delete (each logged), as the one below."""
        return self._batch("delete_message_batch", [(message, {}) for message in messages])

    def change_visibility_batch(self, settings: Sequence[tuple[SQSMessage, int]]) -> list[SQSMessage]:
        entries = [(message, {"VisibilityTimeout": clamp(seconds)}) for message, seconds in settings]
        return self._batch("change_message_visibility_batch", entries)

    def _batch(self, operation: str, entries: Sequence[tuple[SQSMessage, dict[str, Any]]]) -> list[SQSMessage]:
        failed: list[SQSMessage] = []
        for chunk in chunks(entries):
            request = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle, **extra}
                for index, (message, extra) in enumerate(chunk)
            ]
            try:
                response = getattr(self.client, operation)(QueueUrl=self.queue_url, Entries=request)
            except (BotoCoreError, ClientError) as error:
                logger.warning("%s of %d messages failed: %s", operation, len(chunk), error)
                failed.extend(message for message, _ in chunk)
                continue
            for failure in response.get("Failed", []):
                message = chunk[int(failure["Id"])][0]
                logger.warning("%s failed for message %s: %s %s",
                               operation, message.message_id, failure.get("Code"), failure.get("Message"))
                failed.append(message)
        return failed
