"""The runner in-process with a real daemon graph: completeness, the concurrency bound, the heartbeat, settling.

Each behaviour runs on the in-memory double; one end-to-end path per feature (completeness, the
heartbeat, the open poll at stop) runs on the local endpoint too.
"""
from __future__ import annotations

import threading
import time
import unittest
from collections import Counter
from typing import Any

from hamcrest import (
    assert_that,
    contains_inanyorder,
    empty,
    equal_to,
    greater_than,
    is_,
    less_than_or_equal_to,
)
from marshmallow import fields
from microcosm.api import load_from_dict

from microcosm_pubsub.aws.memory import MemoryAWS
from microcosm_pubsub.aws.provisioning import Stack, provision
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.runtime.runner import POLL_RETURN_MARGIN_SECONDS
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.testing.queues import admin_clients
from microcosm_pubsub.tests import fixtures


MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.runner.job"
# Bounds for waits on the runner's threads; only a broken runner comes near them
WAIT_SECONDS = 20.0
# The long poll of the tests that stop the runner while it waits
POLL_SECONDS = 2

SNS: Any = None
SQS: Any = None
# Named so that the graph builds no stub clients; the double is assigned in their place before any call
MEMORY_URL = "http://in-memory.invalid"


@schema
class JobSchema(PubSubMessageSchema):
    MEDIA_TYPE = MEDIA_TYPE

    name = fields.String(required=True)


def setUpModule() -> None:
    global SNS, SQS
    # The toolkit's clients for the endpoint: built once per process, closed at exit
    SNS, SQS = admin_clients(fixtures.endpoint())


class Handler:
    """Records the names it handled; optionally waits for `gate` first, counting how many wait at once."""

    def __init__(self, gate: threading.Event | None = None, gate_timeout: float = WAIT_SECONDS) -> None:
        self.gate = gate
        self.gate_timeout = gate_timeout
        self.lock = threading.Lock()
        self.handled: list[str] = []
        self.running = 0
        self.max_running = 0

    def __call__(self, message: dict[str, Any]) -> bool:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.gate is not None:
                self.gate.wait(self.gate_timeout)
        finally:
            with self.lock:
                self.running -= 1
                self.handled.append(message["name"])
        return True


