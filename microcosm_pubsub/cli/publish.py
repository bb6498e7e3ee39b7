"""`pubsub publish`: publish one message in the wire format, validated against its schema when one is given."""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from marshmallow import Schema, ValidationError

from microcosm_pubsub.cli.common import (
    CommandError,
    UsageError,
    add_aws_options,
    argument_type,
    aws_client,
    aws_errors,
    matching,
    parse_json,
    read_text,
)
from microcosm_pubsub.cli.schemas import load_registry, unknown_media_type
from microcosm_pubsub.schemas.codecs import PUBLISHED_KEY, decode, encode, normalize_opaque_data
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry
from microcosm_pubsub.schemas.versioning import FIRST, Version, parse_version, version_of
from microcosm_pubsub.wire.errors import SchemaNotFoundError
from microcosm_pubsub.wire.limits import SNS_MAX_MESSAGE_BYTES
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE, Attributes, OutgoingMessage, media_type_attributes


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


HELP = "publish one message to a topic and print its message id"
DESCRIPTION = (
    "Publish DATA (a JSON object of the message's fields) to TOPIC with MT as its media type, exactly as sns_producer "
    "would: mediaType and opaqueData are added and the media_type message attribute is set. With --schemas, DATA is "
    "validated against the schema registered for MT first, and nothing is sent if it does not fit; its fields may then "
    "be named as on the wire (orderId) or as in Python (order_id). Without --schemas, DATA goes out as given. "
    "--media-type-version N publishes major version N (docs/versioning.md): validated against that major's schema, "
    "and sent with the media_type_version attribute, as produce(..., media_type_version=N) does."
)
EPILOG = (
    "examples:\n  pubsub publish orders --media-type application/vnd.acme.pubsub._.created.order \\\n"
    "    --schemas orders --data '{\"order_id\": \"42\", \"quantity\": 2}'\n"
    "  pubsub publish orders --media-type application/vnd.acme.pubsub._.created.order --media-type-version 2 \\\n"
    "    --schemas orders --data '{\"order_id\": \"42\", \"amount\": 250, \"unit\": \"g\"}'"
)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", nargs="?", metavar="TOPIC", type=topic_name_or_arn,
                        help="the topic, by name or ARN (a name is looked up on the endpoint, so it must exist)")
    parser.add_argument("--topic-arn", metavar="ARN", type=topic_arn,
                        help="the topic's ARN, arn:aws:sns:<region>:<account>:<name> (instead of TOPIC)")
    parser.add_argument("--media-type", required=True, metavar="MT")
    parser.add_argument("--data", required=True, metavar="JSON",
                        help="a JSON object; @FILE reads it from FILE and - from standard input")
    parser.add_argument("--schemas", metavar="MODULE", help="validate against the schemas this module declares")
    parser.add_argument("--media-type-version", metavar="N", type=version_argument,
                        help="the major version to publish, 2 or \"2.1\" (default: 1, or with --schemas the highest "
                        "major of a media type that has no version-1 schema)")
    add_aws_options(parser)


def _version(text: str) -> Version | None:
    # A major alone ("2") is that major's first version
    return parse_version(f"{text}.0" if text.isdigit() else text) if text.isascii() else None


version_argument = argument_type(
    _version, lambda version: version is not None,
    lambda text: f"not a major version (2) or a \"major.minor\" version (2.1): {text!r}",
)


# arn:<partition>:sns:<region>:<account>:<name>; a name is letters, digits, '-' and '_' (FIFO: '.fifo')
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
topic_arn = matching(TOPIC_ARN, lambda text: "not an SNS topic ARN: expected arn:aws:sns:<region>:<account>:<name>, "
                     f"got {text!r}")
# A topic's name, as `pubsub provision` and `pubsub local` name topics
TOPIC = re.compile(rf"[A-Za-z0-9_-]{{1,256}}(\.fifo)?|{TOPIC_ARN.pattern}")
topic_name_or_arn = matching(TOPIC, lambda text: f"not a topic name or SNS topic ARN: {text!r}")


def find_topic(sns: SNSClient, topic: str) -> str:
    """The ARN of a topic named by name or ARN; a name is looked up on the endpoint (else `CommandError`)."""
    if TOPIC_ARN.fullmatch(topic):
        return topic
    with aws_errors(f"looking up topic {topic!r}"):
        for page in sns.get_paginator("list_topics").paginate():
            for listed in page["Topics"]:
                arn = listed["TopicArn"]
                if arn.rsplit(":", 1)[-1] == topic:
                    return arn
    raise CommandError(f"topic {topic!r} does not exist")


