"""Provisioning topics, queues, dead-letter queues and subscriptions: read what exists, change only what differs."""
# The one implementation behind `provision()`, the testing environment and the stack files of `pubsub provision`
# and `pubsub local`; it never deletes: a resource left out stays as it is
from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.wire.fifo import is_fifo


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

T = TypeVar("T")
DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_MAX_RECEIVE_COUNT = 3
# SQS's maximum: an operator needs time to look at what was dead-lettered
DEAD_LETTER_RETENTION_SECONDS = "1209600"
# Set when a FIFO topic or queue (name ending in `.fifo`) is created: AWS cannot turn a standard one into FIFO.
# Content-based deduplication on the queue too: SNS passes its own ids, and a producer sending to it needs none
FIFO_TOPIC_ATTRIBUTES = {"FifoTopic": "true", "ContentBasedDeduplication": "true"}
FIFO_QUEUE_ATTRIBUTES = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
# The statement we own in a queue policy; statements others added are left alone
POLICY_SID = "pubsub-allow-topics"
# How a plan line names a queue attribute; the JSON ones are described in full
LABELS = {"VisibilityTimeout": "visibility timeout", "MessageRetentionPeriod": "retention"}
# What AWS leaves out of an attribute that has its default value
ABSENT = {"RawMessageDelivery": "false", "FilterPolicyScope": "MessageAttributes"}


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
    """Topic `name` fanning out to queue `name`, and its dead-letter queue if it has one."""

    topic_arn: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str | None
    dead_letter_queue_arn: str | None
    subscription_arn: str

    @classmethod
    def of(cls, resources: Resources, name: str) -> Stack:
        """Stack `name` among what a provisioner made (its dead-letter queue only if this run made it)."""
        dead_letter = dead_letter_name(name)
        return cls(
            resources.topic_arns[name], resources.queue_urls[name], resources.queue_arns[name],
            resources.queue_urls.get(dead_letter), resources.queue_arns.get(dead_letter),
            resources.subscription_arns[(name, name)],
        )


def provision(
    sns: SNSClient, sqs: SQSClient, name: str, *, raw: bool = False, dead_letter: bool = True,
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT, visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    filter_media_types: list[str] | None = None,
) -> Stack:
    """Topic `name` fanning out to queue `name`, with dead-letter queue `name-dlq` (`x-dlq.fifo` for `x.fifo`).

    Idempotent: a call with other arguments updates the existing resources to match. `filter_media_types`
    entries ending in `.*` match every media type with that prefix.
    """
    dead_letter_spec = DeadLetterSpec(dead_letter_name(name), max_receive_count) if dead_letter else None
    media_types = None if filter_media_types is None else tuple(filter_media_types)
    queue = QueueSpec(name, visibility_timeout, dead_letter_spec)
    spec = StackSpec((name,), (queue,), (SubscriptionSpec(name, name, raw, media_types),))
    return Stack.of(Provisioner(sns, sqs).run(spec), name)