class RunnerTestCase(unittest.TestCase):
    """Helpers: each test's stack and daemon graph on the in-memory double, or on the local endpoint."""

    on_endpoint = False

    def setUp(self) -> None:
        self.world = None if self.on_endpoint else MemoryAWS()
        self.sns: Any = SNS if self.world is None else self.world.sns
        self.sqs: Any = SQS if self.world is None else self.world.sqs

    def make_stack(self, visibility_timeout: int = 30, **kwargs: Any) -> Stack:
        # No redrive unless asked: these tests count every delivery themselves
        kwargs.setdefault("dead_letter", False)
        return provision(
            self.sns, self.sqs, fixtures.unique_name("runner"), visibility_timeout=visibility_timeout, **kwargs,
        )

    def create_daemon(self, stack: Stack, **sqs_consumer: Any) -> ConsumerDaemon:
        """A daemon graph on `stack`, its clients those of the double or the endpoint."""
        if self.world is None:
            config = fixtures.graph_config(stack, sqs_consumer=sqs_consumer)
        else:
            config = {
                "sns_producer": {"endpoint_url": MEMORY_URL, "region_name": "us-east-1"},
                "sqs_consumer": {"endpoint_url": MEMORY_URL, "region_name": "us-east-1", "wait_seconds": 1,
                                 "sqs_queue_url": stack.queue_url, **sqs_consumer},
                "sns_topic_arns": {"default": stack.topic_arn},
            }
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict(config))
        if self.world is not None:
            daemon.graph.assign("sns_client", self.world.sns)
            daemon.graph.assign("sqs_client", self.world.sqs)
            # The producer took its client when the graph was built
            daemon.graph.sns_producer.client = self.world.sns
        return daemon

    def make_daemon(self, stack: Stack, handler: Handler, concurrency: int = 1) -> ConsumerDaemon:
        """A started daemon graph on `stack` with `handler`; its runner not yet running."""
        daemon = self.create_daemon(stack, concurrency=concurrency)
        daemon.graph.sqs_message_handler_registry.register(MEDIA_TYPE, handler)
        daemon.start()
        # Built here, before the runner's threads race to build it (microcosm's graph is not thread-safe)
        daemon.graph.use("sqs_client")
        return daemon

    def run_daemon(
        self, stack: Stack, handler: Handler, concurrency: int = 1, daemon: ConsumerDaemon | None = None,
    ) -> ConsumerDaemon:
        """A daemon graph on `stack` with `handler`, its runner started in a thread and stopped at cleanup."""
        daemon = daemon or self.make_daemon(stack, handler, concurrency)
        assert daemon.runner is not None
        thread = threading.Thread(target=daemon.runner.run, name="runner-under-test", daemon=True)
        thread.start()
        self.addCleanup(self.stop, daemon, thread)
        self.thread = thread
        return daemon

    def stop(self, daemon: ConsumerDaemon, thread: threading.Thread) -> None:
        daemon.stop.set()
        thread.join(WAIT_SECONDS)
        for key, component in list(daemon.graph.items()):
            if key in ("sqs_client", "sns_client"):
                component.close()
        assert_that(thread.is_alive(), is_(False))

    def produce(self, daemon: ConsumerDaemon, names: list[str]) -> None:
        for name in names:
            daemon.graph.sns_producer.produce(MEDIA_TYPE, name=name)

    def check_heartbeat(self, visibility_timeout: int, handler_seconds: float) -> None:
        """Handle one message for `handler_seconds` while another consumer polls the queue all along."""
        stack = self.make_stack(visibility_timeout=visibility_timeout)
        slow = threading.Event()
        handler = Handler(slow, gate_timeout=handler_seconds)
        daemon = self.run_daemon(stack, handler)
        self.addCleanup(slow.set)
        self.produce(daemon, ["slow"])
        fixtures.wait_for(lambda: handler.running == 1, WAIT_SECONDS)
        stolen: list[Any] = []
        while handler.running and not stolen:
            response = self.sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=1)
            stolen.extend(response.get("Messages", []))
        fixtures.wait_for(lambda: len(handler.handled) == 1, WAIT_SECONDS)
        self.stop(daemon, self.thread)
        assert daemon.runner is not None
        assert_that(stolen, is_(empty()))
        assert_that((handler.handled, daemon.runner.counts, fixtures.queue_counts(self.sqs, stack.queue_url)),
                    is_(equal_to((["slow"], {"succeeded": 1}, (0, 0)))))

    def stop_during_open_poll(self, stack: Stack, handler: Handler) -> tuple[ConsumerDaemon, float, int]:
        """Stop the runner while its long poll waits on an empty queue; a second later send a message it receives.

        Returns the daemon, how long the runner took to return after the stop, and how many receives were
        still open when it returned (each would be abandoned by a process exiting then).
        """
        daemon = self.create_daemon(stack, wait_seconds=POLL_SECONDS)
        daemon.graph.sqs_message_handler_registry.register(MEDIA_TYPE, handler)
        daemon.start()
        calls = Counter[str]()
        polling = threading.Event()

        def started(**kwargs: Any) -> None:
            calls["started"] += 1
            polling.set()

        events = daemon.graph.sqs_client.meta.events
        events.register("before-call.sqs.ReceiveMessage", started)
        events.register("after-call.sqs.ReceiveMessage", lambda **_: calls.update(["returned"]))
        runner = daemon.runner
        assert runner is not None
        returned: dict[str, float] = {}

        def run() -> None:
            runner.run()
            # What a process exiting now would abandon
            returned.update(open=calls["started"] - calls["returned"], at=time.monotonic())

        thread = threading.Thread(target=run, name="runner-under-test", daemon=True)
        thread.start()
        self.addCleanup(self.stop, daemon, thread)
        assert_that(polling.wait(WAIT_SECONDS), is_(True))
        stopped = time.monotonic()
        daemon.stop.set()
        # Past the moment the runner used to give up on an open poll
        threading.Event().wait(1.0)
        self.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=JobSchema().dumps({"media_type": MEDIA_TYPE,
                                                                                 "name": "late"}))
        thread.join(WAIT_SECONDS)
        assert_that(thread.is_alive(), is_(False))
        return daemon, returned["at"] - stopped, int(returned["open"])


