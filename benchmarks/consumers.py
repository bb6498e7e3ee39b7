"""The consumers measured: ours (dispatcher loop, daemon Runner) and plain boto3 (loop, thread pools)."""
from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from microcosm.api import load_from_dict

from benchmarks.common import MEDIA_TYPE
from microcosm_pubsub.consume.consumer import SQS_MAX_BATCH
from microcosm_pubsub.runtime.daemon import ConsumerDaemon


Handler = Callable[[dict[str, Any]], Any]
# What the plain consumers ask for, so the endpoint does the same work for both
RECEIVE_ARGS: dict[str, Any] = {
    "MaxNumberOfMessages": SQS_MAX_BATCH,
    "AttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
    "MessageAttributeNames": ["All"],
}


def noop(content: dict[str, Any]) -> bool:
    return True


def sleeper(seconds: float) -> Handler:
    def handle(content: dict[str, Any]) -> bool:
        time.sleep(seconds)
        return True
    return handle


def async_sleeper(seconds: float) -> Callable[[dict[str, Any]], Awaitable[bool]]:
    """The same handler written `async def`: its await runs on the process's handler loop."""
    async def handle(content: dict[str, Any]) -> bool:
        await asyncio.sleep(seconds)
        return True
    return handle


def plain_content(message: dict[str, Any]) -> dict[str, Any]:
    """What a hand-written consumer parses: the SNS envelope, then the message inside it."""
    envelope = json.loads(message["Body"])
    content: dict[str, Any] = json.loads(envelope["Message"])
    return content


class Consumer:
    """Consumes in background threads from `start` until `stop`; `settled` counts deleted messages."""

    def __init__(self) -> None:
        self.halt = threading.Event()
        self.thread: threading.Thread | None = None
        self._settled = 0
        # Closed at stop: a benchmark makes hundreds of clients and must not leak their sockets
        self.clients: list[Any] = []

    @property
    def counted_client(self) -> Any:
        """The SQS client this consumer calls through (the benchmark counts its calls)."""
        return self.clients[0]

    @property
    def settled(self) -> int:
        return self._settled

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=type(self).__name__, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.halt.set()
        if self.thread is not None:
            self.thread.join(30)
        for client in self.clients:
            client.close()

    def run(self) -> None:
        raise NotImplementedError


class DispatcherLoop(Consumer):
    """Ours, by hand: `sqs_message_dispatcher.handle_batch(sqs_consumer.consume())` in a loop."""

    def __init__(self, graph: Any, handler: Handler) -> None:
        super().__init__()
        graph.sqs_message_handler_registry.register(MEDIA_TYPE, handler)
        self.consumer = graph.sqs_consumer
        self.dispatcher = graph.sqs_message_dispatcher
        self.clients.append(self.consumer.client)

    def run(self) -> None:
        while not self.halt.is_set():
            self._settled += len(self.dispatcher.handle_batch(self.consumer.consume()))


class BenchDaemon(ConsumerDaemon):
    name = "bench"


class DaemonRunner(Consumer):
    """Ours, as a service runs it: a `ConsumerDaemon`'s Runner with `concurrency` handler threads."""

    def __init__(self, config: dict[str, Any], handler: Handler) -> None:
        super().__init__()
        self.daemon = BenchDaemon.create_for_testing(loader=load_from_dict(config))
        self.daemon.graph.sqs_message_handler_registry.register(MEDIA_TYPE, handler)
        self.daemon.start()
        self.halt = self.daemon.stop

    @property
    def counted_client(self) -> Any:
        # Read when asked: the in-memory benchmark swaps the client after the daemon is built
        return self.daemon.graph.sqs_consumer.client

    def stop(self) -> None:
        super().stop()
        self.counted_client.close()

    @property
    def settled(self) -> int:
        assert self.daemon.runner is not None
        try:
            self._settled = sum(list(self.daemon.runner.counts.values()))
        except RuntimeError:
            pass  # the settler added an outcome while we looked: keep the last count
        return self._settled

    def run(self) -> None:
        assert self.daemon.runner is not None
        self.daemon.runner.run()


