"""Shared test fixtures: one local endpoint per test process, unique stacks, graphs pointed at them."""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hamcrest import assert_that, has_length
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS, LocalEndpoint
from microcosm_pubsub.aws.provisioning import Stack
from microcosm_pubsub.testing.queues import shared_endpoint


# Nothing a test does may reach real AWS, whatever the machine's environment holds
os.environ.update(DUMMY_CREDENTIALS)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
for _variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_SQS"):
    os.environ.pop(_variable, None)

def endpoint() -> LocalEndpoint:
    """The process's local endpoint, shared with what users' tests get from `microcosm_pubsub.testing`."""
    return shared_endpoint()


def unique_name(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_stack(prefix: str = "test", **kwargs: Any) -> Stack:
    """A fresh topic, queue and dead-letter queue on the local endpoint."""
    return endpoint().provision(unique_name(prefix), **kwargs)


def graph_config(stack: Stack | None = None, **overrides: Any) -> dict[str, Any]:
    """Configuration pointing every client at the local endpoint, with short receives."""
    url = endpoint().url
    config: dict[str, Any] = {
        "sns_producer": {"endpoint_url": url, "region_name": "us-east-1"},
        "sqs_consumer": {"endpoint_url": url, "region_name": "us-east-1", "wait_seconds": 1},
    }
    if stack is not None:
        config["sns_topic_arns"] = {"default": stack.topic_arn}
        config["sqs_consumer"]["sqs_queue_url"] = stack.queue_url
    for key, value in overrides.items():
        config.setdefault(key, {}).update(value)
    return config


def make_graph(stack: Stack | None = None, name: str = "test", **overrides: Any) -> Any:
    return create_object_graph(name, testing=True, loader=load_from_dict(graph_config(stack, **overrides)))


def drain(graph: Any, attempts: int = 3) -> list[Any]:
    """Receive until the queue is quiet for `attempts` receives in a row; acks nothing."""
    received: list[Any] = []
    quiet = 0
    while quiet < attempts:
        messages = graph.sqs_consumer.consume(wait_seconds=0)
        quiet = 0 if messages else quiet + 1
        received.extend(messages)
    return received


def receive(graph: Any, count: int = 1) -> list[Any]:
    """Exactly `count` messages from the graph's queue, in at most five short receives; acks nothing."""
    messages: list[Any] = []
    for _ in range(5):
        messages.extend(graph.sqs_consumer.consume(limit=count - len(messages), wait_seconds=1))
        if len(messages) >= count:
            break
    assert_that(messages, has_length(count))
    return messages


def close_clients(graph: Any) -> None:
    """Close the boto clients a graph built, so their sockets are not left to the garbage collector."""
    for key in ("sns_client", "sqs_client"):
        client = graph.get(key)
        if client is not None:
            client.close()


def queue_counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages on the queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; returns whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@contextmanager
def environ(**variables: str | None) -> Iterator[None]:
    """Set (or, given None, unset) environment variables inside the block, restoring them after it."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        _update_environ(variables)
        yield
    finally:
        _update_environ(saved)


def _update_environ(variables: dict[str, str | None]) -> None:
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
