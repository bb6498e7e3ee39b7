"""Converge SNS and SQS on a stack file: read what exists, change only what differs, say what changed."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.cli.attributes import describe, filter_policy, json_attribute, queue_policy, same
from microcosm_pubsub.cli.common import aws_errors
from microcosm_pubsub.cli.queues import is_missing_queue
from microcosm_pubsub.cli.stack import StackSpec, SubscriptionSpec


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# SQS's maximum: an operator needs time to look at what was dead-lettered
DEAD_LETTER_RETENTION_SECONDS = "1209600"


@dataclass
class Resources:
    """Names to ARNs and URLs, as they are (or, in a dry run, will be)."""

    topic_arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)


class Provisioner:
    """Plans and (unless `dry_run`) applies the changes that make the endpoint match a stack."""

    def __init__(self, sns: SNSClient, sqs: SQSClient, dry_run: bool = False, sts: Any = None) -> None:
        self.sns = sns
        self.sqs = sqs
        self.dry_run = dry_run
        self.sts = sts
        self.changes: list[str] = []
        self.resources = Resources()
        self._account: tuple[str, str] | None = None

    def run(self, stack: StackSpec) -> Resources:
        with aws_errors("listing topics"):
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
            self.changes.append(f"create topic {name}")
            if self.dry_run:
                arn = self.future_arn("sns", name)
            else:
                with aws_errors(f"creating topic {name}"):
                    arn = self.sns.create_topic(Name=name)["TopicArn"]
        self.resources.topic_arns[name] = arn

    def queue(self, name: str, desired: dict[str, str], topic_arns: list[str] | None = None) -> None:
        url = self.queue_url(name)
        current: dict[str, str] = {}
        if url is not None:
            with aws_errors(f"reading queue {name}"):
                response = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
                current = {str(key): value for key, value in response["Attributes"].items()}
            arn = current["QueueArn"]
        elif self.dry_run:
            arn = self.future_arn("sqs", name)
        else:
            with aws_errors(f"creating queue {name}"):
                # Created bare: its policy needs its ARN, and the attributes are set below like any update's
                url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
                arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                    "QueueArn"
                ]
        if topic_arns:
            desired = {**desired, "Policy": json.dumps(queue_policy(current.get("Policy"), arn, topic_arns))}
        changed = {key: value for key, value in desired.items() if not same(key, current.get(key), value)}

        if not current:
            settings = ", ".join(describe(key, value) for key, value in changed.items() if value)
            self.changes.append(f"create queue {name}" + (f" ({settings})" if settings else ""))
        else:
            self.changes.extend(f"update queue {name}: {describe(key, value)}" for key, value in changed.items())
        if changed and url is not None and not self.dry_run:
            policy = desired.get("Policy") or current.get("Policy")
            if policy:
                # moto 5.2 drops a queue's policy on any SetQueueAttributes without one; resending it is harmless
                changed = {**changed, "Policy": policy}
            with aws_errors(f"setting the attributes of queue {name}"):
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
                with aws_errors(f"subscribing {spec.queue} to {spec.topic}"):
                    self.sns.subscribe(
                        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=desired,
                        ReturnSubscriptionArn=True,
                    )
            return
        with aws_errors(f"reading {label}"):
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
                with aws_errors(f"updating {label}"):
                    self.sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=key, AttributeValue=value)

    def queue_url(self, name: str) -> str | None:
        with aws_errors(f"looking up queue {name}"):
            try:
                return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as error:
                if is_missing_queue(error):
                    return None
                raise

    def subscription_arn(self, topic_arn: str, queue_arn: str) -> str | None:
        with aws_errors(f"listing the subscriptions of {topic_arn}"):
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
