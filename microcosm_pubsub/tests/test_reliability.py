"""The reliability suite: real daemon processes against the local endpoint under faults, with figures.

Each fault test prints one `RELIABILITY FIGURES` line (messages in, handled, lost, duplicated,
dead-lettered); `scripts/soak.py` collects them into docs/reliability-figures.json and the report.
`PUBSUB_RELIABILITY_SCALE=soak` (make soak) runs the long versions.
"""
from __future__ import annotations

import ast
import json
import logging
import signal
import time
import unittest
import uuid
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

from hamcrest import (
    assert_that,
    contains_string,
    empty,
    equal_to,
    greater_than,
    greater_than_or_equal_to,
    has_entries,
    has_length,
    instance_of,
    is_,
    is_in,
    less_than,
    less_than_or_equal_to,
    none,
    not_,
    only_contains,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.deadletter import DISALLOWED, dead_letter_attributes
from microcosm_pubsub.dispatcher import log_result
from microcosm_pubsub.local import LocalEndpoint
from microcosm_pubsub.result import MessageHandlingResult, Outcome
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.reliability.daemon import PREFIX, ChildSchema, WorkSchema
from microcosm_pubsub.tests.reliability.harness import (
    DaemonProcess,
    Lab,
    attribute_value,
    is_loopback,
    listening_addresses,
    receive_all,
    record_figures,
    scale,
    wait_until,
)
from microcosm_pubsub.tests.reliability.proxy import Proxy
from microcosm_pubsub.tests.reliability.strategies import json_values, raw_messages, signed_messages


SOAK = scale() == "soak"
UNKNOWN_MEDIA_TYPE = f"{PREFIX}.unknown"


def marker_of(body: str) -> str:
    """Which poison message a dead-lettered body is: its `marker` or `name`, or its own text."""
    try:
        document = json.loads(body)
        if isinstance(document, dict) and document.get("Type") == "Notification":
            body = document["Message"]
            document = json.loads(body)
    except ValueError:
        return body.lstrip("{")
    if isinstance(document, list):
        return str(document[0])
    if isinstance(document, dict):
        return str(document.get("marker") or document.get("name"))
    return body


class ReliabilityTestCase(unittest.TestCase):
    """A lab per test: its stacks, graphs, daemons and records are reaped after it."""

    def setUp(self) -> None:
        self.lab = Lab()
        self.addCleanup(self.lab.close)
        self.records = self.lab.records

    def wait_handled(self, daemon: DaemonProcess, names: list[str], timeout: float) -> None:
        handled = self.lab.wait_handled(daemon, names, timeout)
        missing = len(set(names) - self.records.handled())
        assert_that(handled, is_(True), f"{missing} of {len(names)} not handled; daemon log:\n{daemon.tail()}")


class KillTest(ReliabilityTestCase):
    """SIGKILL in the middle of a busy batch, then a restart: every message is handled; duplicates counted."""

    def kill_and_restart(self, concurrency: int, count: int, seconds: float) -> None:
        # Given a queue whose messages come back two seconds after a crash
        stack = self.lab.new_stack("kill", visibility_timeout=2)
        names = [f"kill-{concurrency}-{index}" for index in range(count)]
        self.lab.publish(stack, names, seconds=seconds)
        first = self.lab.start_daemon(stack, concurrency)
        busy = wait_until(lambda: first.exited or len(self.records.handled()) >= count // 3, timeout=60)
        assert_that((busy, first.exited), is_(equal_to((True, False))), first.tail())

        # When the daemon is killed mid-batch and another starts
        first.send(signal.SIGKILL)
        killed_status = first.wait()
        started = set(self.records.counts("started"))
        interrupted = len(started - self.records.handled())
        second = self.lab.start_daemon(stack, concurrency)
        self.wait_handled(second, names, timeout=120)
        status = second.stop()

        # Then nothing is lost and the queue is empty
        handled = self.records.handled()
        lost = len(set(names) - handled)
        record_figures(
            f"sigkill-concurrency-{concurrency}", f"SIGKILL mid-batch, concurrency {concurrency}",
            f"kill -9 after {count // 3}+ of {count} handled ({interrupted} interrupted in flight), restart",
            messages_in=count, handled=len(handled & set(names)), lost=lost,
            duplicated=self.records.duplicates(), dead_lettered=self.lab.depth(stack.dead_letter_queue_url),
        )
        assert_that(killed_status, is_(equal_to(-signal.SIGKILL)))
        assert_that(lost, is_(equal_to(0)))
        assert_that(status, is_(equal_to(0)), second.tail())
        assert_that(self.lab.depth(stack.queue_url), is_(equal_to(0)))

    def test_sigkill_at_concurrency_1_loses_nothing(self):
        """Killed with SIGKILL mid-batch at concurrency 1, a restarted daemon handles every message."""
        self.kill_and_restart(concurrency=1, count=150 if SOAK else 30, seconds=0.05)

    def test_sigkill_at_concurrency_16_loses_nothing(self):
        """Killed with SIGKILL mid-batch at concurrency 16, a restarted daemon handles every message."""
        self.kill_and_restart(concurrency=16, count=1000 if SOAK else 160, seconds=0.1)


class SigtermTest(ReliabilityTestCase):

    def test_sigterm_finishes_in_flight_handlers(self):
        """SIGTERM during long handlers: they finish and are settled, the daemon exits 0, the rest is released."""
        # Given four long handlers running and more messages received behind them
        stack = self.lab.new_stack("sigterm", visibility_timeout=60)
        names = [f"sigterm-{index}" for index in range(10)]
        self.lab.publish(stack, names, seconds=1.0)
        first = self.lab.start_daemon(stack, concurrency=4)
        running = wait_until(lambda: first.exited or len(self.records.events("started")) >= 4, timeout=30)
        assert_that((running, first.exited), is_(equal_to((True, False))), first.tail())

        # When it is told to stop
        first.send(signal.SIGTERM)
        status = first.wait()
        started = {record["name"] for record in self.records.events("started") if record["pid"] == first.pid}
        finished = {record["name"] for record in self.records.events("handled") if record["pid"] == first.pid}

        # Then what had started finished; what had not was released at once (well before 60 s) for another daemon
        second = self.lab.start_daemon(stack, concurrency=4)
        self.wait_handled(second, names, timeout=30)
        second_status = second.stop()
        lost = len(set(names) - self.records.handled())
        record_figures(
            "sigterm", "SIGTERM during long handlers",
            f"SIGTERM with {len(started)} 1-second handlers running; a second daemon takes the rest",
            messages_in=len(names), handled=len(self.records.handled()), lost=lost,
            duplicated=self.records.duplicates(), dead_lettered=self.lab.depth(stack.dead_letter_queue_url),
        )
        assert_that(status, is_(equal_to(0)), first.tail())
        assert_that(finished, is_(equal_to(started)))
        assert_that(first.log(), contains_string("received SIGTERM"))
        assert_that((lost, second_status), is_(equal_to((0, 0))))
        assert_that(self.lab.depth(stack.queue_url), is_(equal_to(0)))


class OutageTest(ReliabilityTestCase):
    """The endpoint goes away (or answers errors) for several seconds behind a loopback proxy."""

    OUTAGE_SECONDS = 4.0
    # A receive loop that backs off makes a handful of attempts in an outage; a busy loop makes thousands
    MAX_ATTEMPTS_PER_SECOND = 10

    def outage(self, mode: str) -> None:
        # Given a daemon consuming through the proxy, with a first lot handled
        stack = self.lab.new_stack(f"outage-{mode}", visibility_timeout=10)
        proxy = Proxy(int(self.lab.endpoint.url.rsplit(":", 1)[1]))
        self.addCleanup(proxy.close)
        before = [f"{mode}-before-{index}" for index in range(20)]
        during = [f"{mode}-during-{index}" for index in range(20)]
        self.lab.publish(stack, before)
        daemon = self.lab.start_daemon(stack, concurrency=4, sqs_endpoint_url=proxy.url)
        self.wait_handled(daemon, before, timeout=30)
        # Settled too, so that the outage meets the receive loop rather than a pending delete
        assert_that(wait_until(lambda: self.lab.depth(stack.queue_url) == 0, timeout=30), is_(True), daemon.tail())

        # When the endpoint is unreachable for several seconds while more messages arrive
        proxy.set_mode(mode)
        self.lab.publish(stack, during)
        time.sleep(self.OUTAGE_SECONDS)
        attempts = proxy.connections[mode] if mode == "refuse" else proxy.requests[mode]
        proxy.set_mode("forward")

        # Then the daemon logged, backed off, recovered by itself and lost nothing
        self.wait_handled(daemon, before + during, timeout=60)
        drained = wait_until(lambda: self.lab.depth(stack.queue_url) == 0, timeout=60)
        status = daemon.stop()
        lost = len(set(before + during) - self.records.handled())
        what = "connections refused (reset)" if mode == "refuse" else "HTTP 503 and throttling answers"
        record_figures(
            f"outage-{mode}", f"endpoint unreachable: {what}",
            f"{self.OUTAGE_SECONDS:g} s outage through a loopback proxy; {attempts} "
            f"{'connections' if mode == 'refuse' else 'requests'} reached it during the outage",
            messages_in=len(before + during), handled=len(self.records.handled()), lost=lost,
            duplicated=self.records.duplicates(), dead_lettered=self.lab.depth(stack.dead_letter_queue_url),
            attempts_during_outage=attempts,
        )
        assert_that(daemon.log(), contains_string("receive failed"))
        assert_that(attempts, is_(greater_than(0)))
        assert_that(attempts, is_(less_than_or_equal_to(self.OUTAGE_SECONDS * self.MAX_ATTEMPTS_PER_SECOND)))
        assert_that((lost, status, drained), is_(equal_to((0, 0, True))), daemon.tail())

    def test_unreachable_endpoint_is_survived(self):
        """Refused connections: the daemon logs, backs off (no busy loop), recovers, loses nothing."""
        self.outage("refuse")

    def test_failing_endpoint_is_survived(self):
        """HTTP 503 and throttling errors: the daemon logs, backs off (no busy loop), recovers, loses nothing."""
        self.outage("error")


class StormTest(unittest.TestCase):
    """Every delivery of some messages raises; good messages flow past them (one daemon run, several checks)."""

    RETRY_SECONDS = 1
    MAX_ATTEMPTS = 2
    storm: ClassVar[list[str]]
    good: ClassVar[list[str]]
    dead: ClassVar[list[dict[str, Any]]]
    log: ClassVar[str]
    started: ClassVar[list[dict[str, Any]]]
    handled: ClassVar[set[str]]
    queue_left: ClassVar[int]
    status: ClassVar[int]

    @classmethod
    def setUpClass(cls) -> None:
        lab = Lab()
        cls.addClassCleanup(lab.close)
        stack = lab.new_stack("storm", visibility_timeout=30)
        cls.storm = [f"storm-{index}" for index in range(20)]
        cls.good = [f"calm-{index}" for index in range(20)]
        lab.publish(stack, cls.storm, fail="always")
        lab.publish(stack, cls.good)
        daemon = lab.start_daemon(
            stack, concurrency=4,
            sqs_consumer={"backoff_policy": "constant", "message_retry_visibility_timeout_seconds": cls.RETRY_SECONDS},
            sqs_message_dispatcher={
                "message_max_processing_attempts": cls.MAX_ATTEMPTS,
                "dead_letter_queue_url": stack.dead_letter_queue_url,
            },
        )
        wait_until(
            lambda: daemon.exited
            or (lab.depth(stack.dead_letter_queue_url) >= len(cls.storm) and lab.records.handled() >= set(cls.good)),
            timeout=60,
        )
        cls.status = daemon.stop()
        cls.queue_left = lab.depth(stack.queue_url)
        cls.log = daemon.log()
        assert stack.dead_letter_queue_url is not None
        cls.dead = receive_all(lab.sqs, stack.dead_letter_queue_url)
        cls.started = lab.records.events("started")
        cls.handled = lab.records.handled()
        names = cls.storm + cls.good
        dead_names = {marker_of(message["Body"]) for message in cls.dead}
        record_figures(
            "storm", "storm of handler exceptions",
            f"{len(cls.storm)} messages whose handler always raises among {len(cls.good)} good ones; "
            f"constant backoff {cls.RETRY_SECONDS} s, message_max_processing_attempts={cls.MAX_ATTEMPTS}",
            messages_in=len(names), handled=len(cls.handled & set(names)),
            lost=len(set(names) - cls.handled - dead_names),
            duplicated=lab.records.duplicates(), dead_lettered=len(cls.dead), exit_status=cls.status,
            queue_left=cls.queue_left,
        )

    def test_storm_leaves_nothing_behind(self):
        """After the storm the queue is empty and the daemon stops cleanly."""
        assert_that((self.queue_left, self.status), is_(equal_to((0, 0))), self.log[-3000:])

    def test_storm_messages_are_dead_lettered_with_their_reason(self):
        """Past message_max_processing_attempts each failing message is in the dead-letter queue, saying why."""
        assert_that(sorted(marker_of(message["Body"]) for message in self.dead), is_(equal_to(sorted(self.storm))))
        for message in self.dead:
            assert_that(attribute_value(message, "pubsub_outcome"), is_(equal_to("expired")))
            assert_that(
                attribute_value(message, "pubsub_reason"),
                contains_string(f"over message_max_processing_attempts={self.MAX_ATTEMPTS}"),
            )

    def test_storm_messages_follow_the_backoff_policy(self):
        """Each failing message is tried once per allowed attempt, the constant backoff apart."""
        for name in self.storm:
            deliveries = sorted(
                (record["t"], record["receive_count"]) for record in self.started if record["name"] == name
            )
            assert_that([count for _, count in deliveries], is_(equal_to(list(range(1, self.MAX_ATTEMPTS + 1)))))
            gaps = [later - earlier for (earlier, _), (later, _) in pairwise(deliveries)]
            # A lower bound only: moto hides the message for the backoff; a busy machine can only add to it
            assert_that(gaps, only_contains(greater_than_or_equal_to(self.RETRY_SECONDS - 0.1)))

    def test_failures_are_logged_with_the_error(self):
        """Each failure is a FAILED line naming the handler's exception; each expiry an EXPIRED line."""
        assert_that(self.log, contains_string("FAILED"))
        assert_that(self.log, contains_string("HandlerStorm: handler failed on purpose"))
        assert_that(self.log, contains_string("EXPIRED"))

    def test_good_messages_are_handled_through_the_storm(self):
        """The storm never keeps the good messages from being handled."""
        assert_that(set(self.good) - self.handled, is_(empty()))


def work_body(name: str, **fields: Any) -> str:
    return json.dumps({"mediaType": WorkSchema.MEDIA_TYPE, "name": name, **fields})


def media_type_attribute(media_type: str = WorkSchema.MEDIA_TYPE) -> dict[str, Any]:
    return {"media_type": {"DataType": "String", "StringValue": media_type}}


# Every kind of poison, sent straight to the queue, with the outcome and reason each must get
POISON: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "poison-not-json": ("{poison-not-json", media_type_attribute(), "invalid", "body is not JSON"),
    "poison-no-media-type": (json.dumps({"name": "poison-no-media-type"}), {}, "invalid", "message has no media type"),
    "poison-unknown-media-type": (
        json.dumps({"mediaType": UNKNOWN_MEDIA_TYPE, "name": "poison-unknown-media-type"}),
        media_type_attribute(UNKNOWN_MEDIA_TYPE), "ignored", f"no handler for media type {UNKNOWN_MEDIA_TYPE}",
    ),
    "poison-schema": (
        json.dumps({"mediaType": WorkSchema.MEDIA_TYPE, "marker": "poison-schema", "seconds": "soon"}),
        media_type_attribute(), "invalid", "content does not fit WorkSchema",
    ),
    "poison-not-an-object": (json.dumps(["poison-not-an-object"]), {}, "invalid", "message is JSON but not an object"),
    "poison-odd-media-type": (
        json.dumps({"mediaType": "\u202e\x00\ud7ff poison-odd-media-type", "name": "poison-odd-media-type"}),
        {}, "ignored", "no handler for media type",
    ),
}
# Characters SQS accepts in attributes but that trip careless code: emoji, RTL override, BOM, astral plane
ODD_TEXT = "emoji \U0001f389, RTL \u202e, BOM \ufeff, tab\t, last \U0010ffff, quote \" and \\"
ODD_ATTRIBUTES: dict[str, Any] = {
    **media_type_attribute(),
    "note": {"DataType": "String", "StringValue": ODD_TEXT},
    "blob": {"DataType": "Binary", "BinaryValue": b"\xff\xfe\xc3\x28 not UTF-8 \x80"},
    "number": {"DataType": "Number", "StringValue": "-1e-300"},
    "custom": {"DataType": "String.\u00e9t\u00e9", "StringValue": "\u00e9"},
}
# Near SQS's and SNS's 256 KiB: the body plus attributes must stay under it
HUGE_PADDING = 250 * 1024


class PoisonTest(unittest.TestCase):
    """Poison of every kind in the same batches as good messages (one daemon run, several checks)."""

    good: ClassVar[list[str]]
    huge_poison: ClassVar[list[str]]
    dead: ClassVar[dict[str, dict[str, Any]]]
    dead_count: ClassVar[int]
    handled: ClassVar[set[str]]
    log: ClassVar[str]
    queue_left: ClassVar[int]
    status: ClassVar[int]

    @classmethod
    def setUpClass(cls) -> None:
        lab = Lab()
        cls.addClassCleanup(lab.close)
        stack = lab.new_stack("poison", visibility_timeout=30)
        sns = lab.endpoint.client("sns")
        cls.addClassCleanup(sns.close)
        cls.good = [f"good-{index}" for index in range(4)] + ["good-odd-attributes", "good-huge", "good-sns-odd"]
        cls.huge_poison = [f"poison-huge-{index}" for index in range(5)]

        # One batch of poison and good messages, then huge ones (one per send: SQS caps a batch's size)
        entries: list[Any] = [
            {"Id": str(index), "MessageBody": body, "MessageAttributes": attributes}
            for index, (body, attributes, _, _) in enumerate(POISON.values())
        ] + [
            {"Id": f"good{index}", "MessageBody": work_body(f"good-{index}"),
             "MessageAttributes": media_type_attribute()}
            for index in range(4)
        ]
        for start in range(0, len(entries), 10):
            lab.sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries[start:start + 10])
        lab.sqs.send_message(
            QueueUrl=stack.queue_url, MessageBody=work_body("good-odd-attributes"), MessageAttributes=ODD_ATTRIBUTES,
        )
        lab.sqs.send_message(
            QueueUrl=stack.queue_url, MessageBody=work_body("good-huge", padding="x" * HUGE_PADDING),
            MessageAttributes=media_type_attribute(),
        )
        for name in cls.huge_poison:
            lab.sqs.send_message(
                QueueUrl=stack.queue_url, MessageAttributes=media_type_attribute(),
                MessageBody=json.dumps(
                    {"mediaType": WorkSchema.MEDIA_TYPE, "marker": name, "padding": "x" * HUGE_PADDING},
                ),
            )
        # Through SNS as well: an envelope around a body that is not JSON, and odd SNS attributes
        sns.publish(TopicArn=stack.topic_arn, Message="poison-sns-not-json", MessageAttributes=media_type_attribute())
        sns.publish(
            TopicArn=stack.topic_arn, Message=work_body("good-sns-odd"),
            MessageAttributes={**media_type_attribute(), "note": {"DataType": "String", "StringValue": ODD_TEXT}},
        )
        markers = [*POISON, *cls.huge_poison, "poison-sns-not-json"]

        daemon = lab.start_daemon(
            stack, concurrency=4,
            sqs_message_dispatcher={"dead_letter_queue_url": stack.dead_letter_queue_url, "dead_letter_ignored": True},
        )
        wait_until(
            lambda: daemon.exited
            or (lab.depth(stack.dead_letter_queue_url) >= len(markers) and lab.records.handled() >= set(cls.good)),
            timeout=60,
        )
        cls.status = daemon.stop()
        cls.queue_left = lab.depth(stack.queue_url)
        cls.log = daemon.log()
        cls.handled = lab.records.handled()
        assert stack.dead_letter_queue_url is not None
        dead = receive_all(lab.sqs, stack.dead_letter_queue_url)
        cls.dead_count = len(dead)
        cls.dead = {marker_of(message["Body"]): message for message in dead}
        messages_in = len(markers) + len(cls.good)
        record_figures(
            "poison", "poison messages",
            f"{len(markers)} poison messages (not JSON, no media type, unknown or odd media type, schema violation, "
            f"JSON array, {len(cls.huge_poison)} invalid bodies of {HUGE_PADDING // 1024} KiB, SNS envelope around "
            f"non-JSON) mixed into batches with {len(cls.good)} good ones (odd and binary non-UTF-8 attributes, "
            f"a {HUGE_PADDING // 1024} KiB body); dead_letter_ignored on",
            messages_in=messages_in, handled=len(cls.handled & set(cls.good)),
            lost=messages_in - len(cls.handled & set(cls.good)) - len(cls.dead),
            duplicated=lab.records.duplicates(), dead_lettered=cls.dead_count, exit_status=cls.status,
            queue_left=cls.queue_left,
        )

    def test_poison_leaves_nothing_behind(self):
        """After the poison the queue is empty and the daemon stops cleanly."""
        assert_that((self.queue_left, self.status), is_(equal_to((0, 0))), self.log[-3000:])

    def test_each_poison_message_gets_its_outcome_and_reason(self):
        """Each poison message is in the dead-letter queue with the outcome and reason of its kind."""
        for marker, (_, _, outcome, reason) in POISON.items():
            with self.subTest(marker):
                message = self.dead.get(marker)
                assert_that(message, is_(not_(None)), f"{marker} was not dead-lettered")
                assert message is not None
                assert_that(attribute_value(message, "pubsub_outcome"), is_(equal_to(outcome)))
                assert_that(attribute_value(message, "pubsub_reason"), contains_string(reason))

    def test_enveloped_poison_gets_its_reason(self):
        """An SNS envelope around a body that is not JSON is INVALID, saying so."""
        message = self.dead.get("poison-sns-not-json")
        assert_that(message, is_(not_(None)), "not dead-lettered")
        assert message is not None
        assert_that(attribute_value(message, "pubsub_reason"), contains_string("SNS message is not JSON"))

    def test_huge_invalid_messages_are_dead_lettered(self):
        """Invalid bodies near the 256 KiB limit are dead-lettered with their reason, never stuck on the queue."""
        for marker in self.huge_poison:
            with self.subTest(marker):
                message = self.dead.get(marker)
                assert_that(message, is_(not_(None)), f"{marker} was not dead-lettered; log:\n{self.log[-3000:]}")
                assert message is not None
                assert_that(attribute_value(message, "pubsub_reason"), contains_string("content does not fit"))

    def test_good_messages_in_poisoned_batches_are_handled(self):
        """The good messages of every batch, odd attributes and a huge body included, are handled."""
        assert_that(set(self.good) - self.handled, is_(empty()))

    def test_each_poison_message_is_dead_lettered_once(self):
        """Poison is dead-lettered on its first delivery and exactly once."""
        assert_that(self.dead_count, is_(equal_to(len(POISON) + len(self.huge_poison) + 1)))
        for message in self.dead.values():
            assert_that(attribute_value(message, "pubsub_receive_count"), is_(equal_to("1")))


