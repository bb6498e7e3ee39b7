"""Backlog phase: peak resident memory of a daemon process consuming a shallow and a deep queue."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from microcosm_pubsub.aws.local import LocalEndpoint


# SQS SendMessageBatch takes at most ten entries
BATCH = 10
_SUMMARY = re.compile(r"bench_backlog stopped: (.*)$", re.MULTILINE)


def fill(sqs: Any, queue_url: str, body: str, messages: int) -> float:
    """Queue `messages` copies of `body`; returns the seconds it took (moto's send is O(depth))."""
    started = time.perf_counter()
    for start in range(0, messages, BATCH):
        count = min(BATCH, messages - start)
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": body} for i in range(count)])
    return time.perf_counter() - started


def status_kib(pid: int, field: str) -> int:
    """A `VmRSS`-style field of /proc/<pid>/status, in KiB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def watch_daemon(endpoint: LocalEndpoint, queue_url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """Run the backlog daemon for `seconds`, then SIGTERM it; its peak RSS, what it handled, how it exited."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ, **endpoint.environ(),
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        "BENCH_BACKLOG__SQS_CONSUMER__WAIT_SECONDS": "1",
    }
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks.backlog_daemon", "--sqs-queue-url", queue_url,
             "--concurrency", str(concurrency)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
        )
        peak = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            peak = max(peak, status_kib(process.pid, "VmHWM"))
            time.sleep(0.1)
        peak = max(peak, status_kib(process.pid, "VmHWM"))
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        stderr.seek(0)
        log = stderr.read().decode(errors="replace")
    match = _SUMMARY.search(log)
    handled = sum(int(n) for n in re.findall(r"(\d+)", match.group(1))) if match else 0
    if code != 0:
        raise RuntimeError(f"the backlog daemon exited with {code}:\n{log[-2000:]}")
    return {"peak_rss_mib": peak / 1024, "handled": handled, "exit_code": code}


def backlog_phase(endpoint: LocalEndpoint, body: str, backlogs: list[int], seconds: float,
                  concurrency: int = 4) -> list[dict[str, Any]]:
    """For each backlog size: a fresh queue filled that deep, and one daemon consuming it for `seconds`."""
    sqs = endpoint.client("sqs")
    results = []
    try:
        for backlog in backlogs:
            queue_url = sqs.create_queue(QueueName=f"bench-backlog-{uuid.uuid4().hex[:12]}")["QueueUrl"]
            fill_seconds = fill(sqs, queue_url, body, backlog)
            watched = watch_daemon(endpoint, queue_url, seconds, concurrency)
            results.append({"backlog": backlog, "fill_seconds": fill_seconds, "concurrency": concurrency,
                            "seconds": seconds, **watched})
            sqs.delete_queue(QueueUrl=queue_url)
    finally:
        sqs.close()
    return results
