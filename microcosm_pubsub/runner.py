"""The receive loop: full receives, handlers on a thread pool, batched settling, visibility heartbeat.

Pollers receive ten at a time whenever ten fit (handlers + one receive's worth are held unhandled),
handler threads take messages one by one, and one settler deletes in batches of ten, closing a
batch early only when nothing else waits for or runs in a handler, or when its oldest result has
waited one heartbeat interval (a third of the visibility timeout). At stop, a poll still waiting
is left behind after `POLL_GRACE_SECONDS`: whatever it returns later is made visible again.
"""
from __future__ import annotations

import logging
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
from microcosm_pubsub.ordering import pending_for
from microcosm_pubsub.result import MessageHandlingResult
from microcosm_pubsub.stopping import RunnerSettings


logger = logging.getLogger("microcosm_pubsub.runner")

# At stop, a long poll still waiting gets this long to come back; after it the runner leaves it behind
POLL_GRACE_SECONDS = 0.5
# One poller per three receives' worth of handler threads (a second one from 60): on a shallow
# queue parallel polls come back part-full (more calls for the same messages) and gained nothing at
# concurrency 32 on the local endpoint; on an in-memory SQS three pollers gained about 10 %
POLLER_PER_RECEIVES = 3
MAX_POLLERS = 4
# An unreachable or throttling endpoint is retried after 1, 2, 4... seconds, at most this many
MAX_RECEIVE_BACKOFF_SECONDS = 30.0
# SQS's default queue visibility timeout, when the queue's own cannot be read
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30

# What SQS answers for a queue that does not exist (query and JSON protocols)
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


