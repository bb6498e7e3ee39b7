"""`pubsub local`: the local SNS/SQS endpoint in the foreground, provisioned from a stack file."""
from __future__ import annotations

import argparse
import re
import socket
import sys
from typing import Any

from microcosm_pubsub.cli.common import CommandError, stop_on_signals
from microcosm_pubsub.cli.provisioner import Provisioner, Resources
from microcosm_pubsub.cli.stack import load_stack
from microcosm_pubsub.errors import LocalEndpointError
from microcosm_pubsub.local import HOST, LocalEndpoint


READY = "# ready: Ctrl-C stops the endpoint"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "local",
        help="run a local SNS/SQS endpoint (moto) on 127.0.0.1 until Ctrl-C",
        description=(
            "Run moto's SNS/SQS server on 127.0.0.1 in the foreground, provision the stack file if one is "
            "given, and print the environment a service needs (KEY=value lines: the endpoint, dummy "
            "credentials, PUBSUB_TOPIC_ARN_<TOPIC> and PUBSUB_QUEUE_URL_<QUEUE>), then '" + READY + "'. "
            "Ctrl-C (or SIGTERM) stops it and exits 0. Everything lives in memory and is gone after."
        ),
        epilog="example:\n  pubsub local --port 4566 --stack stack.json > .env",
    )
    parser.add_argument("--port", type=port, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--stack", metavar="FILE", help="stack file to provision (see `pubsub provision --help`)")
    parser.set_defaults(run=run)


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return value


def check_port_free(number: int) -> None:
    """Fail in one line now: werkzeug would print its own advice and exit the process."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, number))
        except OSError as error:
            raise CommandError(f"cannot listen on {HOST}:{number}: {error.strerror or error}") from error


def env_name(prefix: str, name: str) -> str:
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}"


def environment(endpoint: LocalEndpoint, resources: Resources) -> list[str]:
    lines = [f"{key}={value}" for key, value in endpoint.environ().items()]
    lines += [f"{env_name('PUBSUB_TOPIC_ARN', name)}={arn}" for name, arn in resources.topic_arns.items()]
    lines += [f"{env_name('PUBSUB_QUEUE_URL', name)}={url}" for name, url in resources.queue_urls.items()]
    return lines


def run(args: argparse.Namespace) -> int:
    # Read the stack before starting anything, so a bad file fails fast with exit 2
    stack = load_stack(args.stack) if args.stack else None
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
                sns, sqs = endpoint.client("sns"), endpoint.client("sqs")
                try:
                    resources = Provisioner(sns, sqs).run(stack)
                finally:
                    sns.close()
                    sqs.close()
            print("\n".join([*environment(endpoint, resources), READY]), flush=True)
            print(f"local SNS/SQS endpoint at {endpoint.url}", file=sys.stderr, flush=True)
            stop.wait()
        finally:
            endpoint.stop()
    print("local endpoint stopped", file=sys.stderr)
    return 0