class FormattingHandler(logging.Handler):
    """Formats every record it is given, so a record that cannot be formatted raises in the test."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


OWN_DEAD_LETTER_ATTRIBUTES = {
    "pubsub_outcome", "pubsub_reason", "pubsub_media_type", "pubsub_receive_count", "pubsub_source_queue",
    "pubsub_error",
}
FUZZ_MEDIA_TYPES = [WorkSchema.MEDIA_TYPE, ChildSchema.MEDIA_TYPE, UNKNOWN_MEDIA_TYPE, f"{PREFIX}.*", ""]
FUZZ_EXAMPLES = 3000 if SOAK else 300
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=not SOAK,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz_graph(**overrides: Any) -> Any:
    """A graph for in-memory messages: no endpoint, nothing that can reach the network."""
    config = {
        "sqs_consumer": {"region_name": "us-east-1", "sqs_queue_url": "http://127.0.0.1:1/queue/fuzz"},
        "sns_producer": {"region_name": "us-east-1"},
        "sqs_message_dispatcher": {
            "dead_letter_queue_url": "http://127.0.0.1:1/queue/fuzz-dlq", "message_max_processing_attempts": 500,
        },
        **overrides,
    }
    graph: Any = create_object_graph("fuzz", testing=True, loader=load_from_dict(config))

    def fail(content: dict[str, Any]) -> bool:
        raise RuntimeError(f"fuzzed handler failure for {content!r}")

    graph.sqs_message_handler_registry.register(WorkSchema.MEDIA_TYPE, lambda content: content.get("name"))
    graph.sqs_message_handler_registry.register(ChildSchema.MEDIA_TYPE, fail)
    return graph


class FuzzTest(unittest.TestCase):
    """Property-based: any body and attributes, through the envelope, the middleware and the dispatcher."""

    def setUp(self) -> None:
        dispatcher_logger = logging.getLogger("microcosm_pubsub.dispatcher")
        handler = FormattingHandler()
        saved = (dispatcher_logger.level, dispatcher_logger.propagate)
        dispatcher_logger.addHandler(handler)
        dispatcher_logger.setLevel(logging.DEBUG)
        dispatcher_logger.propagate = False

        def restore() -> None:
            dispatcher_logger.removeHandler(handler)
            dispatcher_logger.setLevel(saved[0])
            dispatcher_logger.propagate = saved[1]

        self.addCleanup(restore)
        self.envelope = fuzz_graph().sqs_envelope

    def check_outcomes(self, graph: Any, key: str, what: str, messages: Any = None) -> None:
        consumer, dispatcher = graph.sqs_consumer, graph.sqs_message_dispatcher
        outcomes: Counter[str] = Counter()

        @FUZZ_SETTINGS
        @given(raw_messages(FUZZ_MEDIA_TYPES) if messages is None else messages)
        def check(raw: dict[str, Any]) -> None:
            result = dispatcher.handle_message(consumer.wrap(raw))
            assert_that(result, is_(instance_of(MessageHandlingResult)))
            if result.outcome not in (Outcome.SUCCEEDED, Outcome.SKIPPED):
                assert_that(result.reason, is_(instance_of(str)))
            action = dispatcher.action(result)
            log_result(result, action)
            attributes = dead_letter_attributes(result, "http://127.0.0.1:1/queue/fuzz")
            assert_that(len(attributes), is_(less_than_or_equal_to(10)))
            for name, value in attributes.items():
                # The message's own attributes are copied as SQS delivered them; ours must be sendable
                if name in OWN_DEAD_LETTER_ATTRIBUTES:
                    assert_that(DISALLOWED.search(value["StringValue"]), is_(none()))
            outcomes[result.outcome.value] += 1

        check()
        record_figures(
            key, f"fuzzing ({what})",
            f"hypothesis: {sum(outcomes.values())} generated SQS messages (any text, any JSON, SNS envelopes, "
            "odd attribute shapes) through consumer.wrap, the middleware and dispatcher.handle_message, in memory",
            messages_in=sum(outcomes.values()), handled=sum(outcomes.values()), lost=0, duplicated=0,
            dead_lettered="-", outcomes=dict(outcomes),
        )

    def test_every_fuzzed_message_gets_an_outcome(self):
        """Any body and attributes yield an outcome (with a reason unless handled); nothing raises."""
        self.check_outcomes(fuzz_graph(), "fuzz", "plain")

    def test_every_fuzzed_message_gets_an_outcome_with_signing(self):
        """With signing required, any body and attributes still yield an outcome; nothing raises."""
        graph = fuzz_graph(
            pubsub_middleware={"components": "pubsub_signing"},
            pubsub_signing={"keys": {"k1": "fuzz-secret"}, "signing_key_id": "k1"},
        )
        messages = raw_messages(FUZZ_MEDIA_TYPES) | signed_messages(FUZZ_MEDIA_TYPES, "k1", "fuzz-secret")
        self.check_outcomes(graph, "fuzz-signing", "signing required", messages)

    @FUZZ_SETTINGS
    @given(raw_messages(FUZZ_MEDIA_TYPES) | st.dictionaries(st.sampled_from(["Body", "MessageId"]), json_values()))
    def test_envelope_never_raises(self, raw: dict[str, Any]):
        """SQSEnvelope.open returns content or a problem for any dict, whatever its Body holds."""
        opened = self.envelope.open(raw)
        assert_that(opened.problem is None, is_(equal_to(opened.content is not None)))



class LoadTest(unittest.TestCase):
    """Many messages through one daemon at concurrency 16 with a handler failing 5% at random, on a fresh endpoint."""

    COUNT = 10_000 if SOAK else 1_000
    FAIL_RATE = 0.05
    # moto slows down with deep queues: produce while consuming, keeping at most this many unhandled
    BACKLOG = 300
    endpoint: ClassVar[LocalEndpoint]

    @classmethod
    def setUpClass(cls) -> None:
        # A process of its own: the shared endpoint stays small, and moto gets its own interpreter lock
        cls.endpoint = LocalEndpoint(mode="process").start()
        cls.addClassCleanup(cls.endpoint.stop)

    def test_load_with_random_failures_loses_nothing(self):
        """Every message of the load is handled despite 5% random failures; duplicates counted, memory sampled."""
        lab = Lab(self.endpoint)
        self.addCleanup(lab.close)
        stack = lab.new_stack("load", visibility_timeout=30)
        daemon = lab.start_daemon(
            stack, concurrency=16, fail_rate=self.FAIL_RATE,
            sqs_consumer={"backoff_policy": "constant", "message_retry_visibility_timeout_seconds": 1},
        )
        producer = lab.graph(stack).sns_producer
        names = [f"load-{index}" for index in range(self.COUNT)]
        published = 0
        memory: list[tuple[int, int]] = []
        started = time.monotonic()
        deadline = started + (540 if SOAK else 120)
        next_sample = started
        while time.monotonic() < deadline:
            handled = len(lab.records.handled())
            if time.monotonic() >= next_sample:
                rss = daemon.rss_kib()
                if rss is not None:
                    memory.append((handled, rss))
                next_sample = time.monotonic() + 1.0
            if published < self.COUNT and published - handled < self.BACKLOG:
                chunk = names[published:published + 100]
                producer.publish_batch([producer.prepare(WorkSchema.MEDIA_TYPE, name=name) for name in chunk])
                published += len(chunk)
                continue
            if handled >= self.COUNT or daemon.exited:
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        final_rss = daemon.rss_kib()
        status = daemon.stop()

        handled_names = lab.records.handled()
        lost = len(set(names) - handled_names)
        # Memory after the first tenth (imports, pools and caches warm) against memory at the end
        warm = next((rss for count, rss in memory if count >= self.COUNT // 10), None)
        record_figures(
            "load", f"load: {self.COUNT:,} messages, 5% random handler failures",
            f"{self.COUNT:,} messages at concurrency 16, produced while consuming (backlog <= {self.BACKLOG}); "
            f"constant backoff 1 s; {elapsed:.0f} s",
            messages_in=self.COUNT, handled=len(handled_names & set(names)), lost=lost,
            duplicated=lab.records.duplicates(), dead_lettered=lab.depth(stack.dead_letter_queue_url),
            failed_attempts=len(lab.records.events("failed")),
            elapsed_seconds=round(elapsed, 1), rss_kib_warm=warm, rss_kib_end=final_rss,
            rss_kib_max=max((rss for _, rss in memory), default=None), rss_samples=len(memory),
        )
        assert_that(lost, is_(equal_to(0)), daemon.tail())
        assert_that(status, is_(equal_to(0)))
        assert_that(lab.depth(stack.queue_url), is_(equal_to(0)))
        if SOAK and warm is not None and final_rss is not None:
            # Flat: what the daemon holds does not grow with the messages it has seen
            assert_that(final_rss - warm, is_(less_than(64 * 1024)))

    def test_process_endpoint_listens_on_loopback_only(self):
        """The local endpoint's child process listens on 127.0.0.1 and nowhere else."""
        assert self.endpoint.process is not None
        addresses = listening_addresses(pid=self.endpoint.process.pid)
        assert_that(addresses, is_(not_(empty())))
        assert_that([is_loopback(address) for address in addresses], only_contains(True))


