"""fanferro as a contender: its driver process (benchmarks/fanferro_driver.py) seen from the harness.

fanferro needs Python >= 3.12, so it runs in a child process under `.venv-fanferro` (built by
scripts/fanferro_env.sh). Its client CPU is counted the way the harness counts the others': the CPU
of the process running the client, every thread, over the timed window. Here that is the child's
own `time.process_time()` over the work (its Rust runtime's threads included) plus this process's
CPU over the same window (the benchmark's polling, which the others' figures include too).
"""
from __future__ import annotations

import json
import mmap
import os
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from benchmarks.common import Sample, timed
from benchmarks.consumers import Consumer
from microcosm_pubsub.aws.local import LocalEndpoint


ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-fanferro"
PYTHON = VENV / "bin" / "python"
DRIVER = Path(__file__).resolve().parent / "fanferro_driver.py"
# scripts/fanferro_env.sh writes why it could not build the environment here
FAILED = ROOT / ".cache" / "fanferro_env.failed"
# The consume phases fanferro joins: the 20 ms handler at these concurrencies, and the no-op one
CONCURRENCIES = (1, 32)
# The driver's count of handled messages and its process CPU (ns) at that count (fanferro_driver.SHARED)
SHARED = struct.Struct("<qq")


class Shared:
    """The two int64s the driver writes at every handled message and this process polls."""

    def __init__(self, path: str) -> None:
        Path(path).write_bytes(bytes(SHARED.size))
        self._file = open(path, "r+b")  # held for the mapping's life, closed in close()
        self._map = mmap.mmap(self._file.fileno(), SHARED.size)

    def read(self) -> tuple[int, int]:
        count, cpu_ns = SHARED.unpack_from(self._map)
        return int(count), int(cpu_ns)

    def close(self) -> None:
        self._map.close()
        self._file.close()


def status() -> dict[str, str]:
    """fanferro's version and Python where its environment is usable, else `skipped`: why not."""
    if not PYTHON.exists():
        reason = FAILED.read_text(encoding="utf-8").strip() if FAILED.exists() else ""
        return {"skipped": reason or f"no {VENV.name}: scripts/fanferro_env.sh builds it (make bench runs it first)"}
    check = subprocess.run(  # noqa: S603 - the venv's own interpreter
        [str(PYTHON), "-c", "import fanferro, platform; print(fanferro.__version__, platform.python_version())"],
        capture_output=True, text=True, check=False,
    )
    if check.returncode != 0:
        last = check.stderr.strip().splitlines()[-1:] or [f"exit status {check.returncode}"]
        return {"skipped": f"{PYTHON} cannot import fanferro: {last[0]}"}
    version, python = check.stdout.split()
    return {"version": version, "python": python}


class Driver:
    """The driver process for one endpoint: one JSON command per line, one answer per line."""

    def __init__(self, endpoint: LocalEndpoint) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="bench-fanferro-")
        counter_path = os.path.join(self.directory.name, "handled")
        self.handled = Shared(counter_path)
        env = {**os.environ, **endpoint.environ()}
        # Loopback traffic goes straight to the endpoint, as the harness's boto3 clients' does
        for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env.pop(variable, None)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        # -P: the driver's folder stays off sys.path, so `import fanferro` finds the installed package
        self.process = subprocess.Popen(  # noqa: S603 - the venv's interpreter and our driver
            [str(PYTHON), "-P", str(DRIVER), counter_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
        )
        self.version = self._read()["fanferro"]

    def request(self, **command: Any) -> dict[str, Any]:
        stdin = self._pipe(self.process.stdin)
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any]:
        line = self._pipe(self.process.stdout).readline()
        if not line:
            raise RuntimeError(f"fanferro's driver ended (exit status {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"fanferro's driver: {answer['error']}")
        return answer

    @staticmethod
    def _pipe(pipe: IO[str] | None) -> IO[str]:
        assert pipe is not None
        return pipe

    def close(self) -> None:
        self._pipe(self.process.stdin).close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._pipe(self.process.stdout).close()
        self.handled.close()
        self.directory.cleanup()


@contextmanager
def driver(endpoint: LocalEndpoint, wanted: bool = True) -> Iterator[Driver | None]:
    """A driver for the phase, or None where not wanted or fanferro's environment is missing (the report says why)."""
    if not wanted or status().get("skipped"):
        yield None
        return
    started = Driver(endpoint)
    try:
        yield started
    finally:
        started.close()


def produce(driver: Driver, topic_arn: str, messages: int, batch: int, endpoint_pid: int | None) -> Sample:
    """`messages` published one per call (batch 1) or ten per PublishBatch; the child's CPU added."""
    samples: list[Sample] = []
    with timed(messages, samples, endpoint_pid):
        answer = driver.request(op="produce", topic_arn=topic_arn, count=messages, batch=batch)
    return replace(samples[0], cpu_seconds=samples[0].cpu_seconds + float(answer["cpu"]))


class FanferroConsumer(Consumer):
    """A fanferro consumer in the driver process, with an `async def` handler (`blocking`: its wait a blocking
    sleep in `asyncio.to_thread`); `settled` counts handled messages.

    fanferro acknowledges in the background (deletes batched after a 5 ms linger), so the count is of
    handlers returned, where the other consumers' counts are of deleted messages. Its CPU is the
    driver's from `start` to the handled message the clock stops at (read with the count).
    """

    def __init__(
        self, driver: Driver, queue_url: str, concurrency: int, handler_seconds: float, blocking: bool = False,
    ) -> None:
        super().__init__()
        self.driver = driver
        self.result: dict[str, Any] = {}
        self.cpu_started_ns = self.cpu_seen_ns = 0
        driver.request(
            op="prepare", queue_url=queue_url, concurrency=concurrency, handler_seconds=handler_seconds,
            blocking=blocking,
        )

    @property
    def counted_client(self) -> Any:
        return None  # no botocore client to count: the calls come from the driver's stats

    @property
    def settled(self) -> int:
        count, self.cpu_seen_ns = self.driver.handled.read()
        return count

    def start(self) -> None:
        self.cpu_started_ns = self.cpu_seen_ns = int(self.driver.request(op="start")["cpu_ns"])

    def stop(self) -> None:
        self.result = self.driver.request(op="stop")

    def adjust(self, sample: Sample) -> Sample:
        """The sample with the driver's CPU over the window added, and its SQS calls from fanferro's stats.

        fanferro's counters are read at the stop, a little after the window: its calls are scaled
        from the messages handled by then to the sample's.
        """
        made = calls(self.result.get("stats_at_start", {}), self.result.get("stats", {}))
        handled = max(int(self.result.get("handled", 0)), 1)
        return replace(
            sample, cpu_seconds=sample.cpu_seconds + (self.cpu_seen_ns - self.cpu_started_ns) / 1e9,
            calls={operation: round(count * sample.messages / handled) for operation, count in made.items()},
        )


# fanferro's engine counters of its SQS calls, by the operation names the harness counts
ENGINE_CALLS = {
    "ReceiveMessage": "receive_requests",
    "DeleteMessageBatch": "delete_requests",
    "ChangeMessageVisibilityBatch": "visibility_requests",
}


def calls(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """The SQS calls made between two `consumer.stats()` snapshots, where fanferro's stats count them."""
    start, end = before.get("engine", {}), after.get("engine", {})
    return {
        operation: int(end[name]) - int(start.get(name, 0))
        for operation, name in ENGINE_CALLS.items() if isinstance(end.get(name), int)
    }
