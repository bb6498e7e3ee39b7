"""Create (or converge) a topic, its subscribed queue and a dead-letter queue."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


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
    max_receive_count: int = 3,
    visibility_timeout: int = 30,
    filter_media_types: list[str] | None = None,
) -> Stack:
    """Topic `name` fanning out to queue `name`, with dead-letter queue `name-dlq`.

    Idempotent: a second call with the same arguments returns the same stack, and a call with
    different arguments updates the existing resources to match.
    """
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    dead_letter_queue_url = dead_letter_queue_arn = None
    if dead_letter:
        dead_letter_queue_url, dead_letter_queue_arn = _queue(sqs, f"{name}-dlq")
    queue_url, queue_arn = _queue(sqs, name)

    redrive_policy = ""  # an empty policy removes redrive from a queue provisioned with it earlier
    if dead_letter_queue_arn is not None:
        redrive_policy = json.dumps(
            {"deadLetterTargetArn": dead_letter_queue_arn, "maxReceiveCount": max_receive_count}
        )
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": redrive_policy,
            "Policy": allow_topics_policy(queue_arn, [topic_arn]),
        },
    )

    subscription_attributes = {"RawMessageDelivery": "true" if raw else "false"}
    if filter_media_types is not None:
        subscription_attributes["FilterPolicy"] = json.dumps({"media_type": filter_media_types})
        subscription_attributes["FilterPolicyScope"] = "MessageAttributes"
    subscription_arn = _subscribe(sns, topic_arn, queue_arn, subscription_attributes)

    return Stack(
        topic_arn=topic_arn,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dead_letter_queue_url=dead_letter_queue_url,
        dead_letter_queue_arn=dead_letter_queue_arn,
        subscription_arn=subscription_arn,
    )


def _queue(sqs: SQSClient, name: str) -> tuple[str, str]:
    """The URL and ARN of queue `name`, created without attributes so an existing one never conflicts."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def topics_may_send(queue_arn: str, topic_arns: list[str], sid: str = "AllowTopicsToSendMessage") -> dict[str, Any]:
    """The queue policy statement letting SNS deliver from these topics; without it AWS drops what they send."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}},
    }


def allow_topics_policy(queue_arn: str, topic_arns: list[str]) -> str:
    """A whole queue policy (JSON) holding only `topics_may_send`."""
    return json.dumps({"Version": "2012-10-17", "Statement": [topics_may_send(queue_arn, topic_arns)]})


def _subscribe(sns: SNSClient, topic_arn: str, queue_arn: str, attributes: dict[str, str]) -> str:
    """Subscribe the queue to the topic, or bring an existing subscription's attributes up to date."""
    # AWS refuses to Subscribe again with different attributes, so an existing subscription is updated instead
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page["Subscriptions"]:
            if subscription.get("Protocol") == "sqs" and subscription.get("Endpoint") == queue_arn:
                arn = subscription["SubscriptionArn"]
                current = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
                if "FilterPolicy" in current and "FilterPolicy" not in attributes:
                    attributes = {**attributes, "FilterPolicy": "{}"}  # the documented way to remove a filter
                for key, value in attributes.items():
                    if current.get(key) != value:
                        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=key, AttributeValue=value)
                return arn
    return sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