class MemoryRunnerTests(RunnerTestCase):
    """The runner on the in-memory double."""

    def test_several_pollers_handle_every_message_once(self) -> None:
        """At concurrency 60 (two pollers) every message is handled once and deleted."""
        stack = self.make_stack()
        handler = Handler()
        daemon = self.run_daemon(stack, handler, concurrency=60)
        assert daemon.runner is not None
        names = [f"job-{index}" for index in range(70)]
        self.produce(daemon, names)
        fixtures.wait_for(lambda: len(handler.handled) >= len(names), WAIT_SECONDS)
        self.stop(daemon, self.thread)
        assert_that((daemon.runner.pollers, sorted(handler.handled)), is_(equal_to((2, sorted(names)))))
        assert_that(fixtures.queue_counts(self.sqs, stack.queue_url), is_(equal_to((0, 0))))

    def test_settling_uses_batched_deletes(self) -> None:
        """Results are deleted with DeleteMessageBatch, never one DeleteMessage per message."""
        stack = self.make_stack()
        handler = Handler()
        daemon = self.run_daemon(stack, handler, concurrency=4)
        calls: Counter[str] = Counter()
        deleted: list[str] = []

        def count(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
            calls[model.name] += 1
            if model.name == "DeleteMessageBatch":
                deleted.extend(entry["ReceiptHandle"] for entry in params["Entries"])

        # A botocore event hook on the runner's real client sees every call it makes
        daemon.graph.sqs_client.meta.events.register("before-parameter-build.sqs.*", count)
        names = [f"job-{index}" for index in range(12)]
        self.produce(daemon, names)
        fixtures.wait_for(lambda: len(handler.handled) >= len(names), WAIT_SECONDS)
        self.stop(daemon, self.thread)
        assert_that((calls["DeleteMessage"], len(deleted), len(set(deleted))), is_(equal_to((0, 12, 12))))
        assert_that(calls["DeleteMessageBatch"], is_(less_than_or_equal_to(12)))

    def test_concurrency_and_prefetch_are_bounded(self) -> None:
        """At concurrency 4, at most 4 handlers run at once and in-flight messages stay within their bounds."""
        stack = self.make_stack()
        gate = threading.Event()
        handler = Handler(gate)
        daemon = self.run_daemon(stack, handler, concurrency=4)
        runner = daemon.runner
        assert runner is not None
        samples: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.005):
                samples.append(len(runner.in_flight))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        self.addCleanup(sampler.join, WAIT_SECONDS)
        self.addCleanup(sampling.set)
        self.addCleanup(gate.set)
        # More messages than the capacity, so an unbounded receiver would show
        names = [f"job-{index}" for index in range(runner.in_flight.capacity + 4)]
        self.produce(daemon, names)
        fixtures.wait_for(lambda: handler.running >= 4, WAIT_SECONDS)
        # Give a broken bound the chance to receive and start more before the gate opens
        fixtures.wait_for(lambda: len(runner.in_flight) > runner.in_flight.capacity, timeout=0.5)
        gated = max(samples)
        gate.set()
        fixtures.wait_for(lambda: len(handler.handled) >= len(names), WAIT_SECONDS)
        sampling.set()
        assert_that(handler.max_running, is_(equal_to(4)))
        # While every handler is held nothing is handled, so only `capacity` may be received
        assert_that(gated, is_(less_than_or_equal_to(runner.in_flight.capacity)))
        assert_that(max(samples), is_(less_than_or_equal_to(runner.in_flight.limit)))
        assert_that(gated, is_(greater_than(4)))
        assert_that(sorted(handler.handled), is_(equal_to(sorted(names))))

    def test_heartbeat_keeps_up_with_a_one_second_visibility_timeout(self) -> None:
        """Even a 1 s visibility timeout is extended before it runs out."""
        self.check_heartbeat(visibility_timeout=1, handler_seconds=3.0)

    def test_unstarted_messages_are_released_at_stop(self) -> None:
        """At stop, received messages no handler started are made visible again at once, not held."""
        stack = self.make_stack(visibility_timeout=30)
        gate = threading.Event()
        handler = Handler(gate)
        daemon = self.make_daemon(stack, handler, concurrency=1)
        # Queued before the runner starts, so its first receive brings them all
        self.produce(daemon, [f"job-{index}" for index in range(5)])
        self.run_daemon(stack, handler, daemon=daemon)
        self.addCleanup(gate.set)
        runner = daemon.runner
        assert runner is not None
        # One handler blocks, at least one more message waits in the runner
        fixtures.wait_for(lambda: handler.running == 1 and len(runner.in_flight) >= 2, WAIT_SECONDS)
        daemon.stop.set()
        gate.set()
        self.thread.join(WAIT_SECONDS)
        assert_that((len(handler.handled), runner.counts), is_(equal_to((1, {"succeeded": 1}))))
        assert_that(fixtures.queue_counts(self.sqs, stack.queue_url), is_(equal_to((4, 0))))

    def test_messages_a_poll_returns_during_shutdown_are_released(self) -> None:
        """Messages a receive brings back after stop are not handled and are visible again at once."""
        stack = self.make_stack(visibility_timeout=30)
        handler = Handler()
        daemon = self.make_daemon(stack, handler)
        runner = daemon.runner
        assert runner is not None
        self.produce(daemon, ["early-0", "early-1", "early-2"])

        def stop_during_receive(**kwargs: Any) -> None:
            # SIGTERM while the receive is on its way: whatever it returns arrives during shutdown
            daemon.stop.set()

        daemon.graph.sqs_client.meta.events.register("before-call.sqs.ReceiveMessage", stop_during_receive)
        thread = threading.Thread(target=runner.run, name="runner-under-test", daemon=True)
        thread.start()
        thread.join(WAIT_SECONDS)
        self.addCleanup(self.stop, daemon, thread)
        assert_that((handler.handled, runner.counts), is_(equal_to(([], {}))))
        assert_that(fixtures.queue_counts(self.sqs, stack.queue_url), is_(equal_to((3, 0))))

    def test_a_message_on_its_last_receive_is_handled_at_stop(self) -> None:
        """On a queue with maxReceiveCount 1, what the open poll receives at stop is handled, not left for redrive."""
        stack = self.make_stack(visibility_timeout=30, dead_letter=True, max_receive_count=1)
        handler = Handler()
        daemon, _, _ = self.stop_during_open_poll(stack, handler)
        assert daemon.runner is not None
        assert_that((handler.handled, daemon.runner.counts), is_(equal_to((["late"], {"succeeded": 1}))))
        assert stack.dead_letter_queue_url is not None
        counts = (fixtures.queue_counts(self.sqs, stack.queue_url),
                  fixtures.queue_counts(self.sqs, stack.dead_letter_queue_url))
        assert_that(counts, is_(equal_to(((0, 0), (0, 0)))))


