"""The 20 ms phase again without the endpoint: an in-memory SQS with a fixed latency per call.

moto serves every call on one interpreter (one GIL), so on this machine it caps both consumers
well below what their threads could do. Against this fake, each call costs `latency` seconds of
waiting and no CPU, like a network round trip, and the queue never runs dry: what is left is how
the consumers themselves scale with concurrency. Only throughput means anything here; the CPU
figures leave out botocore, which the fake replaces.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import CallCounter, Clock, Sample, alternate, isolate_environment
from benchmarks.consume import HANDLER_SECONDS, POLL_SECONDS
from benchmarks.consumers import Consumer, DaemonRunner, PlainLoop, PlainPollers, sleeper, tuned_shape


# Same-region SQS answers in roughly 5 to 20 ms
LATENCY_SECONDS = 0.01
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/bench-fake"


# Bodies handed out beyond a run's count: the backlog outlasts the timed window, as on the endpoint
BACKLOG_MARGIN = 1000


class FakeSQS:
    """Just the SQS client calls the consumers make; `messages` bodies and a margin to hand out, then none."""

    def __init__(self, body: str, messages: int, latency: float = LATENCY_SECONDS) -> None:
        self.body, self.left, self.latency = body, messages + BACKLOG_MARGIN, latency
        self.ids = itertools.count()
        self.lock = threading.Lock()
        # No botocore events here: the fake counts its calls itself
        self.calls = CallCounter(None)

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int = 1, **kwargs: Any) -> dict[str, Any]:
        self.calls.add("ReceiveMessage")
        time.sleep(self.latency)
        with self.lock:
            count = min(MaxNumberOfMessages, self.left)
            self.left -= count
            ids = [next(self.ids) for _ in range(count)]
        return {"Messages": [
            {
                "MessageId": f"m-{index}", "ReceiptHandle": f"r-{index}", "Body": self.body,
                "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
            }
            for index in ids
        ]}

    def _batch(self, Entries: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        time.sleep(self.latency)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.add("DeleteMessageBatch")
        return self._batch(Entries)

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.add("ChangeMessageVisibilityBatch")
        return self._batch(Entries)

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        time.sleep(self.latency)
        return {"Attributes": {"VisibilityTimeout": "30"}}

    def close(self) -> None:
        pass


def run_fake(make: Callable[[FakeSQS], Consumer], body: str, messages: int) -> Sample:
    fake = FakeSQS(body, messages)
    consumer = make(fake)
    clock = Clock()
    try:
        clock.start()
        consumer.start()
        deadline = time.monotonic() + 120
        while (settled := consumer.settled) < messages:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{type(consumer).__name__} settled {settled} of {messages} in time")
            time.sleep(POLL_SECONDS)
        return clock.stop(settled).with_calls(fake.calls.snapshot())
    finally:
        consumer.stop()


def ours(fake: FakeSQS, concurrency: int) -> Consumer:
    config = {"sqs_consumer": {"sqs_queue_url": QUEUE_URL, "region_name": "us-east-1", "wait_seconds": 0,
                               "concurrency": concurrency}}
    runner = DaemonRunner(config, sleeper(HANDLER_SECONDS))
    # Built lazily, so the fake takes the real client's place before any call
    runner.daemon.graph.sqs_consumer.client = fake
    return runner


def plain(fake: FakeSQS, concurrency: int) -> Consumer:
    """The same plain boto3 consumers as on the local endpoint: the serial loop at 1, the tuned pollers above."""
    if concurrency == 1:
        return PlainLoop(fake, QUEUE_URL, sleeper(HANDLER_SECONDS), 0)
    pollers, threads = tuned_shape(concurrency)
    return PlainPollers(fake, QUEUE_URL, sleeper(HANDLER_SECONDS), pollers, threads, 0)


def fake_phase(body: str, concurrency: int, messages: int, rounds: int, warmup: int = 20) -> dict[str, list[Sample]]:
    """Our Runner against plain boto3, both on the in-memory fake, at one concurrency."""
    isolate_environment()
    return alternate(
        {
            "ours": lambda count: run_fake(lambda fake: ours(fake, concurrency), body, count),
            "boto3": lambda count: run_fake(lambda fake: plain(fake, concurrency), body, count),
        },
        messages, rounds, warmup,
    )
