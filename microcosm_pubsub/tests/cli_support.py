"""Helpers for the command-line tests: run the real `pubsub` console script against the local endpoint."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hamcrest import assert_that, contains_string, has_length, is_not

from microcosm_pubsub.tests import fixtures


# A run that has not finished by then is hung, not slow
RUN_TIMEOUT_SECONDS = 60
SCHEMAS_MODULE = "microcosm_pubsub.tests.cli_schemas"


def pubsub_command() -> list[str]:
    """The installed console script of this interpreter's environment, else the module."""
    beside = Path(sys.executable).parent / "pubsub"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("pubsub")
    if found:
        return [found]
    return [sys.executable, "-m", "microcosm_pubsub.main"]


def environ() -> dict[str, str]:
    return {**os.environ, **fixtures.endpoint().environ()}


def pubsub(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*pubsub_command(), *args], input=stdin, capture_output=True, text=True, env=environ(),
        timeout=RUN_TIMEOUT_SECONDS, check=False,
    )


def assert_one_line_error(stderr: str, text: str) -> None:
    """The error is one line, says `text`, and is not a traceback."""
    assert_that(stderr.strip().splitlines(), has_length(1))
    assert_that(stderr, contains_string(text))
    assert_that(stderr, is_not(contains_string("Traceback")))


def pubsub_in_process(*args: str) -> tuple[int, str, str]:
    """Run the command line in this process (for input errors found before any import or network call)."""
    from microcosm_pubsub.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(args))
        except SystemExit as exit:
            status = int(exit.code or 0)
    return status, out.getvalue(), err.getvalue()


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*pubsub_command(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=environ(),
    )


def finish(process: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    """Wait for a started run; returns its status, stdout and stderr."""
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out.decode(), err.decode()


def write_json(directory: str, name: str, document: Any) -> str:
    path = Path(directory) / name
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return str(path)


def temporary_directory(test: Any) -> str:
    directory = tempfile.TemporaryDirectory()
    test.addCleanup(directory.cleanup)
    return directory.name


def send(sqs: Any, queue_url: str, body: str, **attributes: str) -> None:
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=body,
        MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
    )


def drain(sqs: Any, queue_url: str, max_receives: int = 50) -> list[dict[str, Any]]:
    """Every visible message, each once (kept hidden for the test's length); bounded in receives."""
    messages: list[dict[str, Any]] = []
    quiet = 0
    for _ in range(max_receives):
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60,
            MessageAttributeNames=["All"], AttributeNames=["All"],
        ).get("Messages", [])
        messages.extend(batch)
        quiet = 0 if batch else quiet + 1
        if quiet == 2:
            break
    return messages


def visible(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


