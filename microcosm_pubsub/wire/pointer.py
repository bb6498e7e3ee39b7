"""The claim-check pointer on the wire (AWS's extended clients): which S3 object holds a large payload."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
POINTER_CLASSES = frozenset({POINTER_CLASS, LEGACY_POINTER_CLASS})
SIZE_ATTRIBUTES = (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE)
# SQS delivers at most ten message attributes; the size attribute takes one of them
MAX_OWN_ATTRIBUTES = 9

@dataclass(frozen=True)
class S3Object:
    """Where an offloaded payload lives."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def pointer(self) -> str:
        """The message body that stands for the payload (the AWS clients' JSON, spacing included)."""
        return json.dumps([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}])


def parse_pointer(text: str) -> S3Object | None:
    """The object a pointer body names, or None when `text` is not a pointer."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return pointer_in(value)


def pointer_in(value: Any) -> S3Object | None:
    """The object a parsed pointer body names, or None when `value` is not a pointer."""
    if not (isinstance(value, list) and len(value) == 2 and value[0] in POINTER_CLASSES):
        return None
    details = value[1] if isinstance(value[1], dict) else {}
    bucket, key = details.get("s3BucketName"), details.get("s3Key")
    if not (isinstance(bucket, str) and bucket and isinstance(key, str) and key):
        return None
    return S3Object(bucket, key)
