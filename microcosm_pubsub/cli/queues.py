"""Queues by name, URL or ARN; their redrive policy; receiving and releasing; reading a message without a schema."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.aws.faults import AWS_HOST_SUFFIXES
from microcosm_pubsub.cli.common import UsageError, aws_errors
from microcosm_pubsub.consume.deadletter import RedrivePolicy
from microcosm_pubsub.consume.envelope import MEDIA_TYPE_ATTRIBUTE, unwrap
from microcosm_pubsub.wire.batching import chunks


if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# AWS's SQS hosts (sqs.<region>.amazonaws.com, the legacy <region>.queue.amazonaws.com, FIPS, dual-stack, China)
AWS_SQS_REGION = re.compile(r"^(?:sqs(?:-fips)?\.(?P<region>[a-z0-9-]+)\.|(?P<legacy>[a-z0-9-]+)\.queue\.)")


@dataclass(frozen=True)
class Queue:
    """A queue as the operator named it, and its URL."""

    name: str
    url: str


def find_queue(sqs: SQSClient, queue: str) -> Queue:
    """A queue named by name, URL or ARN; a name or ARN is looked up, so it must exist (else `CommandError`)."""
    if queue.startswith(("http://", "https://")):
        check_url_matches_endpoint(sqs, queue)
        url = queue
    else:
        arn = queue.split(":")
        name, owner = (arn[5], arn[4]) if queue.startswith("arn:") and len(arn) == 6 else (queue, "")
        kwargs = {"QueueOwnerAWSAccountId": owner} if owner else {}
        with aws_errors(f"looking up queue {queue!r}", missing=f"queue {queue!r} does not exist"):
            url = sqs.get_queue_url(QueueName=name, **kwargs)["QueueUrl"]
    return Queue(name=url.rstrip("/").rsplit("/", 1)[-1], url=url)


def check_url_matches_endpoint(sqs: SQSClient, url: str) -> None:
    """Refuse a queue URL of another endpoint or AWS region than the client's: SQS finds the queue by the URL's path
    on the client's own endpoint, so an AWS URL used against the local endpoint would read the local queue."""
    endpoint = str(sqs.meta.endpoint_url)
    host = urlsplit(url).hostname or ""
    on_aws = host.endswith(AWS_HOST_SUFFIXES)
    endpoint_on_aws = (urlsplit(endpoint).hostname or "").endswith(AWS_HOST_SUFFIXES)
    if on_aws and not endpoint_on_aws:
        raise UsageError(f"{url} is a queue on AWS, but the endpoint is {endpoint} (--endpoint-url or "
                         "AWS_ENDPOINT_URL): name the queue by its name to use the endpoint's queue, or unset the "
                         "endpoint to reach AWS")
    if endpoint_on_aws and not on_aws:
        parts = urlsplit(url)
        raise UsageError(f"{url} is not an AWS queue URL, but the endpoint is AWS ({endpoint}): "
                         f"pass --endpoint-url {parts.scheme}://{parts.netloc} (or set AWS_ENDPOINT_URL) to reach it")
    named = AWS_SQS_REGION.match(host) if on_aws else None
    region = named and (named.group("region") or named.group("legacy"))
    if region and region != sqs.meta.region_name:
        raise UsageError(f"{url} is a queue in region {region}, but the region is {sqs.meta.region_name}: "
                         f"pass --region {region}")


def queue_attributes(sqs: SQSClient, queue: Queue) -> dict[str, str]:
    with aws_errors(f"reading queue {queue.name!r}", missing=f"queue {queue.name!r} does not exist"):
        response = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])
    return {str(key): value for key, value in response.get("Attributes", {}).items()}


def dead_letter_queue(redrive: RedrivePolicy) -> str:
    """The name of the dead-letter queue a redrive policy names."""
    return redrive.dead_letter_target_arn.rsplit(":", 1)[-1] or "its dead-letter queue"


def receive(sqs: Any, queue: Queue, count: int, hold_seconds: int) -> list[dict[str, Any]]:
    """One receive, without waiting, of up to `count` messages with all their attributes."""
    with aws_errors(f"receiving from {queue.name}"):
        response = sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=count, VisibilityTimeout=hold_seconds, WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        )
    messages: list[dict[str, Any]] = response.get("Messages", [])
    return messages


def release(sqs: SQSClient, queue: Queue, receipt_handles: Sequence[str]) -> int:
    """Make held messages visible again at once; returns how many SQS refused (each is visible later anyway)."""
    refused = 0
    for chunk in chunks(receipt_handles):
        entries: list[Any] = [
            {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0} for index, handle in enumerate(chunk)
        ]
        try:
            refused += len(sqs.change_message_visibility_batch(QueueUrl=queue.url, Entries=entries).get("Failed", []))
        except (BotoCoreError, ClientError):
            refused += len(chunk)
    return refused


@dataclass(frozen=True)
class Peeked:
    """What a received SQS message holds, read without any schema."""

    media_type: str | None
    content: Any
    topic_arn: str | None


def read_message(raw: Mapping[str, Any]) -> Peeked:
    """Media type and content of a received message, SNS-wrapped or raw, JSON or not."""
    wire = unwrap(raw)
    # Content that is not JSON is shown as the text it is
    content = wire.payload if wire.problem is not None else wire.document
    media_type = wire.attributes.get(MEDIA_TYPE_ATTRIBUTE) or wire.attributes.get("pubsub_media_type")
    if isinstance(content, dict) and isinstance(content.get("mediaType"), str) and content["mediaType"]:
        media_type = content["mediaType"]
    return Peeked(media_type, content, wire.topic_arn)