class Provisioner:
    """Plans and (unless `dry_run`) applies the changes that make the endpoint match a stack.

    `changes` lists what was (or would be) changed, one line each. `errors(doing)` wraps each AWS call.
    """

    def __init__(
        self, sns: SNSClient, sqs: SQSClient, dry_run: bool = False, sts: Any = None,
        errors: Callable[[str], AbstractContextManager[None]] = lambda doing: nullcontext(),
    ) -> None:
        self.sns = sns
        self.sqs = sqs
        self.dry_run = dry_run
        self.sts = sts
        self.errors = errors
        self.changes: list[str] = []
        self.resources = Resources()

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
            dead_letter = queue.dead_letter
            redrive = dead_letter and json.dumps({
                "deadLetterTargetArn": self.resources.queue_arns[dead_letter.name],
                "maxReceiveCount": dead_letter.max_receive_count,
            })
            topics = [self.resources.topic_arns[item.topic] for item in stack.subscriptions if item.queue == queue.name]
            # An empty redrive policy removes redrive from a queue provisioned with it earlier
            self.queue(queue.name, {"VisibilityTimeout": str(queue.visibility_timeout), "RedrivePolicy": redrive or ""},
                       topics)
        for subscription in stack.subscriptions:
            self.subscription(subscription, subscription.topic in existing)
        return self.resources

    def call(self, doing: str, method: Callable[..., T], **kwargs: Any) -> T:
        with self.errors(doing):
            return method(**kwargs)

    def topic(self, name: str, arn: str | None) -> None:
        if arn is None:
            self.changes.append(f"create topic {name}" + " (FIFO, content-based deduplication)" * is_fifo(name))
            arn = self.future_arn("sns", name) if self.dry_run else self.call(
                f"creating topic {name}", self.sns.create_topic,
                Name=name, Attributes=FIFO_TOPIC_ATTRIBUTES if is_fifo(name) else {},
            )["TopicArn"]
        self.resources.topic_arns[name] = arn

    def queue(self, name: str, desired: dict[str, str], topic_arns: list[str] | None = None) -> None:
        url = self.queue_url(name)
        current: dict[str, str] = {}
        if url is not None:
            response = self.call(f"reading queue {name}", self.sqs.get_queue_attributes,
                                 QueueUrl=url, AttributeNames=["All"])
            current = {str(key): value for key, value in response["Attributes"].items()}
            arn = current["QueueArn"]
        elif self.dry_run:
            arn = self.future_arn("sqs", name)
        else:
            # Created bare: its policy needs its ARN, and the attributes are set below like any update's
            url = self.call(f"creating queue {name}", self.sqs.create_queue,
                            QueueName=name, Attributes=FIFO_QUEUE_ATTRIBUTES if is_fifo(name) else {})["QueueUrl"]
            arn = self.call(f"creating queue {name}", self.sqs.get_queue_attributes,
                            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if topic_arns:
            desired = {**desired, "Policy": json.dumps(queue_policy(current.get("Policy"), arn, topic_arns))}
        changed = {key: value for key, value in desired.items() if not same(key, current.get(key), value)}

        if current:
            self.changes.extend(f"update queue {name}: {describe(key, value)}" for key, value in changed.items())
        else:
            settings = ["FIFO"] * is_fifo(name) + [describe(key, value) for key, value in changed.items() if value]
            self.changes.append(f"create queue {name}" + (f" ({', '.join(settings)})" if settings else ""))
        if changed and url is not None and not self.dry_run:
            # moto 5.2 drops a queue's policy on any SetQueueAttributes without one; resending it is harmless
            policy = desired.get("Policy") or current.get("Policy")
            self.call(f"setting the attributes of queue {name}", self.sqs.set_queue_attributes,
                      QueueUrl=url, Attributes={**changed, **({"Policy": policy} if policy else {})})
        self.resources.queue_urls[name] = url or f"(queue {name}, not created yet)"
        self.resources.queue_arns[name] = arn

    def subscription(self, spec: SubscriptionSpec, topic_existed: bool) -> None:
        topic_arn, queue_arn = self.resources.topic_arns[spec.topic], self.resources.queue_arns[spec.queue]
        delivery = "raw" if spec.raw else "enveloped"
        which = f"media types {', '.join(spec.media_types)}" if spec.media_types else "every media type"
        desired = {"RawMessageDelivery": "true" if spec.raw else "false"}
        if spec.media_types is not None:
            desired["FilterPolicyScope"] = "MessageAttributes"
            # `x.*` is SNS's prefix match on `x.`
            prefixes = [{"prefix": item[:-1]} if item.endswith(".*") else item for item in spec.media_types]
            desired["FilterPolicy"] = json.dumps({"media_type": prefixes})
        label = f"subscription {spec.topic} -> {spec.queue}"

        # A topic this run creates has no subscription to find (in a dry run, no topic to ask)
        arn = self.subscription_arn(topic_arn, queue_arn) if topic_existed else None
        if arn is None:
            self.changes.append(f"create {label} ({delivery}, {which})")
            if not self.dry_run:
                # AWS refuses to Subscribe again with other attributes: an existing one is updated below
                self.resources.subscription_arns[(spec.topic, spec.queue)] = self.call(
                    f"subscribing {spec.queue} to {spec.topic}", self.sns.subscribe, TopicArn=topic_arn,
                    Protocol="sqs", Endpoint=queue_arn, Attributes=desired, ReturnSubscriptionArn=True,
                )["SubscriptionArn"]
            return
        self.resources.subscription_arns[(spec.topic, spec.queue)] = arn
        current = self.call(f"reading {label}", self.sns.get_subscription_attributes, SubscriptionArn=arn)["Attributes"]
        if spec.media_types is None and json_attribute(current.get("FilterPolicy")) is not None:
            desired["FilterPolicy"] = "{}"  # how SNS removes a filter policy
        said = {"RawMessageDelivery": f"{delivery} delivery", "FilterPolicyScope": "filter on message attributes",
                "FilterPolicy": which}
        for key, value in desired.items():
            if not same(key, current.get(key), value):
                self.changes.append(f"update {label}: {said[key]}")
                if not self.dry_run:
                    self.call(f"updating {label}", self.sns.set_subscription_attributes,
                              SubscriptionArn=arn, AttributeName=key, AttributeValue=value)

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
            pages = self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
            return next((item["SubscriptionArn"] for page in pages for item in page["Subscriptions"]
                         if item.get("Protocol") == "sqs" and item.get("Endpoint") == queue_arn), None)

    def future_arn(self, service: str, name: str) -> str:
        """The ARN a resource will have (a dry run creates nothing to read it from)."""
        partition, account = self.account
        return f"arn:{partition}:{service}:{self.sqs.meta.region_name}:{account}:{name}"

    @cached_property
    def account(self) -> tuple[str, str]:
        """The caller's partition and account, when `sts` can tell."""
        try:
            identity = self.sts.get_caller_identity() if self.sts is not None else {}
            return identity["Arn"].split(":")[1], identity["Account"]
        except (BotoCoreError, ClientError, KeyError, IndexError):
            return "aws", "<account-id>"


def is_missing_queue(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    return code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def queue_policy(current: str | None, queue_arn: str, topic_arns: list[str]) -> dict[str, Any]:
    """The queue's policy with our statement, without which AWS drops what the topics send."""
    policy = json_attribute(current)
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list):
        policy = {"Version": "2012-10-17", "Statement": []}
    others = [statement for statement in policy["Statement"] if statement.get("Sid") != POLICY_SID]
    for statement in policy["Statement"]:
        if statement.get("Sid") == POLICY_SID:
            # Provisioning never removes: a subscription dropped from the file still exists and must deliver
            allowed = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])
            topic_arns = [*topic_arns, *([allowed] if isinstance(allowed, str) else allowed)]
    ours = {
        "Sid": POLICY_SID, "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": sorted(set(topic_arns))}},
    }
    return {**policy, "Statement": [*others, ours]}


