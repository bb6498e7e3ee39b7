"""Daemon-process phases: a CPU-bound handler at `--processes 1` and `2`, and how fast SIGTERM ends a long poll.

Both run `benchmarks.cpu_daemon` as a real subprocess against the endpoint, as a deployment runs it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any

from benchmarks.common import endpoint_pid, process_cpu_seconds, spread
from benchmarks.cpu_daemon import ITERATIONS_VARIABLE, LOG_VARIABLE, burn
from benchmarks.memory import fill, status_kib
from microcosm_pubsub.aws.local import LocalEndpoint


ROOT = str(Path(__file__).resolve().parent.parent)
# The daemon's start-up line once its receive loop is about to run
STARTED = "consuming "
START_TIMEOUT_SECONDS = 60.0
WATCH_SECONDS = 0.1
# Completions before this share of a run are start-up (imports, first receives), not throughput
SKIP_SHARE = 0.1


def calibrate(handler_seconds: float, probe: int = 2000) -> int:
    """Hashing rounds that take about `handler_seconds` of CPU on this machine (best of three probes)."""
    best = min(_probe(probe) for _ in range(3))
    return max(int(probe * handler_seconds / best), 1)


def _probe(iterations: int) -> float:
    started = time.thread_time()
    burn(iterations)
    return max(time.thread_time() - started, 1e-6)


def children(pid: int) -> list[int]:
    """The direct children of `pid`, from /proc (empty when it has none or is gone)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            found.extend(int(value) for value in text.split())
    except OSError:
        pass
    return found


