"""The consumers measured: ours (dispatcher loop, daemon Runner) and plain boto3 (loop, thread pool)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from microcosm.api import load_from_dict

from benchmarks.common import MEDIA_TYPE
from microcosm_pubsub.consumer import SQS_MAX_BATCH
from microcosm_pubsub.daemon import ConsumerDaemon


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
        self.clients.append(self.daemon.graph.sqs_consumer.client)
        self.halt = self.daemon.stop

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


class PlainThreadPool(Consumer):
    """Plain boto3 with a `ThreadPoolExecutor`: one thread receives and deletes, `concurrency` handle.

    At most max(10, 2 x concurrency) messages are between receive and delete, as in our Runner;
    deletes go in batches of ten unless the pool is full or idle.
    """

    def __init__(self, sqs: Any, queue_url: str, handler: Handler, concurrency: int, wait_seconds: int = 1) -> None:
        super().__init__()
        self.sqs, self.queue_url, self.handler = sqs, queue_url, handler
        self.wait_seconds = wait_seconds
        self.clients.append(sqs)
        self.concurrency = concurrency
        self.capacity = max(SQS_MAX_BATCH, 2 * concurrency)
        self.changed = threading.Condition()
        self.in_flight = 0
        self.finished: list[str] = []

    def work(self, message: dict[str, Any]) -> None:
        try:
            self.handler(plain_content(message))
        finally:
            with self.changed:
                self.finished.append(message["ReceiptHandle"])
                self.changed.notify()

    def delete_finished(self, everything: bool) -> None:
        """Delete finished messages in full batches of ten, or all of them when `everything`."""
        with self.changed:
            count = len(self.finished) if everything else len(self.finished) - len(self.finished) % SQS_MAX_BATCH
            handles, self.finished = self.finished[:count], self.finished[count:]
        for start in range(0, len(handles), SQS_MAX_BATCH):
            chunk = handles[start:start + SQS_MAX_BATCH]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(index), "ReceiptHandle": handle} for index, handle in enumerate(chunk)
            ])
            with self.changed:
                self.in_flight -= len(chunk)
            self._settled += len(chunk)

    def run(self) -> None:
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="plain-handler") as pool:
            while not self.halt.is_set():
                with self.changed:
                    self.changed.wait_for(lambda: self.in_flight < self.capacity or self.finished, 1.0)
                    # Partial batches go out only when nothing else could join them soon
                    everything = self.in_flight >= self.capacity or len(self.finished) == self.in_flight
                self.delete_finished(everything)
                free = self.capacity - self.in_flight
                if free <= 0:
                    continue
                # A long poll would hold finished messages back from their delete
                response = self.sqs.receive_message(QueueUrl=self.queue_url, **{
                    **RECEIVE_ARGS, "MaxNumberOfMessages": min(free, SQS_MAX_BATCH),
                    "WaitTimeSeconds": 0 if self.in_flight else self.wait_seconds,
                })
                messages = response.get("Messages", [])
                with self.changed:
                    self.in_flight += len(messages)
                for message in messages:
                    pool.submit(self.work, message)
            pool.shutdown(wait=True)
            self.delete_finished(everything=True)
