"""`pubsub local` end to end: provision, print the environment, serve it, stop on Ctrl-C."""
from __future__ import annotations

import os
import selectors
import signal
import time
import unittest

import boto3
from hamcrest import assert_that, contains_string, equal_to, has_entries, has_key, is_, starts_with

from microcosm_pubsub.tests.cli_support import (
    RUN_TIMEOUT_SECONDS,
    assert_one_line_error,
    drain,
    finish,
    pubsub_in_process,
    start,
    temporary_directory,
    write_json,
)


class TestLocal(unittest.TestCase):
    def test_local_prints_environment_serves_it_and_stops_on_sigint(self) -> None:
        """`pubsub local` provisions the stack, prints its environment, serves it, and exits 0 on Ctrl-C."""
        stack = write_json(temporary_directory(self), "stack.json", {
            "topics": ["orders"], "queues": [{"name": "billing"}],
            "subscriptions": [{"topic": "orders", "queue": "billing", "raw": True}],
        })
        process = start("local", "--port", "0", "--stack", stack)
        try:
            lines = read_until_ready(process)
            env = dict(line.split("=", 1) for line in lines if "=" in line)
            assert_that(env, has_entries(AWS_ENDPOINT_URL=starts_with("http://127.0.0.1:")))
            assert_that(env, has_key("PUBSUB_TOPIC_ARN_ORDERS"))
            assert_that(env, has_key("PUBSUB_QUEUE_URL_BILLING_DLQ"))

            session = boto3.session.Session(
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                region_name=env["AWS_DEFAULT_REGION"],
            )
            sns = session.client("sns", endpoint_url=env["AWS_ENDPOINT_URL"])
            sqs = session.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"])
            try:
                sns.publish(TopicArn=env["PUBSUB_TOPIC_ARN_ORDERS"], Message='{"hello": "local"}')
                received = drain(sqs, env["PUBSUB_QUEUE_URL_BILLING"])
            finally:
                sns.close()
                sqs.close()
            assert_that([message["Body"] for message in received], is_(equal_to(['{"hello": "local"}'])))
        finally:
            process.send_signal(signal.SIGINT)
            status, _, stderr = finish(process)
        assert_that(status, is_(equal_to(0)))
        assert_that(stderr, contains_string("stopped"))

    def test_local_with_malformed_stack_exits_2(self) -> None:
        """A bad stack file stops `pubsub local` before it starts anything."""
        stack = write_json(temporary_directory(self), "stack.json", '{"topics": [')
        status, _, stderr = pubsub_in_process("local", "--stack", stack)
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(stderr, "not valid JSON")


def read_until_ready(process: object) -> list[str]:
    """The lines `pubsub local` prints before its ready line (fails after a bounded wait)."""
    stdout = process.stdout  # type: ignore[attr-defined]
    output = b""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while b"# ready" not in output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"pubsub local printed only {output!r}"
            if selector.select(remaining):
                chunk = os.read(stdout.fileno(), 4096)
                assert chunk, f"pubsub local exited after printing {output!r}"
                output += chunk
    return output.decode().splitlines()
