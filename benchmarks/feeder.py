"""A feeder process that keeps a queue shallow but never empty while a consumer is measured.

moto's SQS spends time proportional to the queue's depth on every message it sends or receives,
so a deep queue would measure moto instead of the client. The feeder runs in its own process (its
CPU is not the client's) and tops the queue up to `depth` messages not yet settled, reading the
consumer's settled count from a shared 8-byte counter file that the benchmark process writes.

Protocol on stdin/stdout, one line each: `<queue_url> <total> <depth>` -> `READY` once the first
`depth` messages are queued -> `FED` once all `total` are.
"""
from __future__ import annotations

import mmap
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from microcosm_pubsub.aws.local import LocalEndpoint


COUNTER = struct.Struct("<q")
# SQS SendMessageBatch takes at most ten entries
BATCH = 10
POLL_SECONDS = 0.001
READY_TIMEOUT_SECONDS = 60.0


class Counter:
    """An int64 in a memory-mapped file: written by one process, read by another."""

    def __init__(self, path: str, create: bool = False) -> None:
        if create:
            Path(path).write_bytes(bytes(COUNTER.size))
        self._file = open(path, "r+b")  # held for the mapping's life, closed in close()
        self._map = mmap.mmap(self._file.fileno(), COUNTER.size)

    @property
    def value(self) -> int:
        return int(COUNTER.unpack_from(self._map)[0])

    @value.setter
    def value(self, value: int) -> None:
        COUNTER.pack_into(self._map, 0, value)

    def close(self) -> None:
        self._map.close()
        self._file.close()


class Feeder:
    """The benchmark side: starts the feeder process and hands it one queue at a time."""

    def __init__(self, endpoint: LocalEndpoint, body: str) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="bench-feeder-")
        counter_path = os.path.join(self.directory.name, "settled")
        body_path = os.path.join(self.directory.name, "body.json")
        Path(body_path).write_text(body, encoding="utf-8")
        self.settled = Counter(counter_path, create=True)
        root = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, **endpoint.environ(), "PYTHONPATH": path}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks.feeder", counter_path, body_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
        )

    def prefill(self, queue_url: str, total: int, depth: int) -> None:
        """Queue the first `depth` of `total` messages; the rest follow as the consumer settles."""
        self.settled.value = 0
        self._send(f"{queue_url} {total} {depth}")
        self._expect("READY")

    def report(self, settled: int) -> None:
        self.settled.value = settled

    def wait_fed(self) -> None:
        self._expect("FED")

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.settled.close()
        self.directory.cleanup()

    def _send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def _expect(self, word: str) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"feeder said {line!r} instead of {word!r} (exit status {self.process.poll()})")


def feed(sqs: Any, settled: Counter, body: str, queue_url: str, total: int, depth: int, out: IO[str]) -> None:
    sent = 0
    ready = False
    while sent < total:
        room = depth - (sent - settled.value)
        if not ready and (room <= 0 or sent >= total):
            ready = True
            print("READY", file=out, flush=True)
        if room <= 0:
            time.sleep(POLL_SECONDS)
            continue
        count = min(BATCH, total - sent, room)
        entries = [{"Id": str(index), "MessageBody": body} for index in range(count)]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"send_message_batch failed: {response['Failed']}")
        sent += count
    if not ready:
        print("READY", file=out, flush=True)
    print("FED", file=out, flush=True)


def main(argv: list[str]) -> None:
    counter_path, body_path = argv
    settled = Counter(counter_path)
    body = Path(body_path).read_text(encoding="utf-8")
    endpoint = LocalEndpoint()
    endpoint.url = os.environ["AWS_ENDPOINT_URL"]
    sqs = endpoint.client("sqs")
    try:
        for line in sys.stdin:
            queue_url, total, depth = line.split()
            feed(sqs, settled, body, queue_url, int(total), int(depth), sys.stdout)
    finally:
        sqs.close()
        settled.close()


if __name__ == "__main__":
    main(sys.argv[1:])