def json_attribute(text: str | None) -> Any:
    """A JSON attribute for comparison; absent, empty and `{}` all mean "none"."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict) and "maxReceiveCount" in value:
        # SQS hands a redrive policy's count back as a string or a number, depending on who set it
        value = {**value, "maxReceiveCount": int(value["maxReceiveCount"])}
    return value or None


def same(key: str, current: str | None, desired: str) -> bool:
    """Whether an attribute already says what is desired, however AWS spells it back."""
    if key in ("RedrivePolicy", "Policy", "FilterPolicy"):
        return bool(json_attribute(current) == json_attribute(desired))
    return (current or ABSENT.get(key) or "").lower() == desired.lower()


def describe(key: str, value: str) -> str:
    """A queue attribute's desired value, as a plan line says it."""
    if key == "RedrivePolicy":
        redrive = json_attribute(value)
        if not redrive:
            return "no dead-letter queue"
        target = str(redrive["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        return f"dead letters to {target} after {redrive['maxReceiveCount']} receives"
    if key == "Policy":
        statement = json_attribute(value)["Statement"][-1]
        topics = [arn.rsplit(":", 1)[-1] for arn in statement["Condition"]["ArnEquals"]["aws:SourceArn"]]
        return f"policy lets topic{'s' if len(topics) > 1 else ''} {', '.join(topics)} send"
    return f"{LABELS.get(key, key)} {value}s"


# The idempotency records' table (microcosm_pubsub.effects.stores.dynamodb): the string `key` its partition key,
# on demand, `expires` (epoch seconds) its TTL attribute so that DynamoDB tidies old records away
IDEMPOTENCY_TABLE = "pubsub_idempotency"
TABLE_ACTIVE_WAIT_SECONDS = 60


def create_idempotency_table(client: Any, name: str = IDEMPOTENCY_TABLE) -> bool:
    """Create the DynamoDB table of idempotency records unless it exists; whether it was created.

    Expiry is decided by the store's conditions, not by the TTL sweep (which may lag by days): the TTL
    only keeps the table from growing.
    """
    try:
        client.describe_table(TableName=name)
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    try:
        client.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        )
    except ClientError as error:
        # Another process created it meanwhile
        if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": TABLE_ACTIVE_WAIT_SECONDS},
    )
    try:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
    except (BotoCoreError, ClientError) as error:
        # Only tidying is lost: expiry itself is checked in the store's conditions
        if "already enabled" not in str(error).lower():
            raise
    return True
