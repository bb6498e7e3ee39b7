"""The 20 ms phase again without the endpoint: the in-memory SQS double with a fixed latency per call."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from benchmarks.common import CallCounter, Clock, Sample, alternate, isolate_environment
from benchmarks.consume import HANDLER_SECONDS, POLL_SECONDS
from benchmarks.consumers import Consumer, DaemonRunner, PlainLoop, PlainPollers, sleeper, tuned_shape
from microcosm_pubsub.aws.memory import MemoryAWS
from microcosm_pubsub.wire.limits import MAX_BATCH_ENTRIES as MAX_BATCH


if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


# moto serves every call on one GIL, which caps both consumers below what their threads could do; against
# the double each call costs this wait and little CPU, like a network round trip. Only throughput means
# anything here: the CPU figures leave out the model check, signing and HTTP. Same-region SQS answers in
# roughly 5 to 20 ms.
LATENCY_SECONDS = 0.01
QUEUE_NAME = "bench-fake"
# Bodies queued beyond a run's count: the backlog outlasts the timed window, as on the endpoint
BACKLOG_MARGIN = 1000


def filled(body: str, messages: int) -> tuple[SQSClient, str]:
    """A double's SQS client and a queue holding `messages` bodies and the margin."""
    world = MemoryAWS(checked=False)
    sqs = world.sqs
    url: str = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
    for start in range(0, messages + BACKLOG_MARGIN, MAX_BATCH):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(index), "MessageBody": body} for index in range(start, start + MAX_BATCH)
        ])
    # Filled without it: only the consumers' calls wait
    world.latency = LATENCY_SECONDS
    return sqs, url


def run_fake(make: Callable[[SQSClient, str], Consumer], body: str, messages: int) -> Sample:
    sqs, url = filled(body, messages)
    # Counts the consumer's calls through botocore's events: the double's client is botocore's
    calls = CallCounter(sqs)
    consumer = make(sqs, url)
    clock = Clock()
    try:
        clock.start()
        consumer.start()
        deadline = time.monotonic() + 120
        while (settled := consumer.settled) < messages:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{type(consumer).__name__} settled {settled} of {messages} in time")
            time.sleep(POLL_SECONDS)
        return clock.stop(settled).with_calls(calls.snapshot())
    finally:
        consumer.stop()


def ours(sqs: SQSClient, url: str, concurrency: int) -> Consumer:
    config = {"sqs_consumer": {"sqs_queue_url": url, "region_name": "us-east-1", "wait_seconds": 0,
                               "concurrency": concurrency}}
    runner = DaemonRunner(config, sleeper(HANDLER_SECONDS))
    # Built lazily, so the double takes the real client's place before any call
    runner.daemon.graph.sqs_consumer.client = sqs
    return runner


def plain(sqs: SQSClient, url: str, concurrency: int) -> Consumer:
    """The same plain boto3 consumers as on the local endpoint: the serial loop at 1, the tuned pollers above."""
    if concurrency == 1:
        return PlainLoop(sqs, url, sleeper(HANDLER_SECONDS), 0)
    pollers, threads = tuned_shape(concurrency)
    return PlainPollers(sqs, url, sleeper(HANDLER_SECONDS), pollers, threads, 0)


def fake_phase(body: str, concurrency: int, messages: int, rounds: int, warmup: int = 20) -> dict[str, list[Sample]]:
    """Our Runner against plain boto3, both on the in-memory double, at one concurrency."""
    isolate_environment()
    return alternate(
        {
            "ours": lambda count: run_fake(lambda sqs, url: ours(sqs, url, concurrency), body, count),
            "boto3": lambda count: run_fake(lambda sqs, url: plain(sqs, url, concurrency), body, count),
        },
        messages, rounds, warmup,
    )