class PlainLoop(Consumer):
    """Plain boto3: receive ten, handle each, delete them with one DeleteMessageBatch."""

    def __init__(self, sqs: Any, queue_url: str, handler: Handler, wait_seconds: int = 1) -> None:
        super().__init__()
        self.sqs, self.queue_url, self.handler = sqs, queue_url, handler
        self.wait_seconds = wait_seconds
        self.clients.append(sqs)

    def run(self) -> None:
        while not self.halt.is_set():
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, **{**RECEIVE_ARGS, "WaitTimeSeconds": self.wait_seconds},
            )
            messages = response.get("Messages", [])
            for message in messages:
                self.handler(plain_content(message))
            if messages:
                entries = [{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                           for index, message in enumerate(messages)]
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
                self._settled += len(messages)


def tuned_shape(concurrency: int) -> tuple[int, int]:
    """(pollers, threads) of the hand-tuned consumer at a concurrency: 4 pollers and 40 threads at 32."""
    return max(1, concurrency // 8), concurrency + concurrency // 4


class PlainPollers(Consumer):
    """Plain boto3 as a careful engineer tunes it: `pollers` threads receive ten at a time into a pool.

    Each poller receives only while the pool has an idle thread (so at most `threads` + 10 x
    `pollers` messages are held); handler threads pass finished receipt handles to one deleter
    thread, which deletes in batches of ten and sends a partial batch only when no handle came
    for `LINGER_SECONDS`.
    """

    LINGER_SECONDS = 0.05

    def __init__(
        self, sqs: Any, queue_url: str, handler: Handler, pollers: int, threads: int, wait_seconds: int = 1,
    ) -> None:
        super().__init__()
        self.sqs_client, self.queue_url, self.handler = sqs, queue_url, handler
        self.wait_seconds = wait_seconds
        self.clients.append(sqs)
        self.pollers, self.threads = pollers, threads
        self.changed = threading.Condition()
        self.unhandled = 0
        self.finished: queue.Queue[str | None] = queue.Queue()
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="tuned-handler")
        self.workers: list[threading.Thread] = []

    def start(self) -> None:
        self.workers = [
            threading.Thread(target=self.poll, name=f"tuned-poller-{index}", daemon=True)
            for index in range(self.pollers)
        ]
        super().start()
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        self.halt.set()
        for worker in self.workers:
            worker.join(30)
        self.pool.shutdown(wait=True)
        self.finished.put(None)
        super().stop()

    def work(self, message: dict[str, Any]) -> None:
        try:
            self.handler(plain_content(message))
        finally:
            with self.changed:
                self.unhandled -= 1
                self.changed.notify()
            self.finished.put(message["ReceiptHandle"])

    def poll(self) -> None:
        while not self.halt.is_set():
            with self.changed:
                if not self.changed.wait_for(lambda: self.unhandled < self.threads, 1.0):
                    continue
            response = self.sqs_client.receive_message(
                QueueUrl=self.queue_url, **{**RECEIVE_ARGS, "WaitTimeSeconds": self.wait_seconds},
            )
            messages = response.get("Messages", [])
            with self.changed:
                self.unhandled += len(messages)
            for message in messages:
                self.pool.submit(self.work, message)

    def run(self) -> None:
        """The deleter: batches of ten, a partial one after a quiet `LINGER_SECONDS`."""
        handles: list[str] = []
        closing = False
        while not closing:
            try:
                handle = self.finished.get(timeout=self.LINGER_SECONDS) if handles else self.finished.get()
            except queue.Empty:
                handle = ""
            if handle is None:
                closing = True
            elif handle:
                handles.append(handle)
                if len(handles) < SQS_MAX_BATCH:
                    continue
            if handles:
                self.sqs_client.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(index), "ReceiptHandle": receipt} for index, receipt in enumerate(handles)
                ])
                self._settled += len(handles)
                handles = []