def poller_count(concurrency: int, batch: int) -> int:
    """Receives in parallel: one per three receives' worth of handler threads, 1 to `MAX_POLLERS`."""
    return max(1, min(MAX_POLLERS, concurrency // (POLLER_PER_RECEIVES * max(batch, 1))))


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
        # A whole receive at a time: ten, or fewer when the consumer's limit says so
        self.batch = min(int(consumer.limit), SQS_MAX_BATCH)
        # Handlers plus one receive's worth wait for or run in a handler
        capacity = self.settings.max_in_flight or concurrency + self.batch
        # On a FIFO queue, one message per group at a time, in order (ordering.py). A receive there may bring
        # ten of one group, run one by one: room for a receive's worth per thread lets the threads find other groups
        pending = pending_for(getattr(consumer, "sqs_queue_url", None), getattr(dispatcher, "action", None))
        grouped = 0 if pending is None else concurrency * self.batch
        # Two receives' worth more may be handled and waiting for their batched delete: one batch in its
        # delete call and the next filling, while the next receive goes out
        self.in_flight = InFlight(capacity, settling=2 * self.batch + grouped, pending=pending)
        # Receive when a whole receive fits beside the handlers; a capacity set below that receives as slots free
        self.receive_at_least = max(1, min(self.batch, capacity - concurrency))
        self.visibility_timeout = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
        self.counts: dict[str, int] = {}
        self.stop_condition = self.settings.stop_condition()
        # Stop conditions count receives, and a file or stdin is read in order: those take one poller
        sequential = self.settings.stop_when_idle_seconds is not None or self.settings.max_messages is not None
        self.pollers = 1 if sequential else poller_count(concurrency, self.batch)
        # Guards the stop condition and the first `prepare` between pollers
        self.poll_lock = threading.Lock()
        # The dispatcher's look-ups for a whole receive (`SQSMessageDispatcher.prepare`); without, done per call
        self.prepare_messages: Any = getattr(dispatcher, "prepare", None)
        # Whether the poller handles its own receives (set by `run`)
        self.inline = False
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
        if self.pollers > 1 and not getattr(self.consumer, "receives_in_parallel", False):
            # A file, stdin or a Lambda event stands in for the queue: read it in order
            self.pollers = 1
        # At concurrency 1 the poller handles what it received itself: no hand-off, one thread fewer
        # contending for the GIL; the settler still deletes while the next receive goes out
        self.inline = self.concurrency == 1 and self.pollers == 1
        workers = [
            threading.Thread(target=self.work_loop, name=f"pubsub-handler-{index}", daemon=True)
            for index in range(0 if self.inline else self.concurrency)
        ]
        settler = threading.Thread(target=self.settle_loop, name="pubsub-settler", daemon=True)
        # Daemon threads: a poll left behind at stop must not keep the process alive
        pollers = [
            threading.Thread(target=self.receive_loop, name=f"pubsub-poller-{index}", daemon=True)
            for index in range(self.pollers)
        ]
        for thread in [*workers, settler, *pollers]:
            thread.start()
        try:
            while not self.stop.wait(1.0):
                pass
        finally:
            self.drain(workers, settler, pollers)

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
            with self.poll_lock:
                reason = self.stop_condition.reason(len(self.in_flight), time.monotonic())
                if reason:
                    self.stopped_because = self.stopped_because or reason
                    logger.info("stopping: %s", reason)
                    self.stop.set()
                    break
                budget = self.stop_condition.budget()
            if budget is not None and budget < 1:
                # Received all it may: wait for those to be handled and settled, then the condition stops the loop
                self.in_flight.wait_until_empty(timeout=1.0)
                continue
            most = self.batch if budget is None else min(self.batch, budget)
            reserved = self.in_flight.reserve(min(self.receive_at_least, most), timeout=1.0, most=most)
            if not reserved:
                continue
            try:
                messages = self.consumer.consume(limit=reserved)
            except QueueExhausted as error:
                self.in_flight.received([], reserved)
                # A file or stdin standing in for the queue is read to its end: finish what is in flight
                logger.info("no more messages: %s", error)
                # A file cannot take back what was read: handle and settle it all before stopping
                while not self.stop.is_set() and not self.in_flight.wait_until_empty(timeout=1.0):
                    pass
                self.stop.set()
                break
            except ConsumeError as error:
                self.in_flight.received([], reserved)
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
            if messages and self.prepare_messages is not None:
                # The look-ups for the whole receive at once, here: between handler calls only the calls run
                self.prepare_messages(messages)
            refused = self.in_flight.received(messages, reserved)
            if refused:
                # Back while stopping: visible again at once rather than after the visibility timeout
                self.release(refused)
                break
            with self.poll_lock:
                if not self.prepared:
                    self.prepare()
                self.stop_condition.received(len(messages), time.monotonic())
            if self.inline:
                self.handle_pending()

    def release(self, messages: list[SQSMessage]) -> None:
        """Make received messages visible again now: nothing handled them."""
        try:
            self.consumer.change_visibility_batch([(message, 0) for message in messages])
        except Exception:
            logger.exception("releasing %d messages failed; they come back after their visibility timeout",
                             len(messages))

    def work_loop(self, wait: bool = True) -> None:
        """Take messages one by one, handle each, pass on its result; until closing (or nothing pending)."""
        finished: Any = None
        while True:
            message = self.in_flight.next_message(finished, wait=wait)
            if message is None:
                return
            if self.stop.is_set():
                # Not started before shutdown: hand it back to the queue instead of holding it
                finished = message
                continue
            finished = self.dispatcher.handle_message(message)

    def handle_pending(self) -> None:
        """The poller's own handler turn: what it received, then back to receiving."""
        self.work_loop(wait=False)

    def settle_loop(self) -> None:
        # A message can wait up to interval + poll for its extension; that must stay well inside the
        # visibility timeout, short ones included (the floor only stops a 0 s timeout from spinning)
        while True:
            # Read each turn: the queue's timeout may be learnt after the loop started (an endpoint down at start)
            heartbeat_interval = max(self.visibility_timeout / 3, 0.2)
            # A handled message waits at most one heartbeat interval for a fuller batch
            batch = self.in_flight.settle_batch(max_wait=heartbeat_interval, timeout=min(heartbeat_interval / 2, 1.0))
            if batch is None:
                return
            if batch:
                self.settle(batch)
            self.heartbeat(heartbeat_interval)

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
        self.in_flight.settled([result.message for result in results] + released)

    def heartbeat(self, interval: float) -> None:
        due = self.in_flight.due(interval)
        if due:
            self.consumer.change_visibility_batch([(message, self.visibility_timeout) for message in due])

    def drain(self, workers: list[threading.Thread], settler: threading.Thread,
              pollers: list[threading.Thread] | None = None) -> None:
        """Hand back what no handler started, finish what runs (up to the shutdown timeout), settle, leave."""
        self.in_flight.close()
        # A poll still waiting (a long poll on a quiet queue) is not waited out: what it returns later
        # is released by its thread; past the grace the process may exit and SQS keeps the messages
        deadline = time.monotonic() + POLL_GRACE_SECONDS
        for poller in pollers or []:
            poller.join(max(deadline - time.monotonic(), 0))
        timeout = self.settings.shutdown_timeout_seconds
        in_flight = len(self.in_flight)
        if in_flight:
            logger.info("waiting up to %.0fs for %d messages in flight", timeout, in_flight)
        finished = self.in_flight.wait_until_empty(timeout)
        self.in_flight.shut()
        settler.join(timeout=10)
        if not finished:
            logger.warning(
                "%d messages were still being handled at shutdown; they return to the queue after "
                "their visibility timeout", len(self.in_flight),
            )
