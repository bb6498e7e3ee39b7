"""`pubsub asyncapi`: an AsyncAPI 3.0 document of a service's messages and its stack's topics and queues."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from microcosm_pubsub.cli import stack as stack_module
from microcosm_pubsub.cli.common import UsageError
from microcosm_pubsub.cli.jsonschema import json_schema
from microcosm_pubsub.cli.schemas import load_registry
from microcosm_pubsub.contracts.asyncapi import ContractError, Message, Service, asyncapi_document
from microcosm_pubsub.schemas.versions import schema_versions


HELP = "export an AsyncAPI 3.0 document of the messages and the stack's topics and queues"
DESCRIPTION = (
    "Import MODULE (and so its @schema and @handles declarations) and read the stack file, and write one AsyncAPI "
    "3.0.0 document (JSON): a message per registered media type and version, with the JSON Schema of its body; a "
    "channel per topic (SNS binding) and per queue (SQS binding: FIFO, visibility timeout, dead-letter queue and "
    "redrive policy); the service sends to the topics it publishes (each with its subscriptions: delivery and "
    "filter policy) and to the queues producers send straight to, and receives from the queues it consumes."
)
EPILOG = """\
examples:
  pubsub asyncapi --schemas orders.schemas --stack stack.json --output asyncapi.json
  pubsub asyncapi --schemas orders.schemas --stack stack.json --publishes orders --consumes billing
  pubsub asyncapi --schemas orders.schemas --stack stack.json \\
      --publishes 'orders=application/vnd.acme.pubsub._.created.order,application/vnd.acme.pubsub._.changed.*'"""


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schemas", required=True, metavar="MODULE",
                        help="dotted module that declares the schemas (the current directory is importable)")
    parser.add_argument("--stack", required=True, metavar="FILE",
                        help="the stack file, as `pubsub provision` reads it (see its --help)")
    parser.add_argument("--output", metavar="FILE", help="write the document to FILE (default: standard output)")
    parser.add_argument("--title", help="the document's title (default: MODULE)")
    parser.add_argument("--api-version", default="unversioned", metavar="VERSION",
                        help="the document's info.version, the version of this contract (default: %(default)s)")
    parser.add_argument("--description", help="the document's info.description")
    parser.add_argument("--publishes", action="append", metavar="TOPIC[=MT,...]",
                        help="a topic the service publishes to, and the media types it sends there (an entry ending "
                        "in .* matches by prefix; default: every message); repeat for more topics (default: every "
                        "topic of the stack, every message)")
    parser.add_argument("--consumes", action="append", metavar="QUEUE",
                        help="a queue the service receives from (repeat for more; default: every queue of the stack)")


def run(args: argparse.Namespace) -> int:
    stack = stack_module.load_stack(args.stack)
    # Before the module is imported: a misspelt name is found without running the user's code
    publishes = published(args.publishes)
    unknown = [f"--publishes {name}: the stack declares no topic {name!r}"
               for name in publishes or () if name not in stack.topics]
    queues = [queue.name for queue in stack.queues]
    unknown += [f"--consumes {name}: the stack declares no queue {name!r}"
                for name in args.consumes or () if name not in queues]
    if unknown:
        raise UsageError("\n".join(f"{args.stack}: {problem}" for problem in unknown))
    registry = load_registry(args.schemas)
    versions = schema_versions(registry)
    if not versions:
        raise UsageError(f"{args.schemas} registers no schemas (decorate them with @schema or @handles)")
    messages = [
        Message(item.media_type, item.version, json_schema(item.schema(), item.media_type),
                f"{item.schema.__module__}.{item.schema.__qualname__}")
        for item in versions
    ]
    service = Service(
        title=args.title or args.schemas, version=args.api_version, description=args.description,
        publishes=publishes,
        consumes=tuple(args.consumes) if args.consumes else None,
    )
    try:
        document = asyncapi_document(service, messages, stack)
    except ContractError as error:
        raise UsageError(f"{args.stack}: {error}") from error
    # Nothing the stack routes is dropped: a media type it names without a schema is a message without payload
    for message in document["components"]["messages"].values():
        if "payload" not in message:
            print(f"pubsub asyncapi: warning: the stack names media type {message['name']} but {args.schemas} "
                  "registers no schema for it: its message has no payload", file=sys.stderr)
    text = json.dumps(document, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from error
    counts = {key: len(document[key]) for key in ("channels", "operations")}
    print(f"wrote {args.output}: {len(document['components']['messages'])} messages, "
          f"{counts['channels']} channels, {counts['operations']} operations")
    return 0


def published(values: list[str] | None) -> dict[str, tuple[str, ...]] | None:
    """`--publishes` as topic -> media types (empty: every message); a topic given twice gets both lists."""
    if not values:
        return None
    topics: dict[str, tuple[str, ...]] = {}
    for value in values:
        topic, _, listed = value.partition("=")
        media_types = tuple(item.strip() for item in listed.split(",") if item.strip())
        if "=" in value and not media_types:
            raise UsageError(f"--publishes {value}: list media types after '=' (or leave '=' out for every message)")
        # A topic given once without media types publishes every message, whatever else is said of it
        every = (topic in topics and not topics[topic]) or not media_types
        topics[topic] = () if every else tuple(dict.fromkeys([*topics.get(topic, ()), *media_types]))
    return topics
