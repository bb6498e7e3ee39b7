"""The receive loop: bounded prefetch, handlers on a thread pool, batched settling, visibility heartbeat."""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.consumer import SQS_MAX_BATCH
from microcosm_pubsub.errors import ConsumeError, QueueExhausted
from microcosm_pubsub.inflight import InFlight
from microcosm_pubsub.message import SQSMessage
from microcosm_pubsub.result import MessageHandlingResult


logger = logging.getLogger("microcosm_pubsub.runner")

# Waiting this long for more results before a settle call trades a little latency for fuller batches
SETTLE_LINGER_SECONDS = 0.02
# An unreachable or throttling endpoint is retried after 1, 2, 4... seconds, at most this many
MAX_RECEIVE_BACKOFF_SECONDS = 30.0
# SQS's default queue visibility timeout, when the queue's own cannot be read
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30

_STOP = object()


class Runner:
    """Runs `dispatcher` over `consumer` until `stop` is set, then drains what is in flight."""

    def __init__(self, dispatcher: Any, consumer: Any, concurrency: int, stop: threading.Event) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.dispatcher = dispatcher
        self.consumer = consumer
        self.concurrency = concurrency
        self.stop = stop
        capacity = dispatcher.max_in_flight_setting or max(consumer.limit, 2 * concurrency)
        # One more receive's worth may wait for its batched delete while the next receive goes out
        self.in_flight = InFlight(capacity, settling=consumer.limit)
        self.work: queue.Queue[Any] = queue.Queue()
        self.done: queue.Queue[Any] = queue.Queue()
        self.visibility_timeout = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
        self.counts: dict[str, int] = {}

    def run(self) -> None:
        self.visibility_timeout = self.queue_visibility_timeout()
        workers = [
            threading.Thread(target=self.work_loop, name=f"pubsub-handler-{index}", daemon=True)
            for index in range(self.concurrency)
        ]
        settler = threading.Thread(target=self.settle_loop, name="pubsub-settler", daemon=True)
        for thread in [*workers, settler]:
            thread.start()
        try:
            self.receive_loop()
        finally:
            self.drain(workers, settler)

    def queue_visibility_timeout(self) -> int:
        try:
            response = self.consumer.client.get_queue_attributes(
                QueueUrl=self.consumer.queue_url, AttributeNames=["VisibilityTimeout"],
            )
            return int(response["Attributes"]["VisibilityTimeout"])
        except (BotoCoreError, ClientError, KeyError, ValueError) as error:
            logger.warning("cannot read the queue's visibility timeout, assuming %ss: %s",
                           DEFAULT_VISIBILITY_TIMEOUT_SECONDS, error)
            return DEFAULT_VISIBILITY_TIMEOUT_SECONDS

    def receive_loop(self) -> None:
        failures = 0
        while not self.stop.is_set():
            free = self.in_flight.wait_for_room(timeout=1.0)
            if free < 1 or self.stop.is_set():
                continue
            try:
                messages = self.consumer.consume(limit=min(free, SQS_MAX_BATCH))
            except QueueExhausted as error:
                # A file or stdin standing in for the queue is read to its end: finish what is in flight
                logger.info("no more messages: %s", error)
                self.stop.set()
                break
            except ConsumeError as error:
                self.consumer.middleware.receive_failed(error)
                failures += 1
                delay = min(2 ** (failures - 1), MAX_RECEIVE_BACKOFF_SECONDS) * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not secrecy)
                logger.warning("receive failed (%d in a row), retrying in %.1fs: %s", failures, delay, error)
                self.stop.wait(delay)
                continue
            failures = 0
            for message in messages:
                self.in_flight.add(message)
                self.work.put(message)

    def work_loop(self) -> None:
        while True:
            message = self.work.get()
            if message is _STOP:
                return
            if self.stop.is_set():
                # Not started before shutdown: hand it back to the queue instead of holding it
                self.in_flight.handled(message)
                self.done.put(message)
                continue
            result = self.dispatcher.handle_message(message)
            self.in_flight.handled(message)
            self.done.put(result)

    def settle_loop(self) -> None:
        # A message can wait up to interval + poll for its extension; that must stay well inside the
        # visibility timeout, short ones included (the floor only stops a 0 s timeout from spinning)
        heartbeat_interval = max(self.visibility_timeout / 3, 0.2)
        while True:
            try:
                first = self.done.get(timeout=min(heartbeat_interval / 2, 1.0))
            except queue.Empty:
                self.heartbeat(heartbeat_interval)
                continue
            if first is _STOP:
                return
            batch = [first]
            stopping = self.collect(batch)
            self.settle(batch)
            self.heartbeat(heartbeat_interval)
            if stopping:
                return

    def collect(self, batch: list[Any]) -> bool:
        """Add results to `batch` until it is full, nothing else is running, or the linger passes."""
        deadline = time.monotonic() + SETTLE_LINGER_SECONDS
        while len(batch) < SQS_MAX_BATCH and len(batch) < len(self.in_flight):
            remaining = deadline - time.monotonic()
            try:
                item = self.done.get(timeout=max(remaining, 0)) if remaining > 0 else self.done.get_nowait()
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            batch.append(item)
        return False

    def settle(self, batch: list[Any]) -> None:
        results = [item for item in batch if isinstance(item, MessageHandlingResult)]
        released = [item for item in batch if isinstance(item, SQSMessage)]
        try:
            self.dispatcher.settle(results, release=released)
        except Exception:
            # A settle that fails leaves the messages to come back after their visibility timeout
            logger.exception("settling %d messages failed", len(batch))
        for result in results:
            self.counts[result.outcome.value] = self.counts.get(result.outcome.value, 0) + 1
        self.in_flight.remove([result.message for result in results] + released)

    def heartbeat(self, interval: float) -> None:
        due = self.in_flight.due(interval)
        if due:
            self.consumer.change_visibility_batch([(message, self.visibility_timeout) for message in due])

    def drain(self, workers: list[threading.Thread], settler: threading.Thread) -> None:
        timeout = self.dispatcher.shutdown_timeout_seconds
        in_flight = len(self.in_flight)
        if in_flight:
            logger.info("waiting up to %.0fs for %d messages in flight", timeout, in_flight)
        finished = self.in_flight.wait_until_empty(timeout)
        for _ in workers:
            self.work.put(_STOP)
        self.done.put(_STOP)
        settler.join(timeout=10)
        if not finished:
            logger.warning(
                "%d messages were still being handled at shutdown; they return to the queue after "
                "their visibility timeout", len(self.in_flight),
            )