class DaemonProcess:
    """`python -m benchmarks.cpu_daemon` as a subprocess, its log in a temporary file."""

    def __init__(self, endpoint: LocalEndpoint, queue_url: str, processes: int, environ: dict[str, str]) -> None:
        self.log: IO[bytes] = tempfile.TemporaryFile()
        env = {
            **os.environ, **endpoint.environ(),
            "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
            **environ,
        }
        self.processes = processes
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks.cpu_daemon", "--sqs-queue-url", queue_url,
             "--processes", str(processes)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log, env=env,
        )
        # Peak RSS (VmHWM, KiB) and CPU seconds so far of the parent and each child seen
        self.peaks: dict[int, int] = {}
        self.cpu: dict[int, float] = {}

    def text(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def wait_started(self) -> None:
        """Until every process logged its start-up line (its receive loop starts next)."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while self.text().count(STARTED) < self.processes:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the CPU daemon did not start (exit {self.process.poll()}):\n{self.text()[-2000:]}")
            time.sleep(WATCH_SECONDS)

    def watch_memory(self) -> None:
        for pid in [self.process.pid, *children(self.process.pid)]:
            self.peaks[pid] = max(self.peaks.get(pid, 0), status_kib(pid, "VmHWM"))
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), process_cpu_seconds(pid))

    @property
    def peak_rss_mib(self) -> float:
        return sum(self.peaks.values()) / 1024

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took to exit)."""
        started = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return code, time.perf_counter() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


def completion_throughput(stamps: list[float]) -> float:
    """Messages a second between completions, leaving out the start-up share of the run."""
    stamps = sorted(stamps)
    skip = int(len(stamps) * SKIP_SHARE)
    span = stamps[-1] - stamps[skip] if len(stamps) > skip + 1 else 0.0
    return (len(stamps) - 1 - skip) / span if span > 0 else 0.0


def run_cpu_daemon(
    endpoint: LocalEndpoint, sqs: Any, body: str, messages: int, processes: int, iterations: int,
    timeout_seconds: float = 300.0,
) -> dict[str, Any]:
    """One daemon at `processes` over a queue filled with `messages`; until each is handled."""
    queue_url = sqs.create_queue(QueueName=f"bench-cpu-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    fill(sqs, queue_url, body, messages)
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as directory:
        stamps_path = Path(directory) / "handled"
        daemon = DaemonProcess(endpoint, queue_url, processes, {
            ITERATIONS_VARIABLE: str(iterations), LOG_VARIABLE: str(stamps_path),
            "BENCH_CPU__SQS_CONSUMER__WAIT_SECONDS": "1",
        })
        pid = endpoint_pid(endpoint)
        endpoint_cpu = process_cpu_seconds(pid)
        started = time.perf_counter()
        daemon.watch_memory()
        cpu_at_start = sum(daemon.cpu.values())
        try:
            deadline = time.monotonic() + timeout_seconds
            while True:
                daemon.watch_memory()
                handled = stamps_path.read_text().count("\n") if stamps_path.exists() else 0
                if handled >= messages:
                    break
                if daemon.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the CPU daemon handled {handled} of {messages} (exit {daemon.process.poll()}):\n"
                        f"{daemon.text()[-2000:]}"
                    )
                time.sleep(WATCH_SECONDS)
            daemon.watch_memory()
            seconds = time.perf_counter() - started
            endpoint_busy = (process_cpu_seconds(pid) - endpoint_cpu) / seconds
            # Cores the daemon's processes used: near the process count unless other work takes the CPU
            cores = (sum(daemon.cpu.values()) - cpu_at_start) / seconds
            code, _ = daemon.terminate()
            stamps = [float(line.split()[0]) for line in stamps_path.read_text().splitlines() if line]
        finally:
            daemon.close()
    sqs.delete_queue(QueueUrl=queue_url)
    if code != 0:
        raise RuntimeError(f"the CPU daemon at --processes {processes} exited with {code}")
    return {
        "processes": processes, "messages": len(stamps), "throughput": completion_throughput(stamps),
        "peak_rss_mib": daemon.peak_rss_mib, "process_count": len(daemon.peaks), "endpoint_busy": endpoint_busy,
        "cores": cores,
    }


def cpu_phase(
    endpoint: LocalEndpoint, body: str, messages: int, rounds: int, handler_seconds: float = 0.04,
    process_counts: tuple[int, ...] = (1, 2),
) -> dict[str, Any]:
    """The CPU-bound handler at each process count, alternating who goes first; medians and the ratio."""
    iterations = calibrate(handler_seconds)
    sqs = endpoint.client("sqs")
    runs: dict[int, list[dict[str, Any]]] = {count: [] for count in process_counts}
    try:
        for index in range(rounds):
            shift = index % len(process_counts)
            for count in process_counts[shift:] + process_counts[:shift]:
                runs[count].append(run_cpu_daemon(endpoint, sqs, body, messages, count, iterations))
    finally:
        sqs.close()
    first = process_counts[0]
    rows = []
    for count in process_counts:
        ratios = [run["throughput"] / base["throughput"] for run, base in zip(runs[count], runs[first], strict=True)]
        rows.append({
            "processes": count,
            "throughput": spread([run["throughput"] for run in runs[count]]),
            "throughput_ratio": spread(ratios),
            "peak_rss_mib": spread([run["peak_rss_mib"] for run in runs[count]]),
            "endpoint_busy": spread([run["endpoint_busy"] for run in runs[count]]),
            "cores": spread([run["cores"] for run in runs[count]]),
            "runs": runs[count],
        })
    return {"handler_seconds": handler_seconds, "iterations": iterations, "messages": messages, "rows": rows}


def sigterm_phase(
    endpoint: LocalEndpoint, rounds: int, wait_seconds: int = 20, process_counts: tuple[int, ...] = (1, 2),
    settle_seconds: float = 1.0,
) -> list[dict[str, Any]]:
    """Seconds from SIGTERM to exit for a daemon idle in a `wait_seconds` long poll on an empty queue.

    The signal goes `settle_seconds` after every process logged its start, so each is inside a receive,
    which the daemon waits out (SQS would serve an abandoned poll): the stop takes what is left of it.
    """
    sqs = endpoint.client("sqs")
    rows = []
    try:
        queue_url = sqs.create_queue(QueueName=f"bench-sigterm-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        for count in process_counts:
            seconds, codes = [], []
            for _ in range(rounds):
                daemon = DaemonProcess(endpoint, queue_url, count, {
                    "BENCH_CPU__SQS_CONSUMER__WAIT_SECONDS": str(wait_seconds),
                })
                try:
                    daemon.wait_started()
                    time.sleep(settle_seconds)
                    code, took = daemon.terminate()
                finally:
                    daemon.close()
                seconds.append(took)
                codes.append(code)
            rows.append({
                "processes": count, "wait_seconds": wait_seconds, "signal_after_seconds": settle_seconds,
                "exit_seconds": spread(seconds),
                "exit_codes": codes, "samples": seconds,
            })
        sqs.delete_queue(QueueUrl=queue_url)
    finally:
        sqs.close()
    return rows