SENTINEL = uuid.uuid4().hex
AWS_SENTINEL = f"aws-secret-sentinel-{SENTINEL}"
OLD_KEY_SENTINEL = f"signing-old-sentinel-{SENTINEL}"
NEW_KEY_SENTINEL = f"signing-new-sentinel-{SENTINEL}"
REQUEST_ID = f"request-{SENTINEL}"
PRIVATE_NOTE = f"private-note-{SENTINEL}"


class SecurityTest(unittest.TestCase):
    """One daemon at --debug with sentinel secrets, signed traffic (old and new keys) and bad signatures."""

    parents: ClassVar[list[str]]
    log: ClassVar[str]
    status: ClassVar[int]
    children: ClassVar[list[dict[str, Any]]]
    dead: ClassVar[dict[str, dict[str, Any]]]
    started: ClassVar[list[dict[str, Any]]]
    handled: ClassVar[set[str]]
    listening: ClassVar[list[str]]
    queue_left: ClassVar[int]

    @classmethod
    def setUpClass(cls) -> None:
        lab = Lab()
        cls.addClassCleanup(lab.close)
        stack = lab.new_stack("security")
        child_stack = lab.new_stack("security-children")
        sns = lab.endpoint.client("sns")
        cls.addClassCleanup(sns.close)

        # Given a producer signing with the old key (mid-rotation) and one message of each bad kind
        def signer(keys: dict[str, str], key_id: str | None) -> Any:
            signing = {"keys": keys, "signing_key_id": key_id}
            return lab.graph(stack, pubsub_middleware={"components": "pubsub_signing"}, pubsub_signing=signing)

        old = signer({"k-old": OLD_KEY_SENTINEL}, "k-old")
        cls.parents = [f"parent-{index}" for index in range(3)]
        opaque = {"X-Request-Id": REQUEST_ID, "X-Private-Note": PRIVATE_NOTE}
        with old.opaque.initialize(lambda: opaque):
            for name in cls.parents:
                old.sns_producer.produce(WorkSchema.MEDIA_TYPE, name=name, child=True)
        lab.graph(stack).sns_producer.produce(WorkSchema.MEDIA_TYPE, name="unsigned")
        signer({"k-gone": "retired-secret"}, "k-gone").sns_producer.produce(WorkSchema.MEDIA_TYPE, name="unknown-key")
        tampered = old.sns_producer.prepare(WorkSchema.MEDIA_TYPE, name="tampered-original")
        sns.publish(
            TopicArn=stack.topic_arn, Message=tampered.body.replace("tampered-original", "tampered"),
            MessageAttributes=tampered.attributes,
        )

        # When a daemon holding the old and new keys, signing with the new one, runs at --debug
        daemon = lab.start_daemon(
            stack, concurrency=2, args=("--debug",),
            environ={"AWS_SECRET_ACCESS_KEY": AWS_SENTINEL},
            pubsub_middleware={"components": "reliability_recorder,pubsub_signing,pubsub_health"},
            pubsub_signing={
                "keys": json.dumps({"k-old": OLD_KEY_SENTINEL, "k-new": NEW_KEY_SENTINEL}), "signing_key_id": "k-new",
            },
            sns_topic_arns={"default": child_stack.topic_arn},
            sqs_message_dispatcher={"dead_letter_queue_url": stack.dead_letter_queue_url},
            # Its health endpoint on a free port, so that the bind check has a server to look at
            pubsub_health={"port": 0},
        )
        wait_until(
            lambda: daemon.exited
            or (lab.records.handled() >= set(cls.parents) and lab.depth(stack.dead_letter_queue_url) >= 3),
            timeout=60,
        )
        cls.listening = listening_addresses(pid=daemon.pid)
        cls.status = daemon.stop()
        cls.queue_left = lab.depth(stack.queue_url)
        cls.log = daemon.log()
        cls.started = lab.records.events("started")
        cls.handled = lab.records.handled()
        assert stack.dead_letter_queue_url is not None
        dead = receive_all(lab.sqs, stack.dead_letter_queue_url)
        cls.dead = {marker_of(message["Body"]): message for message in dead}
        cls.children = receive_all(lab.sqs, child_stack.queue_url)
        record_figures(
            "signing", "signing: rotation, unsigned, tampered and unknown-key messages",
            "3 messages signed with the old key (consumer holds old and new), 1 unsigned, 1 tampered, "
            "1 signed with a retired key; daemon at --debug with sentinel secrets",
            messages_in=len(cls.parents) + 3, handled=len(cls.handled & set(cls.parents)),
            lost=len(cls.parents) + 3 - len(cls.handled & set(cls.parents)) - len(cls.dead),
            duplicated=lab.records.duplicates(), dead_lettered=len(cls.dead), exit_status=cls.status,
            queue_left=cls.queue_left,
        )

    def test_every_message_is_settled(self):
        """Handled and refused messages alike leave the queue."""
        assert_that(self.queue_left, is_(equal_to(0)))

    def test_daemon_ran_at_debug_and_stopped_cleanly(self):
        """The daemon logged at DEBUG (so a leak would have shown) and exited 0."""
        assert_that(self.log, contains_string(" DEBUG "))
        assert_that(self.status, is_(equal_to(0)))

    def test_aws_secret_never_logged(self):
        """The AWS secret access key from the environment appears nowhere in the daemon's output."""
        assert_that(self.log, not_(contains_string(AWS_SENTINEL)))

    def test_signing_secrets_never_logged(self):
        """No configured signing secret appears in the daemon's output."""
        assert_that(self.log, not_(contains_string(OLD_KEY_SENTINEL)))
        assert_that(self.log, not_(contains_string(NEW_KEY_SENTINEL)))

    def test_messages_signed_with_the_old_key_are_handled(self):
        """Mid-rotation, messages signed with the old key verify against a consumer holding both keys."""
        assert_that(set(self.parents) - self.handled, is_(empty()))

    def test_bad_signatures_are_dead_lettered_with_their_reason(self):
        """Unsigned, tampered and unknown-key messages are INVALID, dead-lettered with a clear reason."""
        reasons = {marker: attribute_value(message, "pubsub_reason") for marker, message in self.dead.items()}
        assert_that(reasons, has_entries({
            "unsigned": "unsigned message",
            "tampered": contains_string("signature does not match: tampered or wrong key"),
            "unknown-key": "unknown key id 'k-gone'",
        }))
        assert_that({attribute_value(message, "pubsub_outcome") for message in self.dead.values()},
                    is_(equal_to({"invalid"})))

    def test_children_are_signed_with_the_signing_key(self):
        """Messages a handler produces carry the new key id and verify with the new key."""
        verifier = fuzz_graph(
            pubsub_middleware={"components": "pubsub_signing"}, pubsub_signing={"keys": {"k-new": NEW_KEY_SENTINEL}},
        )
        assert_that(self.children, has_length(len(self.parents)))
        for child in self.children:
            message = verifier.sqs_consumer.wrap(child)
            assert_that((message.problem, message.content["name"] if message.content else None),
                        is_in([(None, f"child-of-{name}") for name in self.parents]))

    def test_children_carry_only_allowed_opaque_data(self):
        """A child inherits the allow-listed request id, not the parent's other opaque data."""
        for child in self.children:
            opaque = json.loads(json.loads(child["Body"])["Message"])["opaqueData"]
            assert_that(opaque, has_entries({"x-request-id": REQUEST_ID}))
            assert_that(json.dumps(child), not_(contains_string(PRIVATE_NOTE)))

    def test_children_carry_no_delivery_identifiers_or_handler_names(self):
        """Receipt handles, the parent's message ids and handler names never leak into a child message."""
        opaque_fields = ("receipt_handle", "message_id", "sqs_message_id")
        secrets = {record[field] for record in self.started for field in opaque_fields if record.get(field)}
        secrets |= {"ReliabilityHandler", "reliability_handler", "reliability_recorder"}
        assert_that(secrets, has_length(greater_than(len(opaque_fields))))
        for child in self.children:
            text = child["Body"] + json.dumps(child.get("MessageAttributes", {}))
            assert_that([secret for secret in secrets if secret in text], is_(empty()))

    def test_daemon_listens_on_loopback_only(self):
        """Whatever the daemon listens on (its health endpoint here) is bound to 127.0.0.1."""
        assert_that([is_loopback(address) for address in self.listening], only_contains(True))


