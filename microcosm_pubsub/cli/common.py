"""What every subcommand shares: exit codes, errors, AWS clients, Ctrl-C handling and plain-text output."""
from __future__ import annotations

import argparse
import json
import re
import signal
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from microcosm_pubsub.aws.faults import error_code
from microcosm_pubsub.aws.provisioning import is_missing_queue
from microcosm_pubsub.wire.errors import PubSubError


EXIT_FAILED = 1
EXIT_USAGE = 2
# The shell's convention for "stopped by SIGINT", so a script can tell a partial run from a failure
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit status:
  0    success
  1    the operation failed: AWS refused or could not be reached, a queue or
       topic does not exist, some messages could not be moved
  2    usage or input error: bad option, malformed stack file, invalid JSON
       data, unknown media type, data that does not fit its schema
  130  stopped by Ctrl-C (requeue finishes the batch in hand first)
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps prose (a paragraph, a `- ` list item) to the terminal; keeps indented lines (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        paragraph: list[str] = []
        # The blank line added closes the last paragraph, and is dropped at the end
        for line in [*text.splitlines(), ""]:
            item = bool(paragraph) and paragraph[0].startswith("- ")
            if item and not paragraph[-1].endswith(":") and re.match(r"  \S", line):
                paragraph.append(line.strip())  # the hanging indent of a list item continues it
                continue
            prose = bool(line.strip()) and not line[0].isspace()
            if paragraph and (not prose or line.startswith("- ") or paragraph[-1].endswith(":")):
                joined = " ".join(paragraph)
                hanging = indent + ("  " if joined.startswith("- ") else "")
                lines.append(textwrap.fill(joined, width, initial_indent=indent, subsequent_indent=hanging,
                                           break_on_hyphens=False))
                paragraph.clear()
            if prose:
                paragraph.append(line.strip())
            else:
                lines.append(indent + line if line.strip() else "")
        return "\n".join(lines[:-1])


class CommandError(PubSubError):
    """A failure the command line reports as one line on stderr, exiting with `exit_code`."""

    exit_code = EXIT_FAILED


class UsageError(CommandError):
    """The command line or its input is wrong; running it again unchanged will not help."""

    exit_code = EXIT_USAGE


def argument_type(
    parse: Callable[[str], Any], accept: Callable[[Any], Any], refusal: Callable[[str], str],
) -> Callable[[str], Any]:
    """An argparse type: `parse(text)` when `accept` takes it; else argparse prints `refusal(text)`, exit 2."""
    def check(text: str) -> Any:
        with suppress(ValueError):
            if accept(value := parse(text)):
                return value
        raise argparse.ArgumentTypeError(refusal(text))
    return check


def matching(pattern: re.Pattern[str], refusal: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse type taking a value that matches `pattern` whole."""
    return argument_type(str, pattern.fullmatch, refusal)


def read_text(path: str, what: str, error: Callable[[str], UsageError] = UsageError) -> str:
    """The UTF-8 text of file `path`; else raises `error` (UsageError): "cannot read <what>: <why>"."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"cannot read {what}: {getattr(problem, 'strerror', None) or problem}") from problem


def parse_json(text: str, source: str, error: Callable[[str], UsageError] = UsageError) -> Any:
    """`text` as JSON; else raises `error` (UsageError): "<source> is not valid JSON: <why> at line L column C"."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as problem:
        where = f"line {problem.lineno} column {problem.colno}"
        raise error(f"{source} is not valid JSON: {problem.msg} at {where}") from None


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS connection (boto3's standard chain supplies what is not given)")
    group.add_argument("--endpoint-url", metavar="URL", help="SNS/SQS endpoint (default: $AWS_ENDPOINT_URL, else AWS)")
    group.add_argument("--region", help="AWS region (default: $AWS_DEFAULT_REGION or the AWS config)")
    group.add_argument("--profile", help="AWS profile (default: $AWS_PROFILE)")


def aws_client(args: argparse.Namespace, service: str) -> Any:
    """A boto3 client for the endpoint, region and profile the options of `add_aws_options` or the environment name."""
    try:
        session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
        # An operator waits at a terminal: fail in seconds, not after boto3's default minute
        config = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"})
        return session.client(service, endpoint_url=args.endpoint_url, config=config)  # type: ignore[call-overload]
    except NoRegionError as error:
        raise UsageError("no AWS region: set AWS_DEFAULT_REGION or pass --region") from error
    except ProfileNotFound as error:
        raise UsageError(str(error)) from error


def describe_aws_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        code, message = error_code(error)
        return f"{code or 'Error'}: {message or error}"
    return str(error)


@contextmanager
def aws_errors(doing: str, missing: str | None = None) -> Iterator[None]:
    """Turn a boto error inside the block into a one-line `CommandError` saying what was being done, or `missing`
    when the error says the queue or topic does not exist."""
    try:
        yield
    except NoCredentialsError as error:
        raise UsageError("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE") from error
    except EndpointConnectionError as error:
        raise CommandError(f"{doing}: cannot reach {error.kwargs.get('endpoint_url', 'the endpoint')}") from error
    except ClientError as error:
        # SNS answers a missing topic with NotFound "Topic does not exist" (moto: "Endpoint does not exist")
        gone = is_missing_queue(error) or error.response.get("Error", {}).get("Code") == "NotFound"
        raise CommandError(missing if missing and gone else f"{doing}: {describe_aws_error(error)}") from error
    except BotoCoreError as error:
        raise CommandError(f"{doing}: {describe_aws_error(error)}") from error


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM instead of the default abrupt exit; handlers restored after."""
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; numbers line up on the right."""
    columns = list(zip(headers, *rows, strict=True))
    widths = [max(len(str(cell)) for cell in column) for column in columns]
    numeric = [bool(rows) and all(str(cell).isdigit() or cell == "-" for cell in column[1:]) for column in columns]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(cell).rjust(width) if right else str(cell).ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])
