"""Queue and subscription attributes as provisioning wants them: building, comparing and describing them."""
from __future__ import annotations

import json
from typing import Any


# The statement we own in a queue policy; statements others added are left alone
POLICY_SID = "pubsub-allow-topics"
# What a queue attribute is called in the plan
LABELS = {
    "VisibilityTimeout": "visibility timeout",
    "RedrivePolicy": "redrive policy",
    "Policy": "policy",
    "MessageRetentionPeriod": "retention",
}


def filter_policy(media_types: tuple[str, ...]) -> dict[str, Any]:
    """The subscription filter policy on the `media_type` attribute; `x.*` becomes SNS's prefix match on `x.`."""
    values: list[Any] = [
        {"prefix": media_type[:-1]} if media_type.endswith(".*") else media_type for media_type in media_types
    ]
    return {"media_type": values}


def topics_may_send(queue_arn: str, topic_arns: list[str], sid: str = POLICY_SID) -> dict[str, Any]:
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


def json_attribute(text: str | None) -> Any:
    """A JSON attribute for comparison; absent, empty and `{}` all mean "none"."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value or None


def _redrive(text: str | None) -> Any:
    value = json_attribute(text)
    if isinstance(value, dict) and "maxReceiveCount" in value:
        # SQS hands the count back as a string or a number, depending on who set it
        value = {**value, "maxReceiveCount": int(value["maxReceiveCount"])}
    return value


def queue_policy(current: str | None, queue_arn: str, topic_arns: list[str]) -> dict[str, Any]:
    """The queue's policy with our statement (SNS may send from these topics, and those it could before)."""
    policy = json_attribute(current)
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list):
        policy = {"Version": "2012-10-17", "Statement": []}
    others = [statement for statement in policy["Statement"] if statement.get("Sid") != POLICY_SID]
    for statement in policy["Statement"]:
        if statement.get("Sid") == POLICY_SID:
            # Provisioning never removes: a subscription dropped from the file still exists and must deliver
            allowed = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])
            topic_arns = [*topic_arns, *([allowed] if isinstance(allowed, str) else allowed)]
    ours = topics_may_send(queue_arn, sorted(set(topic_arns)))
    return {**policy, "Statement": [*others, ours]}


def same(key: str, current: str | None, desired: str) -> bool:
    """Whether an attribute already says what is desired, however AWS spells it back."""
    if key == "RedrivePolicy":
        return bool(_redrive(current) == _redrive(desired))
    if key in ("Policy", "FilterPolicy"):
        return bool(json_attribute(current) == json_attribute(desired))
    if key == "RawMessageDelivery":
        return (current or "false").lower() == desired
    if key == "FilterPolicyScope":
        return (current or "MessageAttributes") == desired
    return current == desired


def describe(key: str, value: str) -> str:
    """A queue attribute's desired value, as a plan line says it."""
    if key == "RedrivePolicy":
        redrive = _redrive(value)
        if not redrive:
            return "no dead-letter queue"
        target = str(redrive["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        return f"dead letters to {target} after {redrive['maxReceiveCount']} receives"
    if key == "Policy":
        statement = json_attribute(value)["Statement"][-1]
        topics = [arn.rsplit(":", 1)[-1] for arn in statement["Condition"]["ArnEquals"]["aws:SourceArn"]]
        return f"policy lets topic{'s' if len(topics) > 1 else ''} {', '.join(topics)} send"
    return f"{LABELS.get(key, key)} {value}s"
