"""Consume phases: no-op handler, and a 20 ms handler at several concurrencies, each against plain boto3.

Every run also counts the consumer's own ReceiveMessage, DeleteMessageBatch and
ChangeMessageVisibilityBatch calls while the feeder keeps a backlog in the queue.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks import fanferro_contender
from benchmarks.common import (
    ATTRIBUTES,
    CONTENT,
    CallCounter,
    Clock,
    Sample,
    alternate,
    endpoint_pid,
    graph_config,
    make_graph,
    plain_body,
)
from benchmarks.consumers import (
    Consumer,
    DaemonRunner,
    DispatcherLoop,
    PlainLoop,
    PlainPollers,
    async_sleeper,
    noop,
    sleeper,
    tuned_shape,
)
from benchmarks.feeder import Feeder
from microcosm_pubsub.aws.local import LocalEndpoint
from microcosm_pubsub.consume.consumer import SQS_MAX_BATCH


# How often the benchmark looks at the settled count (and passes it to the feeder)
POLL_SECONDS = 0.005
# Beyond what a consumer may hold in flight, this many messages wait visible in the queue
VISIBLE_MARGIN = 30
HANDLER_SECONDS = 0.02


def sns_envelope(endpoint: LocalEndpoint) -> str:
    """The body SNS delivers to a subscribed queue, taken from the endpoint itself."""
    stack = endpoint.provision(f"bench-envelope-{uuid.uuid4().hex[:8]}", dead_letter=False)
    sns: Any = endpoint.client("sns")
    sqs = endpoint.client("sqs")
    try:
        sns.publish(TopicArn=stack.topic_arn, Message=plain_body(CONTENT), MessageAttributes=ATTRIBUTES)
        messages = sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            raise RuntimeError("the endpoint delivered nothing from SNS to SQS")
        body: str = messages[0]["Body"]
        return body
    finally:
        sns.close()
        sqs.close()


class Bench:
    """Runs one consumer over a fresh queue that the feeder keeps shallow, timing until all are settled."""

    def __init__(
        self, endpoint: LocalEndpoint, timeout_seconds: float = 120.0, wait_seconds: int = 1, fanferro: bool = False,
    ) -> None:
        self.endpoint = endpoint
        # Receives long-poll this long: stopping a consumer waits out at most one empty receive
        self.wait_seconds = wait_seconds
        self.timeout_seconds = timeout_seconds
        self.sqs = endpoint.client("sqs")
        self.feeder = Feeder(endpoint, sns_envelope(endpoint))
        # With `fanferro`, its driver process joins the phases that take it, where its environment is
        self._fanferro = fanferro_contender.driver(endpoint, fanferro)
        self.fanferro = self._fanferro.__enter__()

    def close(self) -> None:
        self._fanferro.__exit__(None, None, None)
        self.feeder.close()
        self.sqs.close()

    def run(self, make: Callable[[str], Consumer], messages: int, capacity: int) -> Sample:
        queue_url = self.sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        consumer = make(queue_url)
        counter = CallCounter(consumer.counted_client)
        clock = Clock(endpoint_pid(self.endpoint))
        try:
            # Fed beyond the count: the backlog lasts the whole timed window, its tail included
            self.feeder.prefill(queue_url, messages + capacity + VISIBLE_MARGIN, capacity + VISIBLE_MARGIN)
            counter.reset()
            clock.start()
            consumer.start()
            deadline = time.monotonic() + self.timeout_seconds
            while (settled := consumer.settled) < messages:
                self.feeder.report(settled)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{type(consumer).__name__} settled {settled} of {messages} in time")
                time.sleep(POLL_SECONDS)
            sample = clock.stop(settled).with_calls(counter.snapshot())
            # The feeder sends its last messages (the margin) once it sees the count reached
            self.feeder.report(settled)
        finally:
            consumer.stop()
        if isinstance(consumer, fanferro_contender.FanferroConsumer):
            # Its client runs in the driver process: that process's CPU over the window, and its calls
            sample = consumer.adjust(sample)
        self.feeder.wait_fed()
        self.sqs.delete_queue(QueueUrl=queue_url)
        return sample

    def plain(self, factory: Callable[[Any, str], Consumer]) -> Callable[[str], Consumer]:
        """A plain consumer with a client of its own, as ours builds one per graph."""
        def make(queue_url: str) -> Consumer:
            return factory(self.endpoint.client("sqs"), queue_url)
        return make


def noop_phase(bench: Bench, messages: int, rounds: int, warmup: int = 20) -> dict[str, list[Sample]]:
    """Receive ten, handle with a no-op, delete in one batch: by hand, through our Runner, plain boto3 (twice)."""
    endpoint, wait = bench.endpoint, bench.wait_seconds

    def plain(count: int) -> Sample:
        return bench.run(bench.plain(lambda sqs, url: PlainLoop(sqs, url, noop, wait)), count, 2 * SQS_MAX_BATCH)

    return alternate(
        {
            "boto3": plain,
            # The same loop again, paired like the others: its ratio is the harness's own error in this run
            "boto3_again": plain,
            "ours_dispatcher": lambda count: bench.run(
                lambda url: DispatcherLoop(make_graph(endpoint, queue_url=url, wait_seconds=wait), noop),
                count, 2 * SQS_MAX_BATCH,
            ),
            "ours_runner": lambda count: bench.run(
                lambda url: DaemonRunner(graph_config(endpoint, queue_url=url, wait_seconds=wait), noop),
                count, 2 * SQS_MAX_BATCH,
            ),
            **fanferro(bench, 1, 0.0, 2 * SQS_MAX_BATCH),
        },
        messages, rounds, warmup,
    )


def fanferro(
    bench: Bench, concurrency: int, handler_seconds: float, capacity: int,
) -> dict[str, Callable[[int], Sample]]:
    """fanferro's contenders for a consume phase, where the bench has its driver: its `async def` handler, and
    above concurrency 1 the blocking handler our sync row runs, as fanferro's guide says to run one
    (`asyncio.to_thread`)."""
    driver = bench.fanferro
    if driver is None:
        return {}

    def contender(blocking: bool) -> Callable[[int], Sample]:
        def run(count: int) -> Sample:
            return bench.run(
                lambda url: fanferro_contender.FanferroConsumer(driver, url, concurrency, handler_seconds, blocking),
                count, capacity,
            )
        return run
    runs = {"fanferro": contender(False)}
    if concurrency > 1 and handler_seconds > 0:
        runs["fanferro_blocking"] = contender(True)
    return runs


def sleep_phase(
    bench: Bench, concurrency: int, messages: int, rounds: int, warmup: int | None = None,
) -> dict[str, list[Sample]]:
    """A handler sleeping 20 ms: our daemon's Runner (the handler sync, then `async def`) against plain boto3.

    At concurrency 1 plain boto3 is the serial loop (receive ten, handle, delete the batch); above,
    it is the hand-tuned threaded consumer (`PlainPollers`, 4 pollers and 40 threads at 32).
    """
    endpoint, wait = bench.endpoint, bench.wait_seconds
    handler = sleeper(HANDLER_SECONDS)
    plain: Callable[[Any, str], Consumer]
    if concurrency == 1:
        capacity = 2 * SQS_MAX_BATCH
        plain = lambda sqs, url: PlainLoop(sqs, url, handler, wait)  # noqa: E731
    else:
        pollers, threads = tuned_shape(concurrency)
        # What the tuned consumer may hold: every thread busy and each poller's last receive waiting
        capacity = max(threads + pollers * SQS_MAX_BATCH, concurrency + 2 * SQS_MAX_BATCH)
        plain = lambda sqs, url: PlainPollers(sqs, url, handler, pollers, threads, wait)  # noqa: E731
    return alternate(
        {
            "ours": lambda count: bench.run(
                lambda url: DaemonRunner(
                    graph_config(endpoint, queue_url=url, concurrency=concurrency, wait_seconds=wait), handler,
                ),
                count, capacity,
            ),
            # The same handler written `async def`, through the same Runner
            "ours_async": lambda count: bench.run(
                lambda url: DaemonRunner(
                    graph_config(endpoint, queue_url=url, concurrency=concurrency, wait_seconds=wait),
                    async_sleeper(HANDLER_SECONDS),
                ),
                count, capacity,
            ),
            "boto3": lambda count: bench.run(bench.plain(plain), count, capacity),
            **(fanferro(bench, concurrency, HANDLER_SECONDS, capacity)
               if concurrency in fanferro_contender.CONCURRENCIES else {}),
        },
        messages, rounds, min(messages, capacity + SQS_MAX_BATCH) if warmup is None else warmup,
    )
