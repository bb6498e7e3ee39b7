"""Provisioning topics, queues, dead-letter queues and subscriptions: read what exists, change only what differs.

One implementation serves `provision()` (one topic, its queue and dead-letter queue: the demo, tests,
`LocalEndpoint.provision`) and the stack files of `pubsub provision` and `pubsub local` (cli/stack.py
parses them into a `StackSpec`). Provisioning never deletes: a resource left out stays as it is.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.aws.provisioning_attributes import (
    allow_topics_policy,
    describe,
    filter_policy,
    json_attribute,
    queue_policy,
    same,
    topics_may_send,
)
from microcosm_pubsub.wire.fifo import is_fifo


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "DeadLetterSpec", "Provisioner", "QueueSpec", "Resources", "Stack", "StackSpec", "SubscriptionSpec",
    "allow_topics_policy", "filter_policy", "provision", "topics_may_send",
]

DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_MAX_RECEIVE_COUNT = 3
# SQS's maximum: an operator needs time to look at what was dead-lettered
DEAD_LETTER_RETENTION_SECONDS = "1209600"
# Set when a FIFO topic or queue (name ending in `.fifo`) is created: AWS cannot turn a standard one into FIFO.
# Content-based deduplication on the queue too: SNS passes its own ids, and a producer sending to it needs none
FIFO_TOPIC_ATTRIBUTES = {"FifoTopic": "true", "ContentBasedDeduplication": "true"}
FIFO_QUEUE_ATTRIBUTES = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}


def dead_letter_name(queue: str) -> str:
    """`<queue>-dlq`; a FIFO queue's must be FIFO too: `<name>-dlq.fifo`."""
    return f"{queue.removesuffix('.fifo')}-dlq.fifo" if is_fifo(queue) else f"{queue}-dlq"


@dataclass(frozen=True)
class DeadLetterSpec:
    name: str
    max_receive_count: int


@dataclass(frozen=True)
class QueueSpec:
    name: str
    visibility_timeout: int
    dead_letter: DeadLetterSpec | None
    # Media types producers send straight to this queue (a destination; see destinations.py), if any
    media_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubscriptionSpec:
    topic: str
    queue: str
    raw: bool
    # Only these media types (an entry ending in `.*` is a prefix); None for every message
    media_types: tuple[str, ...] | None


@dataclass(frozen=True)
class StackSpec:
    """What to provision: topics, queues (each with its dead-letter queue, if any) and subscriptions."""

    topics: tuple[str, ...]
    queues: tuple[QueueSpec, ...]
    subscriptions: tuple[SubscriptionSpec, ...]

    @property
    def dead_letter_queues(self) -> list[str]:
        """Dead-letter queue names, each once, in declaration order."""
        names = [queue.dead_letter.name for queue in self.queues if queue.dead_letter is not None]
        return list(dict.fromkeys(names))


@dataclass
class Resources:
    """Names to ARNs and URLs, as they are (or, in a dry run, will be)."""

    topic_arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    # (topic, queue) -> subscription ARN; absent in a dry run for a subscription not made yet
    subscription_arns: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stack:
    """The resources `provision` made for one name."""

    topic_arn: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str | None
    dead_letter_queue_arn: str | None
    subscription_arn: str


def provision(
    sns: SNSClient,
    sqs: SQSClient,
    name: str,
    *,
    raw: bool = False,
    dead_letter: bool = True,
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    filter_media_types: list[str] | None = None,
) -> Stack:
    """Topic `name` fanning out to queue `name`, with dead-letter queue `name-dlq` (`x-dlq.fifo` for `x.fifo`).

    Idempotent: a second call with the same arguments returns the same stack, and a call with
    different arguments updates the existing resources to match. `filter_media_types` entries
    ending in `.*` match every media type with that prefix.
    """
    dead_letter_spec = DeadLetterSpec(dead_letter_name(name), max_receive_count) if dead_letter else None
    spec = StackSpec(
        topics=(name,),
        queues=(QueueSpec(name, visibility_timeout, dead_letter_spec),),
        subscriptions=(SubscriptionSpec(
            name, name, raw, None if filter_media_types is None else tuple(filter_media_types),
        ),),
    )
    resources = Provisioner(sns, sqs).run(spec)
    return Stack(
        topic_arn=resources.topic_arns[name],
        queue_url=resources.queue_urls[name],
        queue_arn=resources.queue_arns[name],
        dead_letter_queue_url=None if dead_letter_spec is None else resources.queue_urls[dead_letter_spec.name],
        dead_letter_queue_arn=None if dead_letter_spec is None else resources.queue_arns[dead_letter_spec.name],
        subscription_arn=resources.subscription_arns[(name, name)],
    )


