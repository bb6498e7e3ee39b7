"""Queues of an integration environment: provisioning them on a local endpoint, draining them."""
from __future__ import annotations

import atexit
import re
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.aws import provisioning
from microcosm_pubsub.aws.local import LocalEndpoint
from microcosm_pubsub.aws.provisioning import QueueSpec, Stack, StackSpec, SubscriptionSpec
from microcosm_pubsub.consume.consumer import SQSConsumer
from microcosm_pubsub.consume.message import SQSMessage


# moto hands out messages as soon as they are sent, so two empty receives in a row mean the queue is empty
QUIET_RECEIVES = 2

_endpoint_lock = threading.Lock()
_shared_endpoint: LocalEndpoint | None = None
_admin_clients: dict[str, tuple[Any, Any]] = {}


def shared_endpoint() -> LocalEndpoint:
    """One local endpoint for the whole process, started on first use and stopped at exit."""
    global _shared_endpoint
    with _endpoint_lock:
        if _shared_endpoint is None:
            _shared_endpoint = LocalEndpoint().start()
            atexit.register(_shared_endpoint.stop)
        return _shared_endpoint


def admin_clients(endpoint: LocalEndpoint) -> tuple[Any, Any]:
    """SNS and SQS clients for provisioning on `endpoint`, made once per endpoint and closed at exit."""
    # A boto3 client takes a tenth of a second to build; an environment per test would pay it often
    with _endpoint_lock:
        if endpoint.url not in _admin_clients:
            _admin_clients[endpoint.url] = (endpoint.client("sns"), endpoint.client("sqs"))
            for client in _admin_clients[endpoint.url]:
                atexit.register(client.close)
        return _admin_clients[endpoint.url]


def queue_consumer(graph: Any, queue_url: str) -> SQSConsumer:
    """A consumer of `queue_url` sharing the graph's SQS client and envelope."""
    consumer = SQSConsumer(graph)
    consumer.sqs_queue_url = queue_url
    return consumer


def until_quiet(consumer: SQSConsumer, *, max_messages: int, timeout_seconds: float) -> Iterator[list[SQSMessage]]:
    """Batches received without waiting, until QUIET_RECEIVES in a row are empty, `max_messages` came or time is up."""
    received = quiet = 0
    deadline = time.monotonic() + timeout_seconds
    while quiet < QUIET_RECEIVES and received < max_messages and time.monotonic() < deadline:
        messages = consumer.consume(wait_seconds=0)
        quiet = 0 if messages else quiet + 1
        received += len(messages)
        if messages:
            yield messages


def drain(
    consumer: SQSConsumer, *, ack: bool = True, max_messages: int = 500, timeout_seconds: float = 10.0,
) -> list[SQSMessage]:
    """Receive until the queue is empty (deleting what was received unless `ack` is False)."""
    received: list[SQSMessage] = []
    for messages in until_quiet(consumer, max_messages=max_messages, timeout_seconds=timeout_seconds):
        if ack:
            consumer.delete_batch(messages)
        received.extend(messages)
    return received


@dataclass(frozen=True)
class Resources:
    """What an environment provisioned: the service's stack, per-media-type topics, the observer queue; all of it."""

    stack: Stack
    topic_arns: dict[str, str]
    observer_queue_url: str
    provisioned: provisioning.Resources


def provision_resources(
    sns: Any, sqs: Any, prefix: str, media_types: list[str] | None, *, raw: bool = False, dead_letter: bool = True,
    max_receive_count: int = provisioning.DEFAULT_MAX_RECEIVE_COUNT,
    visibility_timeout: int = provisioning.DEFAULT_VISIBILITY_TIMEOUT,
) -> Resources:
    """Stack `prefix` as `provisioning.provision` makes it, a topic per media type, and an observer queue.

    Every topic fans out to both queues, the observer's always enveloped.
    """
    # SNS topic names take letters, digits, hyphens and underscores, 256 at most
    slugs = {media_type: re.sub(r"[^A-Za-z0-9_-]+", "-", media_type)[-200:] for media_type in media_types or ()}
    topics = {media_type: f"{prefix}-{slug}" for media_type, slug in slugs.items()}
    every_topic, observer = (prefix, *topics.values()), f"{prefix}-observer"
    dead_letter_spec = provisioning.DeadLetterSpec(provisioning.dead_letter_name(prefix), max_receive_count)
    queues = (QueueSpec(prefix, visibility_timeout, dead_letter_spec if dead_letter else None),
              QueueSpec(observer, provisioning.DEFAULT_VISIBILITY_TIMEOUT, None))
    subscriptions = tuple(SubscriptionSpec(topic, queue.name, raw and queue.name == prefix, None)
                          for topic in every_topic for queue in queues)
    made = provisioning.Provisioner(sns, sqs).run(StackSpec(every_topic, queues, subscriptions))
    by_media_type = {media_type: made.topic_arns[topic] for media_type, topic in topics.items()}
    return Resources(Stack.of(made, prefix), by_media_type, made.queue_urls[observer], made)


def delete_resources(sns: Any, sqs: Any, resources: Resources) -> None:
    """Delete every topic and queue; best effort, since leftovers only cost moto some memory."""
    with suppress(BotoCoreError, ClientError):
        for arn in resources.provisioned.topic_arns.values():
            sns.delete_topic(TopicArn=arn)
        for url in resources.provisioned.queue_urls.values():
            sqs.delete_queue(QueueUrl=url)
