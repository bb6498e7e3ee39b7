"""Daemons whose handlers are async, on the local endpoint; run in a process of their own by test_async_handlers.

When every active handler of a daemon is `async def`, the runner runs them as tasks on the handler
loop; with a sync handler among them, handler threads wait for each coroutine. A process that
imports sync foreign-event functions (active in every daemon) never sees the first mode, so these
checks run under `python -m unittest microcosm_pubsub.tests.async_lane_checks`, with nothing else
imported.
"""
from __future__ import annotations

import asyncio
import threading
import unittest
from typing import Any

from hamcrest import assert_that, equal_to, is_
from microcosm.api import load_from_dict

from microcosm_pubsub.aws.provisioning import provision
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.testing.queues import admin_clients
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.test_async_handlers import FOLLOW_UP, TASK, WAIT_SECONDS


class CountingAsyncHandler:
    """Holds each message until released, counting how many coroutines run at once."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0
        self.handled: list[str] = []

    async def __call__(self, message: dict[str, Any]) -> bool:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            while not self.release.is_set():
                await asyncio.sleep(0.005)
        finally:
            with self.lock:
                self.running -= 1
                self.handled.append(message["name"])
        return True


class AsyncDaemonTestCase(unittest.TestCase):
    def start_held(self, sync_too: bool = False) -> tuple[ConsumerDaemon, threading.Thread, CountingAsyncHandler, Any]:
        """A daemon at --concurrency 4 on a fresh queue, its runner started, and ten messages its handler holds.

        :param sync_too: a sync handler among the active ones (handler threads, each waiting on its coroutine)
        """
        sns, sqs = admin_clients(fixtures.endpoint())
        stack = provision(sns, sqs, fixtures.unique_name("async"), dead_letter=False)
        self.queue_url = stack.queue_url
        release = threading.Event()
        self.addCleanup(release.set)
        handler = CountingAsyncHandler(release)
        config = fixtures.graph_config(stack, pubsub_runner={"concurrency": 4})
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict(config))
        daemon.graph.sqs_message_handler_registry.register(TASK, handler)
        if sync_too:
            daemon.graph.sqs_message_handler_registry.register(FOLLOW_UP, lambda message: True)
        daemon.start()
        daemon.graph.use("sqs_client")
        assert daemon.runner is not None
        thread = threading.Thread(target=daemon.runner.run, name="async-runner-under-test", daemon=True)
        thread.start()
        self.names = [f"job-{index}" for index in range(10)]
        for name in self.names:
            daemon.graph.sns_producer.produce(TASK, name=name)
        fixtures.wait_for(lambda: handler.running >= 4, WAIT_SECONDS)
        return daemon, thread, handler, sqs


class TestAsyncDaemon(AsyncDaemonTestCase):
    def run_held(self, sync_too: bool) -> tuple[Any, ...]:
        """Ten messages at --concurrency 4, held in the handler until four run; what ran, and what is left."""
        daemon, thread, handler, sqs = self.start_held(sync_too)
        # A broken bound would start a fifth while the four are held
        fixtures.wait_for(lambda: handler.running > 4, timeout=0.3)
        held = handler.max_running
        handler.release.set()
        fixtures.wait_for(lambda: len(handler.handled) >= len(self.names), WAIT_SECONDS)
        daemon.stop.set()
        thread.join(WAIT_SECONDS)
        fixtures.wait_for(lambda: fixtures.queue_counts(sqs, self.queue_url) == (0, 0), WAIT_SECONDS)
        assert daemon.runner is not None
        return (
            daemon.runner.lane is not None, held, sorted(handler.handled) == sorted(self.names), thread.is_alive(),
            fixtures.queue_counts(sqs, self.queue_url),
        )

    def test_all_async_handlers_run_as_tasks_bounded_by_concurrency(self) -> None:
        """Every handler async: they run as tasks on the loop (no handler threads), four at once, never more."""
        assert_that(self.run_held(sync_too=False), is_(equal_to((True, 4, True, False, (0, 0)))))

    def test_async_among_sync_handlers_is_bounded_by_concurrency(self) -> None:
        """With a sync handler too, handler threads run the async one, still four at once, never more."""
        assert_that(self.run_held(sync_too=True), is_(equal_to((False, 4, True, False, (0, 0)))))


class TestAsyncDaemonStop(AsyncDaemonTestCase):
    def test_stop_finishes_running_tasks_and_hands_back_the_rest(self) -> None:
        """Stopped with four async tasks running: they finish and are deleted; the rest are visible again at once."""
        daemon, thread, handler, sqs = self.start_held()
        daemon.stop.set()
        # The open poll is waited out (1 s here) while the four run; then they are let go
        fixtures.wait_for(lambda: not thread.is_alive(), timeout=1.5)
        handler.release.set()
        thread.join(WAIT_SECONDS)
        # Held ones handled, the others back at once: nothing hidden, nothing handled twice
        assert_that(
            (thread.is_alive(), len(set(handler.handled)), fixtures.queue_counts(sqs, self.queue_url)),
            is_(equal_to((False, 4, (6, 0)))),
        )