class EndpointRunnerTests(RunnerTestCase):
    """One end-to-end path per feature on the local endpoint: completeness, the heartbeat, the open poll at stop."""

    on_endpoint = True

    def test_every_message_is_handled_and_deleted(self) -> None:
        """Every produced message is handled once, counted as SUCCEEDED, and deleted."""
        stack = self.make_stack()
        handler = Handler()
        daemon = self.run_daemon(stack, handler, concurrency=2)
        names = [f"job-{index}" for index in range(15)]
        self.produce(daemon, names)
        fixtures.wait_for(lambda: len(handler.handled) >= len(names), WAIT_SECONDS)
        self.stop(daemon, self.thread)
        assert daemon.runner is not None
        assert_that(handler.handled, contains_inanyorder(*names))
        assert_that((daemon.runner.counts, fixtures.queue_counts(self.sqs, stack.queue_url)),
                    is_(equal_to(({"succeeded": len(names)}, (0, 0)))))

    def test_heartbeat_keeps_a_slow_message_hidden(self) -> None:
        """A handler taking 5 s on a queue with a 2 s visibility timeout keeps its message from other consumers."""
        self.check_heartbeat(visibility_timeout=2, handler_seconds=5.0)

    def test_a_message_an_open_poll_receives_at_stop_is_visible_at_once(self) -> None:
        """Sent while the stopped runner's poll is open: received by it, then visible again at once, unhandled."""
        stack = self.make_stack(visibility_timeout=30)
        handler = Handler()
        daemon, took, open_polls = self.stop_during_open_poll(stack, handler)
        counts = fixtures.queue_counts(self.sqs, stack.queue_url)
        received = self.sqs.receive_message(
            QueueUrl=stack.queue_url, WaitTimeSeconds=1, AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        assert daemon.runner is not None
        # Visible (not hidden for 30 s), received once by the poll (its receive is spent, and said so in the log)
        assert_that((counts, handler.handled, daemon.runner.counts), is_(equal_to(((1, 0), [], {}))))
        assert_that([message["Attributes"]["ApproximateReceiveCount"] for message in received], is_(equal_to(["2"])))
        assert_that(open_polls, is_(equal_to(0)))
        assert_that(took, is_(less_than_or_equal_to(POLL_SECONDS + POLL_RETURN_MARGIN_SECONDS)))
