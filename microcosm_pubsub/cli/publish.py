"""`pubsub publish`: publish one message in the wire format, validated against its schema when one is given."""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

from botocore.exceptions import ClientError
from marshmallow import ValidationError

from microcosm_pubsub.cli.common import (
    Clients,
    CommandError,
    UsageError,
    add_aws_options,
    aws_errors,
    matching,
    parse_json,
    read_text,
)
from microcosm_pubsub.cli.schemas import load_registry, unknown_media_type
from microcosm_pubsub.codecs import PUBLISHED_KEY, decode, encode, normalize_opaque_data
from microcosm_pubsub.errors import SchemaNotFoundError
from microcosm_pubsub.limits import SNS_MAX_MESSAGE_BYTES
from microcosm_pubsub.outgoing import OutgoingMessage


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "publish",
        help="publish one message to a topic and print its message id",
        description=(
            "Publish DATA (a JSON object of the message's fields, as they appear on the wire) with MT as "
            "its media type, exactly as sns_producer would: mediaType and opaqueData are added and the "
            "media_type message attribute is set. With --schemas, DATA is validated against the schema "
            "registered for MT first, and nothing is sent if it does not fit."
        ),
        epilog=(
            "example:\n  pubsub publish --topic-arn arn:aws:sns:us-east-1:123456789012:orders \\\n"
            "    --media-type application/vnd.acme.pubsub._.created.order --data '{\"orderId\": \"42\"}'"
        ),
    )
    parser.add_argument("--topic-arn", required=True, metavar="ARN", type=topic_arn,
                        help="the topic's ARN: arn:aws:sns:<region>:<account>:<name>")
    parser.add_argument("--media-type", required=True, metavar="MT")
    parser.add_argument("--data", required=True, metavar="JSON",
                        help="a JSON object; @FILE reads it from FILE and - from standard input")
    parser.add_argument("--schemas", metavar="MODULE", help="validate against the schemas this module declares")
    add_aws_options(parser)
    parser.set_defaults(run=run)


# arn:<partition>:sns:<region>:<account>:<name>; a name is letters, digits, '-' and '_' (FIFO: '.fifo')
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


topic_arn = matching(
    TOPIC_ARN, lambda text: f"not an SNS topic ARN: expected arn:aws:sns:<region>:<account>:<name>, got {text!r}",
)


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


def message_body(media_type: str, data: dict[str, Any], schemas: str | None) -> str:
    """The JSON to publish: through the schema when there is one, else the data as given plus the envelope keys."""
    given = data.get("mediaType", media_type)
    if given != media_type:
        raise UsageError(f"--data says mediaType {given!r} but --media-type is {media_type!r}")
    if schemas is None:
        opaque = normalize_opaque_data(data.get("opaqueData") if isinstance(data.get("opaqueData"), dict) else None)
        opaque[PUBLISHED_KEY] = str(time.time())
        return json.dumps({**data, "mediaType": media_type, "opaqueData": opaque}, separators=(",", ":"))
    registry = load_registry(schemas)
    try:
        schema = registry.find(media_type).schema
    except SchemaNotFoundError:
        raise unknown_media_type(media_type, schemas, registry) from None
    try:
        # Load the wire form the operator typed, then encode it as the producer would
        content = decode(schema, {**data, "mediaType": media_type})
        content.pop("media_type", None)
        opaque_data = content.pop("opaque_data", None)
        return encode(schema, media_type, content, opaque_data)
    except ValidationError as error:
        raise UsageError(
            f"--data does not fit {type(schema).__name__}: {json.dumps(error.messages, default=str)}"
        ) from None


def run(args: argparse.Namespace) -> int:
    data = read_data(args.data)
    message = OutgoingMessage(
        topic_arn=args.topic_arn,
        media_type=args.media_type,
        body=message_body(args.media_type, data, args.schemas),
        attributes={"media_type": {"DataType": "String", "StringValue": args.media_type}},
    )
    if message.size > SNS_MAX_MESSAGE_BYTES:
        raise UsageError(f"the message is {message.size} bytes, over SNS's limit of {SNS_MAX_MESSAGE_BYTES}")
    sns = Clients(args).sns()
    with aws_errors(f"publishing to {args.topic_arn}"):
        try:
            response = sns.publish(
                TopicArn=message.topic_arn,
                Message=message.body,
                MessageAttributes=message.attributes,  # type: ignore[arg-type]
            )
        except ClientError as error:
            # SNS answers a missing topic with NotFound "Topic does not exist" (moto: "Endpoint does not exist")
            if error.response.get("Error", {}).get("Code") == "NotFound":
                raise CommandError(f"publishing to {args.topic_arn}: topic does not exist") from error
            raise
    print(response["MessageId"])
    return 0
