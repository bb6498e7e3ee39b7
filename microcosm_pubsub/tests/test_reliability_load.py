"""Reliability under load: many messages, random handler failures, memory sampled."""
from __future__ import annotations

import time
import unittest
from typing import ClassVar

from hamcrest import assert_that, empty, equal_to, is_, less_than, not_, only_contains

from microcosm_pubsub.aws.local import LocalEndpoint
from microcosm_pubsub.tests.reliability.cases import SOAK
from microcosm_pubsub.tests.reliability.daemon import WorkSchema
from microcosm_pubsub.tests.reliability.harness import Lab, is_loopback, listening_addresses, record_figures


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