def read_data(text: str) -> dict[str, Any]:
    source = "--data"
    if text == "-":
        source = "standard input"
        try:
            text = sys.stdin.read()
        except OSError as error:
            raise UsageError(f"cannot read {source}: {error.strerror or error}") from error
    elif text.startswith("@"):
        source = text[1:]
        text = read_text(source, source)
    data = parse_json(text, source)
    if not isinstance(data, dict):
        raise UsageError(f"{source} must be a JSON object of the message's fields, not {type(data).__name__}")
    return data


def message_body(
    media_type: str, data: dict[str, Any], schemas: str | None, version: Version | None = None,
) -> tuple[str, Version]:
    """The JSON to publish and its version: through the schema when there is one, else the data as given plus
    the envelope keys, at `version` (None: 1.0)."""
    given = data.get("mediaType", media_type)
    if given != media_type:
        raise UsageError(f"--data says mediaType {given!r} but --media-type is {media_type!r}")
    if schemas is None:
        opaque = normalize_opaque_data(data.get("opaqueData") if isinstance(data.get("opaqueData"), dict) else None)
        opaque[PUBLISHED_KEY] = str(time.time())
        body = json.dumps({**data, "mediaType": media_type, "opaqueData": opaque}, separators=(",", ":"))
        return body, version or FIRST
    schema = schema_of(load_registry(schemas), media_type, schemas, version)
    try:
        # Load the wire form the operator typed, then encode it as the producer would
        content = decode(schema, {**wire_names(schema, data), "mediaType": media_type})
        content.pop("media_type", None)
        opaque_data = content.pop("opaque_data", None)
        # The schema's version, as the producer sends it: "2.1" when 2 was asked for and the major-2 schema is 2.1
        return encode(schema, media_type, content, opaque_data), version_of(type(schema))
    except ValidationError as error:
        why = json.dumps(error.messages, default=str)
        raise UsageError(f"--data does not fit {type(schema).__name__}: {why}") from None


def schema_of(registry: PubSubMessageSchemaRegistry, media_type: str, module: str, version: Version | None) -> Schema:
    """The schema `produce` would validate with at `version` (see `SNSProducer.codec`); `UsageError` when none."""
    majors = registry.known_majors(media_type)
    if not majors:
        raise unknown_media_type(media_type, module, registry)
    try:
        if version is None:
            # Version 1, else the highest major of a media type declared only in later ones
            return registry.find_version(media_type, 1 if 1 in majors else majors[-1]).schema
        return registry.find_version(media_type, version.major).schema
    except SchemaNotFoundError as error:
        raise UsageError(f"{module}: {error}") from None


def version_attributes(media_type: str, version: Version) -> Attributes:
    """The message attributes: the media type, and the version above 1.0 (as the producer sets them)."""
    attributes = media_type_attributes(media_type)
    if version != FIRST:
        attributes[VERSION_ATTRIBUTE] = {"DataType": "String", "StringValue": str(version)}
    return attributes


def wire_names(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each field named as in Python (`order_id`) renamed to its name on the wire (`orderId`); a field
    given under both names is a `UsageError`."""
    wire_of = {field.attribute or name: field.data_key or name for name, field in schema.fields.items()}
    wire_keys = set(wire_of.values())
    renamed: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in data.items():
        wire = key if key in wire_keys else wire_of.get(key, key)
        if wire in renamed:
            raise UsageError(f"--data gives {wire!r} twice: as {given_as[wire]!r} and as {key!r}")
        renamed[wire] = value
        given_as[wire] = key
    return renamed


def run(args: argparse.Namespace) -> int:
    if (args.topic is None) == (args.topic_arn is None):
        raise UsageError("name the topic once: TOPIC (a name or ARN) or --topic-arn ARN")
    body, version = message_body(args.media_type, read_data(args.data), args.schemas, args.media_type_version)
    sns = aws_client(args, "sns")
    topic = args.topic_arn or find_topic(sns, args.topic)
    message = OutgoingMessage(topic_arn=topic, media_type=args.media_type, body=body,
                              attributes=version_attributes(args.media_type, version))
    if message.size > SNS_MAX_MESSAGE_BYTES:
        raise UsageError(f"the message is {message.size} bytes, over SNS's limit of {SNS_MAX_MESSAGE_BYTES}")
    with aws_errors(f"publishing to {topic}", missing=f"publishing to {topic}: topic does not exist"):
        response = sns.publish(TopicArn=message.topic_arn, Message=message.body, MessageAttributes=message.attributes)
    print(response["MessageId"])
    return 0
