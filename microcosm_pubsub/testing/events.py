"""The shapes AWS hands out, built in memory: SNS notifications, SQS receives, Lambda SQS and SNS events."""
from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from microcosm_pubsub.aws.memory import ACCOUNT_ID, REGION, Stored, now_ms, received
from microcosm_pubsub.aws.memory import sns_notification as notification
from microcosm_pubsub.wire import outgoing


# Where a message that never went through SNS claims to come from
TESTING_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:microcosm-pubsub-testing"
TESTING_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:microcosm-pubsub-testing"

Attributes = Mapping[str, Mapping[str, Any]]


def media_type_attributes(media_type: str | None) -> outgoing.Attributes:
    """The message attributes our producer sends (none without a media type)."""
    return {} if media_type is None else outgoing.media_type_attributes(media_type)


def sns_notification(
    body: str, attributes: Attributes | None = None, *, topic_arn: str = TESTING_TOPIC_ARN,
    message_id: str | None = None,
) -> dict[str, Any]:
    """The JSON SNS writes into an SQS body when raw delivery is off (the in-memory double's)."""
    return notification(body, attributes, topic_arn=topic_arn, message_id=message_id or str(uuid.uuid4()))


def sqs_message(
    body: str, message_attributes: Attributes | None = None, *, receive_count: int = 1, message_id: str | None = None,
) -> dict[str, Any]:
    """One message as boto3's `receive_message` returns it (attribute names as the consumer asks)."""
    sent = now_ms()
    message = Stored(
        body, dict(message_attributes or {}), sent, message_id or str(uuid.uuid4()), receive_count=receive_count,
        first_received=sent, handle=f"testing-{uuid.uuid4().hex}",
    )
    return received(message, ["All"], ["All"])


def delivered(
    body: str, attributes: Attributes | None = None, *, topic_arn: str = TESTING_TOPIC_ARN,
    sns_message_id: str | None = None, raw: bool = False, receive_count: int = 1,
) -> dict[str, Any]:
    """What a queue subscribed to a topic receives for a published message, as boto3 returns it.

    Without raw delivery the body is SNS's envelope and the SQS message has no attributes of its
    own; with it, the body is the message and SNS's attributes become the SQS message's.
    """
    if raw:
        return sqs_message(body, attributes, receive_count=receive_count)
    envelope = sns_notification(body, attributes, topic_arn=topic_arn, message_id=sns_message_id)
    return sqs_message(json.dumps(envelope), receive_count=receive_count)


def lambda_record(message: Mapping[str, Any], *, queue_arn: str = TESTING_QUEUE_ARN) -> dict[str, Any]:
    """A boto3-shaped SQS message as a record of the event Lambda passes to a function."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(value["BinaryValue"]).decode() if "BinaryValue" in value else None,
            "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"],
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: {key: value for key, value in entry.items() if value is not None}
            for name, entry in attributes.items()
        },
        "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else REGION,
    }


class Published(Protocol):
    """What was published, as a `RecordedMessage` holds it."""

    body: str
    topic_arn: str
    message_id: str

    @property
    def attributes(self) -> Attributes: ...


def lambda_sns_record(
    message: str | Published, attributes: Attributes | None = None, *, topic_arn: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """One record of the event Lambda passes to a function subscribed to an SNS topic.

    :param message: a recorded message (its body, attributes, topic and id are used), or the body
        as published, with `attributes` as the SNS message attributes
    """
    if isinstance(message, str):
        body = message
    else:
        body, attributes = message.body, attributes if attributes is not None else message.attributes
        topic_arn, message_id = topic_arn or message.topic_arn, message_id or message.message_id
    topic_arn = topic_arn or TESTING_TOPIC_ARN
    notification = sns_notification(body, attributes, topic_arn=topic_arn, message_id=message_id)
    # Lambda spells the two URL keys of SNS's notification with a lower-case "rl", and adds Subject
    notification["SigningCertUrl"] = notification.pop("SigningCertURL")
    notification["UnsubscribeUrl"] = notification.pop("UnsubscribeURL")
    notification["Subject"] = None
    return {"EventVersion": "1.0", "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}", "EventSource": "aws:sns",
            "Sns": notification}


def lambda_event(*records: Mapping[str, Any]) -> dict[str, Any]:
    """The event Lambda passes to a function subscribed to an SQS queue (`lambda_record`s) or an SNS topic
    (`lambda_sns_record`s)."""
    return {"Records": [dict(record) for record in records]}
