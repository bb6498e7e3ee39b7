"""The receive loop: full receives, handlers on a thread pool, batched settling, visibility heartbeat."""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.aws.faults import lasting_fault, unknown_region
from microcosm_pubsub.consume.deadletter import RedrivePolicy
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Action, MessageHandlingResult
from microcosm_pubsub.effects.idempotency import Idempotency
from microcosm_pubsub.middleware.chain import MiddlewareChain
from microcosm_pubsub.runtime.async_lane import AsyncLane, HandlesAsync
from microcosm_pubsub.runtime.inflight import InFlight
from microcosm_pubsub.runtime.ordering import Finished, pending_for
from microcosm_pubsub.runtime.stopping import RunnerSettings
from microcosm_pubsub.wire.errors import ConfigurationError, ConsumeError, QueueExhausted
from microcosm_pubsub.wire.limits import SQS_MAX_BATCH


logger = logging.getLogger("microcosm_pubsub.runner")

# At stop, a long poll still waiting gets its wait_seconds and this long more to come back (a slow answer)
POLL_RETURN_MARGIN_SECONDS = 3.0
# The exit status of a daemon that stopped on a fault retrying cannot heal (credentials, permissions, region)
LASTING_FAULT_STATUS = 2
# One poller per three receives' worth of handler threads: on a shallow queue more polls come back part-full
POLLER_PER_RECEIVES = 3
MAX_POLLERS = 4
# An unreachable or throttling endpoint is retried after 1, 2, 4... seconds, at most this many
MAX_RECEIVE_BACKOFF_SECONDS = 30.0
# SQS's default queue visibility timeout, when the queue's own cannot be read
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30
# What SQS answers for a queue that does not exist (query and JSON protocols)
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


class Receiver(Protocol):
    """What the runner asks of the consumer (`SQSConsumer`): receives, queue facts, visibility changes."""

    limit: int
    wait_seconds: int
    sqs_queue_url: str | None
    middleware: MiddlewareChain

    @property
    def queue_url(self) -> str: ...
    @property
    def client(self) -> Any: ...
    @property
    def receives_in_parallel(self) -> bool: ...
    def queue_attributes(self, names: Sequence[str]) -> dict[str, Any]: ...
    def consume(self, limit: int | None = None, wait_seconds: int | None = None) -> list[SQSMessage]: ...
    def change_visibility_batch(self, settings: Sequence[tuple[SQSMessage, int]]) -> list[SQSMessage]: ...


class Dispatcher(HandlesAsync, Protocol):
    """What the runner asks of the dispatcher (`SQSMessageDispatcher`): handle, decide, settle."""

    max_processing_attempts: int | None

    def prepare(self, messages: Sequence[SQSMessage]) -> None: ...
    def handle_message(self, message: SQSMessage) -> MessageHandlingResult: ...
    def all_handlers_async(self) -> bool: ...
    def action(self, result: MessageHandlingResult) -> Action: ...
    def settle(self, results: Sequence[MessageHandlingResult], release: Sequence[SQSMessage] = ()) -> None: ...
    def follow_redrive_policy(self, policy: RedrivePolicy) -> None: ...


