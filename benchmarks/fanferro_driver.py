"""fanferro's side of the benchmark: a process under .venv-fanferro's Python >= 3.12, driven line by line.

It imports only fanferro and the standard library (the harness, boto3 and our package stay in the
parent process, on Python 3.11). One JSON object per line on stdin, one answer per line on stdout:

- `{"op": "produce", "topic_arn": ..., "count": n, "batch": 1 | 10}` publishes `n` messages with
  `topic.publish` (batch 1) or `topic.publish_batch` of ten, and answers `{"cpu": seconds}`: this
  process's CPU (every thread, the Rust runtime's included) over exactly that work.
- `{"op": "prepare", "queue_url": ..., "concurrency": c, "handler_seconds": s, "blocking": b}` builds a
  consumer for the queue and looks the queue up (outside the timed window), and answers `{"ready": true}`.
  With `blocking` the handler's wait is a blocking `time.sleep`, run as fanferro's guide says blocking work
  must be: `await asyncio.to_thread(...)`, on a default executor of `concurrency` threads (asyncio's own
  default, min(32, cores + 4), would cap it at 6 here);
  `{"op": "start"}` starts it and answers `{"cpu_ns": ...}`, this process's CPU then; each handler
  writes the count of handled messages and this process's CPU at that moment into the shared file
  (argv[1]: two int64s the parent polls, as it polls the other consumers' counts), so the parent
  takes the CPU up to the count it stops the clock at; `{"op": "stop"}` answers fanferro's own
  counters (`consumer.stats()`, its SQS requests included) from just before the stop, then stops.

The message published is what the harness's plain boto3 producer sends (benchmarks.common.plain_body):
the same JSON document and the `media_type` attribute, encoded here by fanferro itself.
"""
from __future__ import annotations

import asyncio
import json
import mmap
import os
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Installed only in .venv-fanferro (Python >= 3.12), not in the environment mypy runs in: checked as Any
import fanferro  # type: ignore[import-not-found]


# Kept equal to benchmarks.common (this module cannot import it: no microcosm_pubsub under this interpreter)
MEDIA_TYPE = "application/vnd.bench.pubsub._.created.item"
CONTENT: dict[str, Any] = {"name": "widget", "count": 42, "uri": "https://service.example/api/v1/item/42"}
ATTRIBUTES = {"media_type": MEDIA_TYPE}
BATCH = 10
# The count of handled messages and this process's CPU in ns when it was written (the parent's layout)
SHARED = struct.Struct("<qq")
# fanferro's guide for a queue a test reuses: a short long poll, so a stop's abandoned poll ends soon.
# The harness gives every other contender the same 1 s long poll
WAIT_SECONDS = 1.0


def body() -> dict[str, Any]:
    """The document benchmarks.common.plain_body serialises, as a dict for fanferro's JSON codec."""
    return {"mediaType": MEDIA_TYPE, "opaqueData": {"x-request-published": str(time.time())}, **CONTENT}


class Counter:
    """The shared count and CPU the parent reads (benchmarks.fanferro_contender.Shared)."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "r+b")  # held for the mapping's life
        self._map = mmap.mmap(self._file.fileno(), SHARED.size)

    def set(self, value: int) -> int:
        cpu_ns = time.process_time_ns()
        SHARED.pack_into(self._map, 0, value, cpu_ns)
        return cpu_ns


class Run:
    """One consume run: the consumer, with an `async def` handler that counts into the shared file."""

    def __init__(self, client: fanferro.Client, command: dict[str, Any], counter: Counter) -> None:
        self.counter = counter
        self.handled = 0
        self.stats_at_start: dict[str, Any] = {}
        seconds = float(command["handler_seconds"])
        queue = client.queue(url=command["queue_url"])
        self.consumer = client.consumer(
            queue, concurrency=int(command["concurrency"]), wait_time=WAIT_SECONDS,
        )

        # The harness's handlers parse the message (benchmarks.consumers.plain_content): here
        # fanferro unwraps the SNS envelope and decodes the JSON into the dict this handler takes
        if seconds > 0 and command.get("blocking"):
            async def handle(content: dict[str, Any]) -> None:
                await asyncio.to_thread(time.sleep, seconds)
                self.count()
        elif seconds > 0:
            async def handle(content: dict[str, Any]) -> None:
                await asyncio.sleep(seconds)
                self.count()
        else:
            async def handle(content: dict[str, Any]) -> None:
                self.count()
        self.consumer.default(handle)

    def count(self) -> None:
        self.handled += 1
        self.counter.set(self.handled)

    async def prepare(self) -> None:
        """Looks the queue up now (the consumer's start would), so the timed window holds none of it."""
        await self.consumer.queue.resolve()

    async def start(self) -> int:
        self.stats_at_start = self.consumer.stats()
        cpu_ns = self.counter.set(0)
        await self.consumer.start()
        return cpu_ns

    async def stop(self) -> dict[str, Any]:
        answer = {"handled": self.handled, "stats_at_start": self.stats_at_start, "stats": self.consumer.stats()}
        await self.consumer.stop()
        return answer


async def produce(topic: Any, count: int, batch: int) -> float:
    started = time.process_time()
    if batch == 1:
        for _ in range(count):
            await topic.publish(body(), attributes=ATTRIBUTES)
    else:
        for _ in range(count // batch):
            await topic.publish_batch([body() for _ in range(batch)], attributes=ATTRIBUTES)
    return time.process_time() - started


async def serve(counter: Counter) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    client = fanferro.Client(
        endpoint_url=os.environ["AWS_ENDPOINT_URL"], region=os.environ["AWS_DEFAULT_REGION"],
        credentials=fanferro.Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]),
        # The harness's queues have no dead-letter queue (nor do the other contenders'): fanferro's warning
        # about it, once a run, would fill the benchmark's output
        logging=fanferro.LoggingConfig(disabled=["config.warning"]),
    )
    topics: dict[str, Any] = {}
    run: Run | None = None
    # The default executor's threads, once a blocking handler has sized it
    threads = 0
    async with client:
        print(json.dumps({"ready": True, "fanferro": fanferro.__version__}), flush=True)
        while line := await reader.readline():
            command = json.loads(line)
            answer: dict[str, Any]
            if command["op"] == "produce":
                arn = command["topic_arn"]
                if arn not in topics:
                    topics[arn] = client.topic(arn=arn)
                answer = {"cpu": await produce(topics[arn], int(command["count"]), int(command["batch"]))}
            elif command["op"] == "prepare":
                if command.get("blocking") and threads != int(command["concurrency"]):
                    # Made once for the rounds that share a concurrency, not once a round
                    threads = int(command["concurrency"])
                    loop.set_default_executor(ThreadPoolExecutor(threads))
                run = Run(client, command, counter)
                await run.prepare()
                answer = {"ready": True}
            elif command["op"] == "start":
                assert run is not None
                answer = {"cpu_ns": await run.start()}
            elif command["op"] == "stop":
                assert run is not None
                answer = await run.stop()
                run = None
            else:
                answer = {"error": f"unknown op {command['op']!r}"}
            print(json.dumps(answer, default=str), flush=True)


def main(argv: list[str]) -> None:
    asyncio.run(serve(Counter(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
