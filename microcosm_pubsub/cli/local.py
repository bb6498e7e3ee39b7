"""`pubsub local`: the local SNS/SQS endpoint in the foreground, provisioned from a stack file."""
from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS, HOST, LocalEndpoint
from microcosm_pubsub.aws.provisioning import (
    IDEMPOTENCY_TABLE,
    Provisioner,
    QueueSpec,
    Resources,
    StackSpec,
    create_idempotency_table,
)
from microcosm_pubsub.cli.common import CommandError, UsageError, argument_type, aws_errors, matching, stop_on_signals
from microcosm_pubsub.cli.stack import load_stack
from microcosm_pubsub.wire.errors import ConfigurationError, LocalEndpointError


READY = "# ready: Ctrl-C stops the endpoint"
# The long poll printed for development: a daemon stops within about one poll (it waits for the poll
# rather than abandon it to SQS), so a short one keeps restarts quick; moto's empty receives cost nothing
DEVELOPMENT_WAIT_SECONDS = 1


HELP = "run a local SNS/SQS endpoint (moto) on 127.0.0.1 until Ctrl-C"
DESCRIPTION = (
    "Run moto's SNS/SQS server on 127.0.0.1 in the foreground, provision the stack file if one is given, and print the "
    "environment variables a service reads, as KEY=value lines, then '"
    + READY + "'. Ctrl-C (or SIGTERM) stops it and exits 0. Everything lives in memory and is gone after.\n\n"
    "The variables are boto3's (AWS_ENDPOINT_URL, dummy credentials, region) and the service's own configuration, read "
    "by its graph as <SERVICE>__<BINDING>__<KEY>: <SERVICE>__SNS_PRODUCER__ENDPOINT_URL, "
    "<SERVICE>__SQS_CONSUMER__ENDPOINT_URL, <SERVICE>__SNS_TOPIC_ARNS__DEFAULT (the topic it publishes to), "
    "<SERVICE>__SQS_CONSUMER__SQS_QUEUE_URL (its queue), "
    f"<SERVICE>__SQS_CONSUMER__WAIT_SECONDS={DEVELOPMENT_WAIT_SECONDS} (a short long poll, so that a stopped "
    "daemon exits within about a second) and <SERVICE>__SQS_MESSAGE_DISPATCHER__DEAD_LETTER_QUEUE_URL (the queue's "
    "dead-letter queue). SERVICE is the name the service's object graph is created with. By default each queue of the "
    "stack is a service of the same name; --service names the one service to print for, and --queue and --topic say "
    "which queue it consumes and which topic it publishes to when the stack has several. Every topic and queue is also "
    "listed in '#' comment lines."
)
EPILOG = (
    "example:\n  pubsub local --port 4566 --stack stack.json --service shop > .env\n"
    "  set -a; . ./.env; set +a"
)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=port, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--stack", metavar="FILE", help="stack file to provision (see `pubsub provision --help`)")
    parser.add_argument("--service", type=service_name, metavar="NAME",
                        help="the service (object graph name) to print the variables of (default: one per queue)")
    parser.add_argument("--queue", metavar="QUEUE",
                        help="the stack's queue the service consumes (default: the queue named as the service, "
                        "else the stack's only queue)")
    parser.add_argument("--topic", metavar="TOPIC",
                        help="the stack's topic the service publishes to (default: the stack's only topic, else "
                        "the topic named as the service, else the only one its queue subscribes to)")
    parser.add_argument("--idempotency-table", nargs="?", const=IDEMPOTENCY_TABLE, metavar="NAME",
                        help=f"also create the DynamoDB table of idempotency records on the endpoint (NAME default "
                        f"{IDEMPOTENCY_TABLE}) and print the variables that make it the services' store")
    parser.add_argument("--database-url", metavar="URL",
                        help="also create the SQL tables of idempotency records and the outbox in this database "
                        "(a SQLAlchemy URL, e.g. sqlite:///dev.db) and print the variables that use it")


port = argument_type(int, lambda value: 0 <= value <= 65535, lambda text: f"{text!r} is not a port number (0 to 65535)")


