"""The daemon's command line: its flags, their checks, and the configuration they set."""
from __future__ import annotations

import logging
import os
from argparse import ArgumentParser, Namespace
from typing import Any

from microcosm_pubsub.consume.logs import FORMATS
from microcosm_pubsub.consume.readers import STDIN


# The daemon's lines keep one logger name, whichever of its modules writes them
logger = logging.getLogger("microcosm_pubsub.daemon")

HEALTH = "pubsub_health"
# The old daemon's heartbeat threshold, read when the flag is not given
HEARTBEAT_VARIABLE = "MICROCOSM_HEARTBEAT_THRESHOLD_SECONDS"
# The old daemon's health endpoint address: reachable by a probe from outside the container
OLD_HEALTHCHECK_HOST = "0.0.0.0"  # noqa: S104 (the old flags' documented default; probes come from the kubelet)
# Where the old daemon served its health check when only a heartbeat threshold was set
OLD_HEALTHCHECK_PORT = 80
# The stop-condition flags, and the pubsub_runner keys they set
RUNNER_FLAGS = {"stop_when_idle": "stop_when_idle_seconds", "max_messages": "max_messages"}


def arg_parser(name: str) -> ArgumentParser:
    """The daemon's flags: the old daemon's, and the runner's stop conditions."""
    parser = ArgumentParser(prog=name, description=f"Consume SQS messages for {name}")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--sqs-queue-url", help="the queue to consume, or a file of messages (else sqs_consumer.sqs_queue_url)",
    )
    source.add_argument("--stdin", action="store_true", help="read messages from standard input, one per line")
    parser.add_argument("--envelope", help="the envelope strategy by name (sqs_envelope.strategy_name)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--debug", action="store_true", help="log at DEBUG")
    mode.add_argument("--testing", action="store_true", help="build a testing graph")
    parser.add_argument("--concurrency", type=int, help="handler threads per process (default 1)")
    parser.add_argument("--processes", type=int, default=1, help="consumer processes on the queue (default 1)")
    parser.add_argument("--log-format", choices=FORMATS, help="log lines as text or JSON (else logging.format)")
    parser.add_argument(
        "--healthcheck-host", help=f"the health endpoint's address (default {OLD_HEALTHCHECK_HOST} with the flags)",
    )
    parser.add_argument("--healthcheck-port", type=int, help="serve the health endpoint on this port")
    parser.add_argument(
        "--heartbeat-threshold-seconds", type=float, default=heartbeat_threshold_from_environ(),
        help=f"unhealthy after this long without a receive or a settle (env {HEARTBEAT_VARIABLE}; -1: default)",
    )
    parser.add_argument(
        "--stop-when-idle", type=float, metavar="SECONDS",
        help="drain and exit 0 after SECONDS with nothing received (pubsub_runner.stop_when_idle_seconds)",
    )
    parser.add_argument(
        "--max-messages", type=int, metavar="N",
        help="receive at most N messages (per process), handle them and exit 0 (pubsub_runner.max_messages)",
    )
    return parser


def check_args(parser: ArgumentParser, args: Namespace) -> Namespace:
    """`args` once their values agree with each other; else `parser.error`, which exits."""
    if args.concurrency is not None and args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.processes > 1 and (args.stdin or is_file_source(args.sqs_queue_url)):
        parser.error("--processes reads one queue from several processes; a file or stdin is read by one process")
    if args.healthcheck_port is not None and not 0 <= args.healthcheck_port <= 65535:
        parser.error("--healthcheck-port must be between 0 and 65535")
    if args.stop_when_idle is not None and not args.stop_when_idle > 0:
        parser.error("--stop-when-idle must be more than 0 seconds")
    if args.max_messages is not None and args.max_messages < 1:
        parser.error("--max-messages must be at least 1")
    return args


def command_line_config(args: Namespace, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """The configuration the command line (and a Lambda record, `event`) sets, above every other source.

    Attributes are read with defaults: old services' tests build `args` by hand with a few of them.
    """
    sqs_consumer: dict[str, Any] = {}
    sqs_envelope: dict[str, Any] = {}
    if getattr(args, "stdin", False):
        sqs_consumer["sqs_queue_url"] = STDIN
        # Lines typed or piped in are bare message bodies, not SNS notifications
        sqs_envelope["strategy_name"] = "NaiveSQSEnvelope"
    elif getattr(args, "sqs_queue_url", None):
        sqs_consumer["sqs_queue_url"] = args.sqs_queue_url
    event = getattr(args, "event", None) or event
    if event:
        sqs_consumer["sqs_event"] = dict(event)
        sqs_envelope["strategy_name"] = "LambdaSQSEnvelope"
    if getattr(args, "envelope", None):
        sqs_envelope["strategy_name"] = args.envelope
    runner: dict[str, Any] = {key: getattr(args, flag) for flag, key in RUNNER_FLAGS.items()
                              if getattr(args, flag, None) is not None}
    if getattr(args, "concurrency", None):
        runner["concurrency"] = args.concurrency
    sections = {"sqs_consumer": sqs_consumer, "sqs_envelope": sqs_envelope, HEALTH: health_config(args),
                "pubsub_runner": runner}
    return {name: section for name, section in sections.items() if section}


def heartbeat_threshold_from_environ() -> float:
    """The old environment variable's threshold in seconds; -1 (off) when unset or unreadable."""
    value = os.environ.get(HEARTBEAT_VARIABLE, "").strip()
    try:
        return float(value) if value else -1.0
    except ValueError:
        logger.warning("%s=%r is not a number of seconds; ignored", HEARTBEAT_VARIABLE, value)
        return -1.0


def health_config(args: Namespace) -> dict[str, Any]:
    """`pubsub_health` settings from the old flags (or the heartbeat variable): port, host and the stall limit.

    Empty when they ask for no health endpoint; a child of --processes always has one, which the parent serves.
    """
    threshold = getattr(args, "heartbeat_threshold_seconds", None)
    stall = {"stall_seconds": float(threshold)} if threshold is not None and threshold > 0 else {}
    if getattr(args, "process_index", None) is not None:
        # Children never bind the port, whatever the environment says: the parent answers for all
        return {"port": None, **stall}
    port = getattr(args, "healthcheck_port", None)
    if port is None and not stall:
        return {}
    return {
        # A threshold alone served on port 80 in the old daemon; deployments' probes expect it there
        "port": OLD_HEALTHCHECK_PORT if port is None else port,
        "host": getattr(args, "healthcheck_host", None) or OLD_HEALTHCHECK_HOST,
        **stall,
    }


def is_file_source(url: str | None) -> bool:
    """A queue URL that names a local file of messages (or standard input) rather than a queue."""
    if url == STDIN:
        return True
    path = (url or "").removeprefix("file://")
    return bool(path) and "://" not in path and os.path.exists(path)
