"""The `pubsub` operator command line: one subcommand per module (HELP, DESCRIPTION, EPILOG, arguments, run)."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.cli import asyncapi, local, outbox, peek, provision, publish, requeue, schemas, stats
from microcosm_pubsub.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    CommandError,
    HelpFormatter,
    describe_aws_error,
)


SUBCOMMANDS = [local, provision, publish, peek, stats, requeue, schemas, asyncapi, outbox]


def build_parser() -> argparse.ArgumentParser:
    try:
        # From the installed metadata: setup.py is the one place the version is written
        installed = version("microcosm_pubsub")
    except PackageNotFoundError:  # run from a source tree that was never installed
        installed = "unknown (not installed)"
    parser = argparse.ArgumentParser(
        prog="pubsub",
        description="Operate microcosm_pubsub topics and queues: run a local endpoint, provision, publish, "
        "inspect and requeue messages, export schemas. `pubsub COMMAND --help` tells more.",
        epilog=EXIT_CODES_HELP,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        subparser = subparsers.add_parser(
            module.__name__.rsplit(".", 1)[-1], help=module.HELP, description=module.DESCRIPTION,
            # Each subcommand's --help ends with the exit codes too, after its own epilog
            epilog="\n\n".join(filter(None, [getattr(module, "EPILOG", None), EXIT_CODES_HELP])),
            formatter_class=HelpFormatter,
        )
        module.arguments(subparser)
        subparser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit status (argparse itself exits 2 on a bad command line)."""
    args = build_parser().parse_args(argv)
    name = f"pubsub {args.command}"
    try:
        status: int = args.run(args)
        sys.stdout.flush()
        return status
    except CommandError as error:
        # One line per problem (a stack file reports all of its own at once)
        for line in str(error).splitlines() or [""]:
            print(f"{name}: error: {line}", file=sys.stderr)
        return error.exit_code
    except (BotoCoreError, ClientError) as error:
        # A call no subcommand wrapped: still one line, never a traceback
        print(f"{name}: error: {describe_aws_error(error)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`pubsub peek q | head`); Python would complain again at exit otherwise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
