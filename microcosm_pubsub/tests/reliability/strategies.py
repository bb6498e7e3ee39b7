"""Hypothesis strategies for SQS messages as boto3 returns them: bodies and attributes, sane and otherwise."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from microcosm_pubsub.middleware.signing import KEY_ID_ATTRIBUTE, SIGNATURE_ATTRIBUTE, sign


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=8,
    )


def objects(media_types: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects shaped like messages: a media type (often a known one) and fields of any kind."""
    return st.fixed_dictionaries(
        {},
        optional={
            "mediaType": st.sampled_from(media_types) | json_values(),
            "name": st.text(max_size=20) | json_values(),
            "count": st.integers() | json_values(),
            "opaqueData": st.dictionaries(st.text(max_size=12), json_values(), max_size=3) | json_values(),
        },
    )


def well_formed(media_types: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects a producer could have sent: a known media type and a text name, maybe more."""
    return st.fixed_dictionaries(
        {"mediaType": st.sampled_from(media_types), "name": st.text(max_size=20)},
        optional={"opaqueData": st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=3)},
    )


ATTRIBUTE_NAMES = ["media_type", KEY_ID_ATTRIBUTE, SIGNATURE_ATTRIBUTE]


def sqs_attributes(media_types: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """SQS MessageAttributes: String, Number and Binary values, odd characters, and shapes SQS never sends."""
    value = st.one_of(
        st.fixed_dictionaries({
            "DataType": st.sampled_from(["String", "Number", "String.custom"]),
            "StringValue": st.sampled_from(media_types) | st.text(),
        }),
        st.fixed_dictionaries({"DataType": st.just("Binary"), "BinaryValue": st.binary(max_size=16)}),
        json_values(),
    )
    return st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES) | st.text(max_size=12), value, max_size=4)


def sns_attributes(media_types: list[str]) -> st.SearchStrategy[Any]:
    value = st.one_of(
        st.fixed_dictionaries({
            "Type": st.sampled_from(["String", "Number", "Binary"]),
            "Value": st.sampled_from(media_types) | st.text(),
        }),
        json_values(),
    )
    return st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES) | st.text(max_size=12), value, max_size=4) | json_values()


def bodies(media_types: list[str]) -> st.SearchStrategy[str]:
    """Raw bodies: text, any JSON, message-like objects, and SNS envelopes around any of those."""
    inner = st.one_of(
        st.text(), json_values().map(json.dumps), objects(media_types).map(json.dumps),
        well_formed(media_types).map(json.dumps),
    )
    envelope = st.fixed_dictionaries(
        {"Type": st.just("Notification"), "Message": inner},
        optional={
            "TopicArn": st.text(max_size=20) | json_values(),
            "MessageId": st.text(max_size=20) | json_values(),
            "MessageAttributes": sns_attributes(media_types),
        },
    ).map(json.dumps)
    return st.one_of(inner, envelope)


def raw_messages(media_types: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A message from ReceiveMessage; the system attributes stay as SQS writes them (digit strings)."""
    return st.fixed_dictionaries({
        "MessageId": st.text(max_size=40),
        "ReceiptHandle": st.text(max_size=40),
        "Body": bodies(media_types),
        "Attributes": st.fixed_dictionaries(
            {"ApproximateReceiveCount": st.integers(1, 1000).map(str)},
            optional={"SentTimestamp": st.integers(0, 2**42).map(str)},
        ),
        "MessageAttributes": sqs_attributes(media_types),
    })


def signed_messages(media_types: list[str], key_id: str, secret: str) -> st.SearchStrategy[dict[str, Any]]:
    """Raw-delivery messages signed as the producer signs them: the success path of verification."""

    def build(document: dict[str, Any], receive_count: int) -> dict[str, Any]:
        body = json.dumps(document)
        media_type = document["mediaType"]
        return {
            "MessageId": "signed", "ReceiptHandle": "signed", "Body": body,
            "Attributes": {"ApproximateReceiveCount": str(receive_count)},
            "MessageAttributes": {
                "media_type": {"DataType": "String", "StringValue": media_type},
                KEY_ID_ATTRIBUTE: {"DataType": "String", "StringValue": key_id},
                SIGNATURE_ATTRIBUTE: {"DataType": "String", "StringValue": sign(secret.encode(), media_type, body)},
            },
        }

    return st.builds(build, well_formed(media_types), st.integers(1, 3))