def check_port_free(number: int) -> None:
    """Fail in one line now: werkzeug would print its own advice and exit the process."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, number))
        except OSError as error:
            raise CommandError(f"cannot listen on {HOST}:{number}: {error.strerror or error}") from error


service_name = matching(
    re.compile(r"[A-Za-z][A-Za-z0-9_-]*"),
    lambda text: f"{text!r} is not a service name: letters, digits, '-' and '_', starting with a letter",
)


def prefix(service: str) -> str:
    """How microcosm's `load_from_environ` spells a graph's name in its variables."""
    return service.upper().replace("-", "_")


@dataclass(frozen=True)
class Service:
    """A service whose variables are printed: the queue it consumes and the topic it publishes to, if any."""

    name: str
    queue: QueueSpec | None
    topic: str | None
    why_no_topic: str = ""


def services(args: argparse.Namespace, stack: StackSpec | None) -> list[Service]:
    """The services to print the variables of, from the options (checked before anything starts).

    :raises UsageError: when --queue or --topic names nothing in the stack, or the choice is ambiguous
    """
    topics = stack.topics if stack else ()
    queues = {queue.name: queue for queue in stack.queues} if stack else {}
    for option, name, declared in (("--queue", args.queue, queues), ("--topic", args.topic, topics)):
        if name is not None and name not in declared:
            known = ", ".join(declared) or "none"
            raise UsageError(f"{option} {name!r} is not declared in the stack (it declares: {known})")
    if args.service is None:
        if args.queue or args.topic:
            raise UsageError("--queue and --topic choose for a service: name it with --service")
        return [service(name, queue, None, stack) for name, queue in queues.items()]
    queue_name = args.queue or (args.service if args.service in queues else None)
    if queue_name is None and len(queues) > 1:
        raise UsageError(
            f"the stack declares queues {', '.join(queues)}: pass --queue for the one {args.service} consumes"
        )
    queue = queues[queue_name] if queue_name else next(iter(queues.values()), None)
    return [service(args.service, queue, args.topic, stack)]


def service(name: str, queue: QueueSpec | None, topic: str | None, stack: StackSpec | None) -> Service:
    if topic is not None or stack is None:
        return Service(name, queue, topic)
    subscribed = {item.topic for item in stack.subscriptions if queue is not None and item.queue == queue.name}
    if len(stack.topics) == 1:
        return Service(name, queue, stack.topics[0])
    if name in stack.topics:
        return Service(name, queue, name)
    if len(subscribed) == 1:
        return Service(name, queue, subscribed.pop())
    if not stack.topics:
        return Service(name, queue, None, "the stack declares no topic")
    return Service(name, queue, None, f"several topics ({', '.join(stack.topics)}): pass --topic, or set "
                   f"{prefix(name)}__SNS_TOPIC_ARNS__MAPPINGS to a JSON object of media type to topic ARN")


def environment(
    endpoint: LocalEndpoint, resources: Resources, chosen: list[Service], stack: StackSpec | None = None,
) -> list[str]:
    lines = [f"{key}={value}" for key, value in endpoint.environ().items()]
    # Media types sent straight to a queue (queues[].mediaTypes): every service may produce them
    destinations = {media_type: resources.queue_arns[queue.name]
                    for queue in (stack.queues if stack else ()) for media_type in queue.media_types}
    for item in chosen:
        variable = prefix(item.name)
        lines += [
            f"# service {item.name}",
            f"{variable}__SNS_PRODUCER__ENDPOINT_URL={endpoint.url}",
            f"{variable}__SQS_CONSUMER__ENDPOINT_URL={endpoint.url}",
            f"{variable}__SQS_CONSUMER__WAIT_SECONDS={DEVELOPMENT_WAIT_SECONDS}",
        ]
        if item.topic is not None:
            lines.append(f"{variable}__SNS_TOPIC_ARNS__DEFAULT={resources.topic_arns[item.topic]}")
        elif item.why_no_topic:
            lines.append(f"# {item.name} has no default topic: {item.why_no_topic}")
        if destinations:
            lines.append(f"{variable}__SNS_TOPIC_ARNS__MAPPINGS={json.dumps(destinations, separators=(',', ':'))}")
        if item.queue is not None:
            lines.append(f"{variable}__SQS_CONSUMER__SQS_QUEUE_URL={resources.queue_urls[item.queue.name]}")
        if item.queue is not None and item.queue.dead_letter is not None:
            dead_letter = resources.queue_urls[item.queue.dead_letter.name]
            lines.append(f"{variable}__SQS_MESSAGE_DISPATCHER__DEAD_LETTER_QUEUE_URL={dead_letter}")
    lines += [f"# topic {name}: {arn}" for name, arn in resources.topic_arns.items()]
    lines += [f"# queue {name}: {url}" for name, url in resources.queue_urls.items()]
    return lines


def effects_environment(args: argparse.Namespace, endpoint: LocalEndpoint, chosen: list[Service]) -> list[str]:
    """Create the tables --idempotency-table and --database-url ask for; the variables each service reads for them."""
    settings: dict[str, str] = {}
    if name := args.idempotency_table:
        session: Any = boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name=endpoint.region_name,
        )
        with closing(session.client("dynamodb", endpoint_url=endpoint.url, config=Config(proxies={}))) as client:
            create_idempotency_table(client, name)
        settings.update({"PUBSUB_IDEMPOTENCY__STORE": "dynamodb", "PUBSUB_IDEMPOTENCY__TABLE_NAME": name,
                         "PUBSUB_IDEMPOTENCY__ENDPOINT_URL": endpoint.url})
    if args.database_url:
        from microcosm_pubsub.effects import outbox  # noqa: F401 - its table joins the package's metadata
        from microcosm_pubsub.effects.database import provision_tables

        try:
            provision_tables(args.database_url)
        except ConfigurationError as error:
            raise CommandError(str(error)) from error
        settings.setdefault("PUBSUB_IDEMPOTENCY__STORE", "sql")
        settings["PUBSUB_DATABASE__URL"] = args.database_url
    return [f"{prefix(item.name)}__{key}={value}" for item in chosen for key, value in settings.items()]


def run(args: argparse.Namespace) -> int:
    # Read the stack before starting anything, so a bad file fails fast with exit 2
    stack = load_stack(args.stack) if args.stack else None
    chosen = services(args, stack)
    if args.port:
        check_port_free(args.port)
    endpoint = LocalEndpoint(port=args.port)
    with stop_on_signals() as stop:
        try:
            endpoint.start()
        except LocalEndpointError as error:
            raise CommandError(str(error)) from error
        try:
            resources = Resources()
            if stack is not None:
                with closing(endpoint.client("sns")) as sns, closing(endpoint.client("sqs")) as sqs:
                    resources = Provisioner(sns, sqs, errors=aws_errors).run(stack)
            lines = [*environment(endpoint, resources, chosen, stack), *effects_environment(args, endpoint, chosen)]
            print("\n".join([*lines, READY]), flush=True)
            print(f"local SNS/SQS endpoint at {endpoint.url}", file=sys.stderr, flush=True)
            stop.wait()
        finally:
            endpoint.stop()
    print("local endpoint stopped", file=sys.stderr)
    return 0