class Runner:
    """Runs `dispatcher` over `consumer` until `stop` is set, then drains what is in flight.

    Pollers receive whenever a whole receive fits, handler threads take messages one by one, one settler
    deletes in batches of ten. At stop, what no handler started goes back at once, but for messages on
    their last try (`last_try`).
    """

    def __init__(
        self, dispatcher: Dispatcher, consumer: Receiver, concurrency: int, stop: threading.Event,
        settings: RunnerSettings | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.dispatcher, self.consumer, self.concurrency, self.stop = dispatcher, consumer, concurrency, stop
        self.settings = settings or RunnerSettings()
        self.batch = min(int(consumer.limit), SQS_MAX_BATCH)
        capacity = self.settings.max_in_flight or concurrency + self.batch
        # A FIFO receive may bring ten of one group, run one by one: a receive's worth per thread finds other groups
        pending = pending_for(consumer.sqs_queue_url, dispatcher.action)
        grouped = 0 if pending is None else concurrency * self.batch
        # A group's later message may not be handled while an earlier one goes back: nothing is kept at stop
        self.keep_at_stop = self.last_try if pending is None else None
        # Two receives' worth more may wait for their batched delete: one in its delete call, one filling
        self.in_flight = InFlight(capacity, settling=2 * self.batch + grouped, pending=pending)
        self.receive_at_least = max(1, min(self.batch, capacity - concurrency))
        self.visibility_timeout = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
        self.counts: dict[str, int] = {}
        self.stop_condition = self.settings.stop_condition()
        sequential = self.settings.stop_when_idle_seconds is not None or self.settings.max_messages is not None
        per_poller = POLLER_PER_RECEIVES * max(self.batch, 1)
        self.pollers = 1 if sequential else max(1, min(MAX_POLLERS, concurrency // per_poller))
        self.poll_lock = threading.Lock()
        self.inline = False
        self.prepared = False
        self.failing_since: float | None = None
        self.failure: str | None = None
        self.failure_status = 1
        self.max_receive_count: int | None = None
        self.lane: AsyncLane | None = None
        # Idempotent handlings' leases last as long as their messages' visibility, and are extended with it
        leases = getattr(dispatcher, "idempotency", None)
        self.leases = leases if isinstance(leases, Idempotency) else None
        self.effects_checked = False

    def run(self) -> None:
        if not self.prepared:
            self.prepare()
        if self.pollers > 1 and not self.consumer.receives_in_parallel:
            # A file, stdin or a Lambda event stands in for the queue: read it in order
            self.pollers = 1
        if self.dispatcher.all_handlers_async():
            self.lane = AsyncLane(self.dispatcher, self.in_flight, self.concurrency, self.hands_back)
        # At concurrency 1 the poller handles what it received itself: one thread fewer contending for the GIL
        self.inline = self.lane is None and self.concurrency == 1 and self.pollers == 1
        workers = [
            threading.Thread(target=self.work_loop, name=f"pubsub-handler-{index}", daemon=True)
            for index in range(0 if self.inline or self.lane is not None else self.concurrency)
        ]
        settler = threading.Thread(target=self.settle_loop, name="pubsub-settler", daemon=True)
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
            self.drain(settler, pollers)

    def prepare(self) -> None:
        """Read the queue's visibility timeout and redrive policy once; `ConfigurationError` if it does not exist."""
        check = getattr(self.dispatcher, "check_idempotency", None)
        if not self.effects_checked and callable(check):
            # A missing table or an unreachable store stops the start, not the first message
            check()
            self.effects_checked = True
        queue_url = self.consumer.queue_url
        try:
            region = unknown_region(self.consumer.client, queue_url)
        except (BotoCoreError, ClientError) as error:
            if (region := lasting_fault(error, queue_url)) is None:
                raise
        if region:
            raise ConfigurationError(region)
        try:
            attributes = self.consumer.queue_attributes(["VisibilityTimeout", "RedrivePolicy"])
        except ClientError as error:
            # A permission missing here is not fatal (receiving may still be allowed); bad credentials are
            if lasting := lasting_fault(error, queue_url, denied_heals=True):
                raise ConfigurationError(lasting) from error
            if error.response.get("Error", {}).get("Code") in MISSING_QUEUE_CODES:
                raise ConfigurationError(
                    f"queue {queue_url} does not exist: create it (`pubsub provision`, or `pubsub local` "
                    "for the local endpoint) or fix sqs_consumer.sqs_queue_url / --sqs-queue-url"
                ) from error
            logger.warning("cannot read the queue's attributes, assuming a %ss visibility timeout and no "
                           "redrive policy: %s", DEFAULT_VISIBILITY_TIMEOUT_SECONDS, error)
            attributes = {}
        except BotoCoreError as error:
            if lasting := lasting_fault(error, queue_url):
                raise ConfigurationError(lasting) from error
            # Unreachable for now: the receive loop retries, and reads the attributes after its first receive
            logger.warning("cannot reach the queue %s yet: %s", queue_url, error)
            self.failing_since = self.failing_since or time.monotonic()
            return
        except (KeyError, TypeError) as error:
            logger.warning("unexpected queue attributes, assuming a %ss visibility timeout: %s",
                           DEFAULT_VISIBILITY_TIMEOUT_SECONDS, error)
            attributes = {}
        self.prepared = True
        try:
            self.visibility_timeout = int(attributes.get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT_SECONDS))
        except (TypeError, ValueError):
            self.visibility_timeout = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
        if self.leases is not None:
            self.leases.learn_lease(self.visibility_timeout)
        policy = RedrivePolicy.from_attributes(attributes)
        if policy is not None:
            self.max_receive_count = policy.max_receive_count
            self.dispatcher.follow_redrive_policy(policy)

    def last_try(self, message: SQSMessage) -> bool:
        """Whether `message` is on its last try: released unhandled, it would leave the queue without a reason.

        SQS's redrive moves it past maxReceiveCount; past message_max_processing_attempts it expires unhandled.
        """
        attempts = self.dispatcher.max_processing_attempts
        limits = [limit for limit in (self.max_receive_count, attempts) if isinstance(limit, int) and limit > 0]
        return bool(limits) and message.approximate_receive_count >= min(limits)

    def receive_loop(self) -> None:
        failures = 0
        while not self.stop.is_set():
            with self.poll_lock:
                if reason := self.stop_condition.reason(len(self.in_flight), time.monotonic()):
                    logger.info("stopping: %s", reason)
                    self.stop.set()
                    break
                budget = self.stop_condition.budget()
            if budget is not None and budget < 1:
                # Received all it may: wait for those to be settled, then the condition stops the loop
                self.in_flight.wait_until_empty(timeout=1.0)
                continue
            most = self.batch if budget is None else min(self.batch, budget)
            reserved = self.in_flight.reserve(min(self.receive_at_least, most), timeout=1.0, most=most)
            if not reserved:
                continue
            if self.stop.is_set():
                # Stopped while waiting for room: a receive started now would only bring messages to hand back
                self.in_flight.received([], reserved)
                break
            try:
                messages = self.consumer.consume(limit=reserved)
            except QueueExhausted as error:
                self.in_flight.received([], reserved)
                logger.info("no more messages: %s", error)
                # A file cannot take back what was read: handle and settle it all before stopping
                while not self.stop.is_set() and not self.in_flight.wait_until_empty(timeout=1.0):
                    pass
                self.stop.set()
                break
            except ConsumeError as error:
                self.in_flight.received([], reserved)
                self.consumer.middleware.receive_failed(error)
                lasting = None if error.__cause__ is None else lasting_fault(error.__cause__, self.consumer.queue_url)
                if lasting:
                    self.failure, self.failure_status = lasting, LASTING_FAULT_STATUS
                    self.stop.set()
                    break
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
                    delay = min(delay, max(bound - (now - self.failing_since), 0.1))
                logger.warning("receive failed (%d in a row), retrying in %.1fs: %s", failures, delay, error)
                self.stop.wait(delay)
                continue
            failures = 0
            self.failing_since = None
            if messages:
                self.dispatcher.prepare(messages)
            if refused := self.in_flight.received(messages, reserved):
                self.release(refused)
            if self.in_flight.closing:
                break
            with self.poll_lock:
                if not self.prepared:
                    try:
                        self.prepare()
                    except ConfigurationError as error:
                        # Deferred from the start by an unreachable endpoint: as fatal now as it would have been then
                        self.failure, self.failure_status = str(error), LASTING_FAULT_STATUS
                        self.stop.set()
                self.stop_condition.received(len(messages), time.monotonic())
            if self.inline:
                self.work_loop(wait=False)
        # Pending messages go back, or are handled on their last try, here: at concurrency 1 no handler thread is left
        if self.lane is None:
            self.work_loop(wait=False)

    def release(self, messages: list[SQSMessage]) -> None:
        """Make received messages visible again now: nothing handled them."""
        log_released(messages)
        try:
            self.consumer.change_visibility_batch([(message, 0) for message in messages])
        except Exception:
            logger.exception("releasing %d messages failed; they come back after their visibility timeout",
                             len(messages))

    def work_loop(self, wait: bool = True) -> None:
        """Take messages one by one, handle each, pass on its result; until closing (or nothing pending)."""
        finished: Finished | None = None
        while (message := self.in_flight.next_message(finished, wait=wait)) is not None:
            finished = message if self.hands_back(message) else self.dispatcher.handle_message(message)

    def hands_back(self, message: SQSMessage) -> bool:
        """Not started before shutdown: back to the queue instead of held, unless it is on its last try."""
        return self.stop.is_set() and not self.last_try(message)

    def settle_loop(self) -> None:
        while True:
            # Read each turn (the timeout may be learnt late); the floor stops a 0 s timeout from spinning
            heartbeat_interval = max(self.visibility_timeout / 3, 0.2)
            batch = self.in_flight.settle_batch(max_wait=heartbeat_interval, timeout=min(heartbeat_interval / 2, 1.0))
            if batch is None:
                return
            if batch:
                self.settle(batch)
            if due := self.in_flight.due(heartbeat_interval):
                self.consumer.change_visibility_batch([(message, self.visibility_timeout) for message in due])
                if self.leases is not None:
                    self.leases.extend(due, self.visibility_timeout)

    def settle(self, batch: list[Finished]) -> None:
        results = [item for item in batch if isinstance(item, MessageHandlingResult)]
        released = [item for item in batch if isinstance(item, SQSMessage)]
        if released:
            log_released(released)
        try:
            self.dispatcher.settle(results, release=released)
        except Exception:
            logger.exception("settling %d messages failed", len(batch))
        for result in results:
            self.counts[result.outcome.value] = self.counts.get(result.outcome.value, 0) + 1
        self.in_flight.settled([result.message for result in results] + released)

    def drain(self, settler: threading.Thread, pollers: list[threading.Thread]) -> None:
        """Hand back what no handler started, wait for the open polls, finish what runs, settle, leave.

        Handlers get `shutdown_timeout_seconds` from the stop; polls their `wait_seconds` (and a margin) meanwhile.
        """
        stopped = time.monotonic()
        self.in_flight.close(keep=self.keep_at_stop)
        timeout = self.settings.shutdown_timeout_seconds
        if in_flight := len(self.in_flight):
            logger.info("waiting up to %.0fs for %d messages in flight", timeout, in_flight)
        # SQS serves a poll still open after the exit, hiding what it returns: its thread releases that instead
        deadline = stopped + self.consumer.wait_seconds + POLL_RETURN_MARGIN_SECONDS
        for poller in pollers:
            poller.join(max(deadline - time.monotonic(), 0))
        if left := sum(poller.is_alive() for poller in pollers):
            logger.warning(
                "%d pollers still busy %.0fs after stopping (a receive open, or at concurrency 1 a handler) are "
                "left behind: what a receive returns now stays hidden for the queue's visibility timeout",
                left, time.monotonic() - stopped,
            )
        finished = self.in_flight.wait_until_empty(max(stopped + timeout - time.monotonic(), 0))
        self.in_flight.shut()
        settler.join(timeout=10)
        if not finished:
            logger.warning(
                "%d messages were still being handled at shutdown; they return to the queue after "
                "their visibility timeout", len(self.in_flight),
            )


def log_released(messages: list[SQSMessage]) -> None:
    """Say which messages went back unhandled: each used a receive, which counts towards its queue's limits."""
    logger.info(
        "released %d messages unhandled (visible again now; each used one receive): %s",
        len(messages),
        ", ".join(f"{message.message_id} receive_count={message.approximate_receive_count}" for message in messages),
    )
