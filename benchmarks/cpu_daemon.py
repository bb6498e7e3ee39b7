"""The daemon the multi-core and SIGTERM phases run: `python -m benchmarks.cpu_daemon --sqs-queue-url URL`.

Its handler burns `BENCH_CPU_ITERATIONS` rounds of SHA-256 over 64 bytes (small inputs: hashlib
keeps the GIL, as JSON, templating or crypto in a handler would) and appends the time it finished
to the file `BENCH_CPU_LOG` names, one line per message: the benchmark reads throughput from it.
"""
from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from microcosm.api import binding

from benchmarks.common import ItemSchema
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.decorators import handles


ITERATIONS_VARIABLE = "BENCH_CPU_ITERATIONS"
LOG_VARIABLE = "BENCH_CPU_LOG"


def burn(iterations: int) -> bytes:
    """`iterations` chained SHA-256 digests of 64 bytes: CPU under the GIL, nothing else."""
    digest = bytes(64)
    for _ in range(iterations):
        digest = hashlib.sha256(digest).digest() * 2
    return digest


@binding("bench_cpu_handler")
@handles(ItemSchema)
class BurningHandler:
    """A CPU-bound handler: a fixed amount of hashing, then one line of completion time."""

    def __init__(self, graph: Any) -> None:
        self.iterations = int(os.environ.get(ITERATIONS_VARIABLE, "0"))
        self.log = os.environ.get(LOG_VARIABLE)

    def __call__(self, content: dict[str, Any]) -> bool:
        burn(self.iterations)
        if self.log:
            # O_APPEND: lines from several processes interleave whole
            descriptor = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, f"{time.time():.6f} {os.getpid()}\n".encode())
            finally:
                os.close(descriptor)
        return True


class CpuDaemon(ConsumerDaemon):
    name = "bench_cpu"

    @property
    def components(self) -> list[str]:
        return [*super().components, "bench_cpu_handler"]


if __name__ == "__main__":
    CpuDaemon().run()
