"""The daemon whose memory the backlog phase watches: `python -m benchmarks.backlog_daemon --sqs-queue-url URL`."""
from __future__ import annotations

import time
from typing import Any

from microcosm.api import binding

from benchmarks.common import ItemSchema
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.decorators import handles


HANDLER_SECONDS = 0.02


@binding("bench_backlog_handler")
@handles(ItemSchema)
class SleepingHandler:
    """An I/O-bound handler: a 20 ms call to something else."""

    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, content: dict[str, Any]) -> bool:
        time.sleep(HANDLER_SECONDS)
        return True


class BacklogDaemon(ConsumerDaemon):
    name = "bench_backlog"

    @property
    def components(self) -> list[str]:
        return [*super().components, "bench_backlog_handler"]


if __name__ == "__main__":
    BacklogDaemon().run()