@contextmanager
def _as_raised(doing: str) -> Iterator[None]:
    yield


class Provisioner:
    """Plans and (unless `dry_run`) applies the changes that make the endpoint match a stack.

    `changes` lists what was (or would be) changed, one line each. `errors(doing)` wraps each AWS
    call; by default boto's errors propagate as they are (the CLI turns them into one-line messages).
    """

    def __init__(
        self,
        sns: SNSClient,
        sqs: SQSClient,
        dry_run: bool = False,
        sts: Any = None,
        errors: Callable[[str], AbstractContextManager[None]] = _as_raised,
    ) -> None:
        self.sns = sns
        self.sqs = sqs
        self.dry_run = dry_run
        self.sts = sts
        self.errors = errors
        self.changes: list[str] = []
        self.resources = Resources()
        self._account: tuple[str, str] | None = None

    def run(self, stack: StackSpec) -> Resources:
        with self.errors("listing topics"):
            existing = {
                topic["TopicArn"].rsplit(":", 1)[-1]: topic["TopicArn"]
                for page in self.sns.get_paginator("list_topics").paginate()
                for topic in page["Topics"]
            }
        for name in stack.topics:
            self.topic(name, existing.get(name))
        for name in stack.dead_letter_queues:
            self.queue(name, {"MessageRetentionPeriod": DEAD_LETTER_RETENTION_SECONDS})
        for queue in stack.queues:
            attributes = {
                "VisibilityTimeout": str(queue.visibility_timeout),
                # An empty policy removes redrive from a queue provisioned with it earlier
                "RedrivePolicy": "" if queue.dead_letter is None else json.dumps({
                    "deadLetterTargetArn": self.resources.queue_arns[queue.dead_letter.name],
                    "maxReceiveCount": queue.dead_letter.max_receive_count,
                }),
            }
            topics = [self.resources.topic_arns[item.topic] for item in stack.subscriptions if item.queue == queue.name]
            self.queue(queue.name, attributes, topics)
        for subscription in stack.subscriptions:
            self.subscription(subscription)
        return self.resources

    def topic(self, name: str, arn: str | None) -> None:
        if arn is None:
            fifo = " (FIFO, content-based deduplication)" if is_fifo(name) else ""
            self.changes.append(f"create topic {name}{fifo}")
            if self.dry_run:
                arn = self.future_arn("sns", name)
            else:
                with self.errors(f"creating topic {name}"):
                    arn = self.sns.create_topic(
                        Name=name, Attributes=FIFO_TOPIC_ATTRIBUTES if is_fifo(name) else {},
                    )["TopicArn"]
        self.resources.topic_arns[name] = arn

    def queue(self, name: str, desired: dict[str, str], topic_arns: list[str] | None = None) -> None:
        url = self.queue_url(name)
        current: dict[str, str] = {}
        if url is not None:
            with self.errors(f"reading queue {name}"):
                response = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
                current = {str(key): value for key, value in response["Attributes"].items()}
            arn = current["QueueArn"]
        elif self.dry_run:
            arn = self.future_arn("sqs", name)
        else:
            with self.errors(f"creating queue {name}"):
                # Created bare: its policy needs its ARN, and the attributes are set below like any update's
                url = self.sqs.create_queue(
                    QueueName=name, Attributes=FIFO_QUEUE_ATTRIBUTES if is_fifo(name) else {},  # type: ignore[arg-type]
                )["QueueUrl"]
                arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                    "QueueArn"
                ]
        if topic_arns:
            desired = {**desired, "Policy": json.dumps(queue_policy(current.get("Policy"), arn, topic_arns))}
        changed = {key: value for key, value in desired.items() if not same(key, current.get(key), value)}

        if not current:
            settings = ", ".join(describe(key, value) for key, value in changed.items() if value)
            settings = ", ".join(["FIFO"] * is_fifo(name) + [settings] * bool(settings))
            self.changes.append(f"create queue {name}" + (f" ({settings})" if settings else ""))
        else:
            self.changes.extend(f"update queue {name}: {describe(key, value)}" for key, value in changed.items())
        if changed and url is not None and not self.dry_run:
            policy = desired.get("Policy") or current.get("Policy")
            if policy:
                # moto 5.2 drops a queue's policy on any SetQueueAttributes without one; resending it is harmless
                changed = {**changed, "Policy": policy}
            with self.errors(f"setting the attributes of queue {name}"):
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)  # type: ignore[arg-type]
        self.resources.queue_urls[name] = url or f"(queue {name}, not created yet)"
        self.resources.queue_arns[name] = arn

    def subscription(self, spec: SubscriptionSpec) -> None:
        topic_arn = self.resources.topic_arns[spec.topic]
        queue_arn = self.resources.queue_arns[spec.queue]
        delivery = "raw" if spec.raw else "enveloped"
        which = f"media types {', '.join(spec.media_types)}" if spec.media_types else "every media type"
        desired = {"RawMessageDelivery": "true" if spec.raw else "false"}
        if spec.media_types is not None:
            desired["FilterPolicyScope"] = "MessageAttributes"
            desired["FilterPolicy"] = json.dumps(filter_policy(spec.media_types))
        label = f"subscription {spec.topic} -> {spec.queue}"

        arn = self.subscription_arn(topic_arn, queue_arn)
        if arn is None:
            self.changes.append(f"create {label} ({delivery}, {which})")
            if not self.dry_run:
                with self.errors(f"subscribing {spec.queue} to {spec.topic}"):
                    # AWS refuses to Subscribe again with other attributes: an existing one is updated below
                    arn = self.sns.subscribe(
                        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=desired,
                        ReturnSubscriptionArn=True,
                    )["SubscriptionArn"]
                self.resources.subscription_arns[(spec.topic, spec.queue)] = arn
            return
        self.resources.subscription_arns[(spec.topic, spec.queue)] = arn
        with self.errors(f"reading {label}"):
            current = self.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        if spec.media_types is None and json_attribute(current.get("FilterPolicy")) is not None:
            desired["FilterPolicy"] = "{}"  # how SNS removes a filter policy
        changes = {
            "RawMessageDelivery": f"{delivery} delivery",
            "FilterPolicyScope": "filter on message attributes",
            "FilterPolicy": which,
        }
        for key, value in desired.items():
            if same(key, current.get(key), value):
                continue
            self.changes.append(f"update {label}: {changes[key]}")
            if not self.dry_run:
                with self.errors(f"updating {label}"):
                    self.sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=key, AttributeValue=value)

    def queue_url(self, name: str) -> str | None:
        with self.errors(f"looking up queue {name}"):
            try:
                return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as error:
                if is_missing_queue(error):
                    return None
                raise

    def subscription_arn(self, topic_arn: str, queue_arn: str) -> str | None:
        with self.errors(f"listing the subscriptions of {topic_arn}"):
            try:
                for page in self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
                    for subscription in page["Subscriptions"]:
                        if subscription.get("Protocol") == "sqs" and subscription.get("Endpoint") == queue_arn:
                            return subscription["SubscriptionArn"]
            except ClientError as error:
                # A dry run plans subscriptions on topics that do not exist yet
                if not (self.dry_run and error.response.get("Error", {}).get("Code") == "NotFound"):
                    raise
        return None

    def future_arn(self, service: str, name: str) -> str:
        """The ARN a resource will have, from the caller's account (dry runs create nothing to read it from)."""
        if self._account is None:
            self._account = ("aws", "<account-id>")
            if self.sts is not None:
                try:
                    identity = self.sts.get_caller_identity()
                    self._account = (identity["Arn"].split(":")[1], identity["Account"])
                except (BotoCoreError, ClientError, KeyError, IndexError):
                    pass
        partition, account = self._account
        return f"arn:{partition}:{service}:{self.sqs.meta.region_name}:{account}:{name}"


def is_missing_queue(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    return code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
