"""`pubsub local` end to end: provision, print the environment, serve it, stop on Ctrl-C."""
from __future__ import annotations

import os
import selectors
import signal
import time
import unittest
from typing import Any

import boto3
from hamcrest import assert_that, contains_string, ends_with, equal_to, has_entries, has_length, is_, starts_with
from microcosm.api import create_object_graph, load_from_environ

from microcosm_pubsub.cli.local import DEVELOPMENT_WAIT_SECONDS
from microcosm_pubsub.tests import fixtures
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
            env = variables(read_until_ready(process))
            assert_that(env, has_entries(AWS_ENDPOINT_URL=starts_with("http://127.0.0.1:")))
            assert_that([name for name in env if name.startswith("PUBSUB_")], is_(equal_to([])))

            session = boto3.session.Session(
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                region_name=env["AWS_DEFAULT_REGION"],
            )
            sns = session.client("sns", endpoint_url=env["AWS_ENDPOINT_URL"])
            sqs = session.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"])
            try:
                sns.publish(TopicArn=env["BILLING__SNS_TOPIC_ARNS__DEFAULT"], Message='{"hello": "local"}')
                received = drain(sqs, env["BILLING__SQS_CONSUMER__SQS_QUEUE_URL"])
            finally:
                sns.close()
                sqs.close()
            assert_that([message["Body"] for message in received], is_(equal_to(['{"hello": "local"}'])))
        finally:
            process.send_signal(signal.SIGINT)
            status, _, stderr = finish(process)
        assert_that(status, is_(equal_to(0)))
        assert_that(stderr, contains_string("stopped"))

    def test_local_prints_the_variables_a_named_service_reads(self) -> None:
        """A graph named --service, loaded from the environment, gets its topic, queues and endpoint from the output."""
        stack = write_json(temporary_directory(self), "stack.json", {
            "topics": ["shop"], "queues": [{"name": "shop-orders", "deadLetter": {"name": "shop-dlq"}}],
            "subscriptions": [{"topic": "shop", "queue": "shop-orders"}],
        })
        process = start("local", "--stack", stack, "--service", "cli-shop")
        try:
            env = variables(read_until_ready(process))
            endpoint = env["AWS_ENDPOINT_URL"]
            assert_that(env, has_entries(
                CLI_SHOP__SNS_TOPIC_ARNS__DEFAULT=ends_with(":shop"),
                CLI_SHOP__SQS_CONSUMER__SQS_QUEUE_URL=f"{endpoint}/123456789012/shop-orders",
                CLI_SHOP__SQS_MESSAGE_DISPATCHER__DEAD_LETTER_QUEUE_URL=f"{endpoint}/123456789012/shop-dlq",
                CLI_SHOP__SNS_PRODUCER__ENDPOINT_URL=endpoint,
                CLI_SHOP__SQS_CONSUMER__ENDPOINT_URL=endpoint,
            ))
            with fixtures.environ(**env):
                graph: Any = create_object_graph("cli-shop", testing=True, loader=load_from_environ)
                graph.sns_client.publish(TopicArn=graph.sns_topic_arns.resolve("a.b.c"), Message='{"n": 1}')
                assert_that(graph.config.sqs_message_dispatcher.dead_letter_queue_url,
                            is_(equal_to(env["CLI_SHOP__SQS_MESSAGE_DISPATCHER__DEAD_LETTER_QUEUE_URL"])))
                # A short long poll for development: a daemon restarted there stops within about a second
                assert_that(graph.sqs_consumer.wait_seconds, is_(equal_to(DEVELOPMENT_WAIT_SECONDS)))
                received = drain(graph.sqs_client, graph.config.sqs_consumer.sqs_queue_url)
            assert_that(received, has_length(1))
        finally:
            process.send_signal(signal.SIGINT)
            finish(process)

    def test_local_asks_which_queue_when_the_service_is_ambiguous(self) -> None:
        """--service on a stack of several queues, none of its name, is a usage error naming --queue."""
        stack = write_json(temporary_directory(self), "stack.json", {"queues": [{"name": "a"}, {"name": "b"}]})
        status, _, stderr = pubsub_in_process("local", "--stack", stack, "--service", "shop")
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(stderr, "the stack declares queues a, b: pass --queue for the one shop consumes")

    def test_local_with_malformed_stack_exits_2(self) -> None:
        """A bad stack file stops `pubsub local` before it starts anything."""
        stack = write_json(temporary_directory(self), "stack.json", '{"topics": [')
        status, _, stderr = pubsub_in_process("local", "--stack", stack)
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(stderr, "not valid JSON")


def variables(lines: list[str]) -> dict[str, str]:
    """The KEY=value lines, without the comments."""
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


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
