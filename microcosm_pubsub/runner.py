"""The receive loop: bounded prefetch, handlers on a thread pool, batched settling, visibility heartbeat."""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.deadletter import RedrivePolicy
from microcosm_pubsub.errors import ConfigurationError, ConsumeError, QueueExhausted
from microcosm_pubsub.inflight import InFlight
from microcosm_pubsub.limits import SQS_MAX_BATCH
from microcosm_pubsub.message import SQSMessage
from microcosm_pubsub.result import MessageHandlingResult
from microcosm_pubsub.stopping import RunnerSettings


logger = logging.getLogger("microcosm_pubsub.runner")

# Waiting this long for more results before a settle call trades a little latency for fuller batches
SETTLE_LINGER_SECONDS = 0.02
# An unreachable or throttling endpoint is retried after 1, 2, 4... seconds, at most this many
MAX_RECEIVE_BACKOFF_SECONDS = 30.0
# SQS's default queue visibility timeout, when the queue's own cannot be read
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30

# What SQS answers for a queue that does not exist (query and JSON protocols)
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})

_STOP = object()


class Runner:
    """Runs `dispatcher` over `consumer` until `stop` is set, then drains what is in flight."""

    def __init__(
        self, dispatcher: Any, consumer: Any, concurrency: int, stop: threading.Event,
        settings: RunnerSettings | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.dispatcher = dispatcher
        self.consumer = consumer
        self.concurrency = concurrency
        self.stop = stop
        self.settings = settings or RunnerSettings()
        capacity = self.settings.max_in_flight or max(consumer.limit, 2 * concurrency)
        # One more receive's worth may wait for its batched delete while the next receive goes out
        self.in_flight = InFlight(capacity, settling=consumer.limit)
        self.work: queue.Queue[Any] = queue.Queue()
        self.done: queue.Queue[Any] = queue.Queue()
        self.visibility_timeout = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
        self.counts: dict[str, int] = {}
        self.stop_condition = self.settings.stop_condition()
        # Whether the queue's settings were read; an unreachable endpoint at start leaves it to the first receive
        self.prepared = False
        # Since when receives have failed without a success between (monotonic clock)
        self.failing_since: float | None = None
        # Why the loop gave up, when it did: the daemon exits non-zero with it
        self.failure: str | None = None
        # Why an opt-in stop condition stopped the loop
        self.stopped_because: str | None = None

    def run(self) -> None:
        if not self.prepared:
            self.prepare()
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

    def prepare(self) -> None:
        """Read the queue's visibility timeout and redrive policy once.

        :raises ConfigurationError: when the queue does not exist
        """
        queue_url = self.consumer.queue_url
        try:
            attributes = self.consumer.queue_attributes(["VisibilityTimeout", "RedrivePolicy"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING_QUEUE_CODES:
                raise ConfigurationError(
                    f"queue {queue_url} does not exist: create it (`pubsub provision`, or `pubsub local` "
                    "for the local endpoint) or fix sqs_consumer.sqs_queue_url / --sqs-queue-url"
                ) from error
            logger.warning("cannot read the queue's attributes, assuming a %ss visibility timeout and no "
                           "redrive policy: %s", DEFAULT_VISIBILITY_TIMEOUT_SECONDS, error)
            self.prepared = True
            return
        except BotoCoreError as error:
            # Unreachable for now: the receive loop retries, and reads the attributes after its first receive
            logger.warning("cannot reach the queue %s yet: %s", queue_url, error)
            self.failing_since = self.failing_since or time.monotonic()
            return
        except (KeyError, TypeError) as error:
            logger.warning("unexpected queue attributes, assuming a %ss visibility timeout: %s",
                           DEFAULT_VISIBILITY_TIMEOUT_SECONDS, error)
            self.prepared = True
            return
        self.prepared = True
        try:
            self.visibility_timeout = int(attributes.get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT_SECONDS))
        except (TypeError, ValueError):
            self.visibility_timeout = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
        policy = RedrivePolicy.from_attributes(attributes)
        if policy is not None:
            self.dispatcher.follow_redrive_policy(policy)

    def receive_loop(self) -> None:
        failures = 0
        while not self.stop.is_set():
            reason = self.stop_condition.reason(len(self.in_flight), time.monotonic())
            if reason:
                self.stopped_because = reason
                logger.info("stopping: %s", reason)
                self.stop.set()
                break
            budget = self.stop_condition.budget()
            if budget is not None and budget < 1:
                # Received all it may: wait for those to be handled and settled, then the condition stops the loop
                self.in_flight.wait_until_empty(timeout=1.0)
                continue
            free = self.in_flight.wait_for_room(timeout=1.0)
            if free < 1 or self.stop.is_set():
                continue
            if budget is not None:
                free = min(free, budget)
            try:
                messages = self.consumer.consume(limit=min(free, SQS_MAX_BATCH))
            except QueueExhausted as error:
                # A file or stdin standing in for the queue is read to its end: finish what is in flight
                logger.info("no more messages: %s", error)
                # A file cannot take back what was read: handle and settle it all before stopping
                while not self.stop.is_set() and not self.in_flight.wait_until_empty(timeout=1.0):
                    pass
                self.stop.set()
                break
            except ConsumeError as error:
                self.consumer.middleware.receive_failed(error)
                failures += 1
                now = time.monotonic()
                self.failing_since = self.failing_since or now
                bound = self.settings.unreachable_exit_seconds
                if bound and now - self.failing_since >= bound:
                    self.failure = (
                        f"no receive succeeded for {now - self.failing_since:.0f}s "
                        f"(pubsub_runner.unreachable_exit_seconds={bound:g}); check the endpoint and the queue: {error}"
                    )
                    self.stop.set()
                    break
                delay = min(2 ** (failures - 1), MAX_RECEIVE_BACKOFF_SECONDS) * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not secrecy)
                if bound:
                    # Wake up for the bound rather than sleep past it
                    delay = min(delay, max(bound - (now - self.failing_since), 0.1))
                logger.warning("receive failed (%d in a row), retrying in %.1fs: %s", failures, delay, error)
                self.stop.wait(delay)
                continue
            failures = 0
            self.failing_since = None
            if not self.prepared:
                self.prepare()
            self.stop_condition.received(len(messages), time.monotonic())
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
        while True:
            # Read each turn: the queue's timeout may be learnt after the loop started (an endpoint down at start)
            heartbeat_interval = max(self.visibility_timeout / 3, 0.2)
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
        timeout = self.settings.shutdown_timeout_seconds
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
