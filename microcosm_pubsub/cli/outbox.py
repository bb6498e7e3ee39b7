"""`pubsub outbox relay|stats`: publish a service's committed outbox rows, or show what waits in its outbox."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from microcosm_pubsub.cli.common import (
    CommandError,
    UsageError,
    add_aws_options,
    format_age,
    stop_on_signals,
    table,
)
from microcosm_pubsub.wire.errors import ConfigurationError


DATABASE_VARIABLE = "PUBSUB_DATABASE_URL"
HEADERS = ["DESTINATION", "PENDING", "FAILING", "OLDEST"]


HELP = "relay a service's transactional outbox to SNS/SQS, or show its pending rows"
DESCRIPTION = (
    "The transactional outbox holds messages a service produced inside a database transaction; once committed, a "
    "relay publishes them.\n\n"
    "- relay: publish committed rows in order per destination, ten per PublishBatch or SendMessageBatch call, mark "
    "them sent and prune sent rows older than --keep-sent-seconds; until Ctrl-C or SIGTERM, or with --once until "
    "nothing is pending. Several relays may run on PostgreSQL; on SQLite one publishes and the others stand by. "
    "Killed at any point, a row published but not yet marked is published again with the same pubsub_message_id, "
    "which idempotent consumers drop.\n"
    "- stats: one row per destination with pending messages (how many, how many failed at least once, the age of "
    "the oldest), the totals, and the sent rows not yet pruned.\n\n"
    "The database is --database-url, else $PUBSUB_DATABASE_URL, else the service's own configuration (--service "
    "NAME reads NAME__PUBSUB_DATABASE__URL and the rest of its settings from the environment, as its daemon does)."
)
EPILOG = (
    "examples:\n  pubsub outbox stats --database-url postgresql://app@db/orders\n"
    "  pubsub outbox relay --service orders"
)
RELAY, STATS = "relay", "stats"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=[RELAY, STATS], metavar="ACTION", help="relay or stats")
    parser.add_argument("--database-url", metavar="URL",
                        help=f"a SQLAlchemy URL (default: ${DATABASE_VARIABLE}, else the service's configuration)")
    parser.add_argument("--service", metavar="NAME", default="pubsub",
                        help="the service whose configuration the environment holds (default: pubsub)")
    relay = parser.add_argument_group("relay")
    relay.add_argument("--once", action="store_true", help="publish what is pending, prune, and exit")
    relay.add_argument("--poll-seconds", type=positive, metavar="S", help="how often an idle relay looks for rows")
    relay.add_argument("--keep-sent-seconds", type=non_negative, metavar="S",
                       help="how long sent rows are kept before they are pruned (0: deleted once published)")
    relay.add_argument("--large-payload-bucket", metavar="BUCKET",
                       help="the S3 bucket for bodies over SNS's limit (default: the service's sns_producer setting)")
    parser.add_argument_group("stats").add_argument("--json", action="store_true",
                                                    help="a JSON object instead of the table")
    add_aws_options(parser)


def positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def build_graph(args: argparse.Namespace) -> Any:
    """The service's graph (configuration from the environment), with what the command line says on top."""
    from microcosm.api import create_object_graph, load_each, load_from_dict, load_from_environ

    producer = {key: value for key, value in {
        "endpoint_url": args.endpoint_url, "region_name": args.region, "profile_name": args.profile,
        "large_payload_bucket": args.large_payload_bucket,
    }.items() if value}
    outbox = {key: value for key in ("poll_seconds", "keep_sent_seconds") if (value := getattr(args, key)) is not None}
    url = args.database_url or os.environ.get(DATABASE_VARIABLE)
    overrides: dict[str, Any] = {"sns_producer": producer, "pubsub_outbox": outbox}
    if url:
        overrides["pubsub_database"] = {"url": url}
    return create_object_graph(args.service, loader=load_each(load_from_environ, load_from_dict(overrides)))


def relay_of(args: argparse.Namespace) -> Any:
    """The service's outbox relay, its database checked (`CommandError` saying what to fix)."""
    from microcosm_pubsub.effects.relay import OutboxRelay

    try:
        graph = build_graph(args)
        relay: OutboxRelay = graph.pubsub_outbox
    except ImportError as error:
        # The `sql` extra is not installed: the error says what to install
        raise UsageError(str(error)) from None
    if not graph.pubsub_database.url:
        raise UsageError(
            f"no database: pass --database-url or set ${DATABASE_VARIABLE} (or "
            f"{args.service.upper()}__PUBSUB_DATABASE__URL for --service {args.service})"
        )
    try:
        relay.check()
    except ConfigurationError as error:
        # One line, whatever the driver's message spans
        raise CommandError(" ".join(str(error).split())) from None
    return relay


def run(args: argparse.Namespace) -> int:
    given = {"--json": args.json, "--once": args.once, "--poll-seconds": args.poll_seconds is not None,
             "--keep-sent-seconds": args.keep_sent_seconds is not None,
             "--large-payload-bucket": bool(args.large_payload_bucket)}
    misplaced = [option for option, used in given.items() if used and (option == "--json") != (args.action == STATS)]
    if misplaced:
        raise UsageError(f"{', '.join(misplaced)} is not an option of `pubsub outbox {args.action}`")
    relay = relay_of(args)
    if args.action == STATS:
        return print_stats(relay, args.json)
    from microcosm_pubsub.effects.outbox import database_error

    try:
        if args.once:
            done = relay.drain()
            pruned = relay.prune()
            left = relay.stats()
            relay.close()
            print(f"published {done.published}, failed {done.failed}, pruned {pruned}, {left.pending} pending"
                  + (" (another relay holds this SQLite database)" if done.standby else ""))
            return 1 if done.failed else 0
        if not logging.getLogger().handlers:
            # A long-running relay says what it does: started, each failure, stopped
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        with stop_on_signals() as stop:
            relay.run(stop)
    except relay.rows.errors as error:
        raise CommandError(f"the outbox database failed: {database_error(error)}") from None
    return 0


def print_stats(relay: Any, as_json: bool) -> int:
    from microcosm_pubsub.effects.outbox import database_error

    try:
        stats = relay.stats()
    except relay.rows.errors as error:
        raise CommandError(f"reading the outbox failed: {database_error(error)}") from None
    if as_json:
        print(json.dumps(stats.as_dict(), indent=2))
        return 0
    rows = [[item.destination, str(item.pending), str(item.failing), format_age(item.oldest_age_seconds)]
            for item in stats.destinations]
    rows.append(["total", str(stats.pending), str(stats.failing), format_age(stats.oldest_age_seconds)])
    print(table(HEADERS, rows))
    print(f"sent, not yet pruned: {stats.sent}")
    for item in stats.destinations:
        if item.error:
            print(f"{item.destination}: {item.failing} failing, e.g. {item.error}", file=sys.stderr)
    return 0