class SecureDefaultsTest(unittest.TestCase):

    def test_malformed_signing_keys_stop_the_daemon_without_echoing_them(self):
        """A daemon given malformed signing keys exits 2 and its output never shows them."""
        lab = Lab()
        self.addCleanup(lab.close)
        stack = lab.new_stack("malformed-keys", dead_letter=False)
        secret = f"malformed-sentinel-{uuid.uuid4().hex}"
        daemon = lab.start_daemon(
            stack, pubsub_middleware={"components": "pubsub_signing"},
            pubsub_signing={"keys": '{"k1": "' + secret + '"'},
        )
        status = daemon.wait()
        assert_that(status, is_(equal_to(2)), daemon.tail())
        assert_that(daemon.log(), contains_string("pubsub_signing.keys is not valid JSON"))
        assert_that(daemon.log(), not_(contains_string(secret)))

    def test_shared_local_endpoint_listens_on_loopback_only(self):
        """The tests' local endpoint listens on 127.0.0.1 only."""
        port = int(fixtures.endpoint().url.rsplit(":", 1)[1])
        addresses = listening_addresses(port=port)
        assert_that(addresses, is_(not_(empty())))
        assert_that([is_loopback(address) for address in addresses], only_contains(True))

    def test_proxy_listens_on_loopback_only(self):
        """The fault-injecting proxy listens on 127.0.0.1 only."""
        with Proxy(target_port=9) as proxy:
            addresses = listening_addresses(port=proxy.port)
        assert_that(addresses, is_(not_(empty())))
        assert_that([is_loopback(address) for address in addresses], only_contains(True))

    def test_nothing_from_the_wire_is_unpickled_or_evaluated(self):
        """No library module imports pickle, marshal, shelve or yaml, nor calls eval or exec."""
        package = Path(__file__).resolve().parent.parent
        forbidden_modules = {"pickle", "cPickle", "marshal", "shelve", "dill", "yaml", "jsonpickle"}
        found: list[str] = []
        for path in sorted(package.rglob("*.py")):
            if "tests" in path.relative_to(package).parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom):
                    names = {(node.module or "").split(".")[0]}
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    names = {node.func.id} & {"eval", "exec"}
                else:
                    continue
                found.extend(f"{path.name}: {name}" for name in names & (forbidden_modules | {"eval", "exec"}))
        assert_that(found, is_(empty()))
