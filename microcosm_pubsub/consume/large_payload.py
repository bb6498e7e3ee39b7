"""Large payloads through S3 (claim-check), on the wire AWS's extended clients use (wire/pointer.py)."""
from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.graph.config import flag, key_list
from microcosm_pubsub.wire.errors import ConfigurationError, PublishError
from microcosm_pubsub.wire.limits import SNS_MAX_MESSAGE_BYTES
from microcosm_pubsub.wire.outgoing import OutgoingMessage
from microcosm_pubsub.wire.pointer import (
    MAX_OWN_ATTRIBUTES,
    SIZE_ATTRIBUTE,
    SIZE_ATTRIBUTES,
    S3Object,
    pointer_in,
)
from microcosm_pubsub.wire.received import Unwrapped


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage


logger = logging.getLogger("microcosm_pubsub.large_payload")


class Offloader:
    """Producer side: puts bodies over the threshold in S3 and sends their pointer instead."""

    def __init__(
        self, client: Callable[[], Any], bucket: str, threshold_bytes: int = SNS_MAX_MESSAGE_BYTES,
        key_prefix: str = "",
    ) -> None:
        if not 0 <= threshold_bytes <= SNS_MAX_MESSAGE_BYTES:
            raise ConfigurationError(
                f"sns_producer.large_payload_threshold_bytes is {threshold_bytes}; "
                f"SNS takes 0 to {SNS_MAX_MESSAGE_BYTES}"
            )
        self._client = client
        self.bucket = bucket
        self.threshold_bytes = threshold_bytes
        self.key_prefix = key_prefix

    def offload(self, message: OutgoingMessage) -> OutgoingMessage:
        """`message` as sent: up to the threshold unchanged, else its body in S3 (`PublishError` if that fails)."""
        # Counted as the AWS clients count: body and every attribute's name, type and value
        if message.size <= self.threshold_bytes:
            return message
        if len(message.attributes) > MAX_OWN_ATTRIBUTES:
            raise PublishError(
                f"{message.media_type} has {len(message.attributes)} message attributes; a large payload "
                f"leaves room for {MAX_OWN_ATTRIBUTES} (SQS delivers ten, one says the payload's size)"
            )
        payload = message.body.encode("utf-8")
        target = S3Object(self.bucket, f"{self.key_prefix}{uuid.uuid4()}")
        try:
            self._client().put_object(Bucket=target.bucket, Key=target.key, Body=payload)
        except (BotoCoreError, ClientError) as error:
            raise PublishError(f"storing the payload of {message.media_type} at {target} failed: {error}") from error
        logger.debug("payload of %s (%d bytes) stored at %s", message.media_type, len(payload), target)
        return replace(message, body=target.pointer(), attributes={
            **message.attributes, SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(len(payload))},
        })


class Resolver:
    """Consumer side: a received message whose body is a pointer gets the payload in its place."""

    def __init__(self, client: Callable[[], Any], buckets: frozenset[str] = frozenset()) -> None:
        self._client = client
        # Empty: any bucket, as the AWS clients read
        self.buckets = buckets

    def resolved(self, wire: Unwrapped) -> Unwrapped:
        """`wire` with the payload its S3 pointer names; `wire` itself otherwise; a failed read sets `problem`."""
        # The delivery (what SQS holds, dead letters included) keeps the pointer
        target = pointer_in(wire.document) if any(name in wire.attributes for name in SIZE_ATTRIBUTES) else None
        if target is None:
            return wire
        if self.buckets and target.bucket not in self.buckets:
            return replace(wire, document=None, problem=(
                f"large payload at {target}: bucket {target.bucket} is not among sqs_consumer.large_payload_buckets"
            ))
        try:
            payload = self._client().get_object(Bucket=target.bucket, Key=target.key)["Body"].read().decode("utf-8")
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            return replace(wire, document=None, problem=f"large payload at {target} cannot be read: {code}: {error}")
        except (BotoCoreError, UnicodeDecodeError) as error:
            return replace(wire, document=None, problem=f"large payload at {target} cannot be read: {error}")
        try:
            document = json.loads(payload)
        except ValueError as error:
            return replace(wire, document=None, problem=f"large payload at {target} is not JSON: {error}")
        return replace(wire, payload=payload, document=document, payload_object=target)


class Cleaner:
    """Deletes the S3 objects of messages deleted from the queue (when the queue is their only reader)."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    def delete_objects(self, deleted: Sequence[SQSMessage], undeleted: Sequence[SQSMessage] = ()) -> None:
        """Delete the object of each message in `deleted` but not `undeleted` (SQS redelivers those)."""
        kept = {id(message) for message in undeleted}
        self.delete([
            message.opened.payload_object for message in deleted
            if message.opened.payload_object is not None and id(message) not in kept
        ])

    def delete(self, targets: Sequence[S3Object]) -> None:
        """Delete each object; a failure is logged (the object stays, the message is handled)."""
        for target in targets:
            try:
                self._client().delete_object(Bucket=target.bucket, Key=target.key)
            except (BotoCoreError, ClientError) as error:
                logger.warning("deleting the large payload at %s failed: %s", target, error)


class LazyClient:
    """The S3 client, built on first use: a consumer that never meets a pointer needs no S3 (nor its region)."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self._client: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    # Imported here: clients imports nothing of ours but errors and config
                    from microcosm_pubsub.aws.clients import build_s3_client
                    self._client = self.graph.get("s3_client") or build_s3_client(self.graph)
        return self._client


def offloader(graph: Any) -> Offloader | None:
    """The producer's offloader when `sns_producer.large_payload_bucket` is set, else None."""
    config = graph.config.sns_producer
    bucket = config.get("large_payload_bucket")
    if not bucket:
        return None
    threshold = config.get("large_payload_threshold_bytes")
    return Offloader(
        LazyClient(graph), str(bucket), SNS_MAX_MESSAGE_BYTES if threshold is None else int(threshold),
        str(config.get("large_payload_key_prefix") or ""),
    )


def resolver(graph: Any) -> Resolver:
    """The consumer's resolver, read from any bucket unless `sqs_consumer.large_payload_buckets` lists some."""
    # A pointer names its bucket: without that list, whoever can publish has the consumer read what its role can
    config = graph.config.get("sqs_consumer") or {}
    return Resolver(LazyClient(graph), frozenset(key_list(config.get("large_payload_buckets") or [])))


def cleaner(graph: Any) -> Cleaner | None:
    """A cleaner when `sqs_consumer.large_payload_delete_after_handling` is set, else None."""
    config = graph.config.get("sqs_consumer") or {}
    return Cleaner(LazyClient(graph)) if flag(config.get("large_payload_delete_after_handling")) else None
