"""Lambda event records (SQS and SNS) as the SQS messages, in boto3's shape, that the envelope reads."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any


def sqs_message_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda SQS event record in the shape boto3's `receive_message` returns."""
    attributes: dict[str, dict[str, Any]] = {}
    for name, value in (record.get("messageAttributes") or {}).items():
        if not isinstance(value, Mapping):
            continue
        attribute: dict[str, Any] = {"DataType": str(value.get("dataType", "String"))}
        if value.get("stringValue") is not None:
            attribute["StringValue"] = str(value["stringValue"])
        if value.get("binaryValue") is not None:
            # Lambda base64-encodes binary attributes; boto3 hands out (and takes) bytes
            try:
                attribute["BinaryValue"] = base64.b64decode(value["binaryValue"])
            except (binascii.Error, TypeError, ValueError):
                continue
        attributes[name] = attribute
    return {
        "MessageId": str(record.get("messageId", "")), "ReceiptHandle": str(record.get("receiptHandle", "")),
        "MD5OfBody": str(record.get("md5OfBody", "")), "Body": record.get("body", ""),
        "Attributes": dict(record.get("attributes") or {}), "MessageAttributes": attributes,
    }


def sqs_message_from_sns_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda SNS event record as the SQS message a queue subscribed without raw delivery would hold."""
    # The `Sns` object is SNS's notification (two URL keys spelled otherwise, read by nothing): signing applies
    notification = record.get("Sns") or {}
    attributes = {"ApproximateReceiveCount": "1"}
    timestamp = notification.get("Timestamp")
    if isinstance(timestamp, str) and timestamp:
        # SNS's ISO 8601 time as the milliseconds SQS's `SentTimestamp` counts
        with suppress(ValueError):
            sent = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
            attributes["SentTimestamp"] = str(int(sent * 1000))
    # Nothing to settle (no receipt handle): Lambda's invocation is the delivery
    return {
        "MessageId": str(notification.get("MessageId", "")), "ReceiptHandle": "", "Body": json.dumps(notification),
        "Attributes": attributes, "MessageAttributes": {},
    }
