"""`python -m benchmarks.stages`: where the no-op dispatcher loop's CPU above plain boto3 goes, stage by stage.

Five serial consumers take turns on the `make bench` harness (the feeder keeps each queue shallow,
the order rotates every round, ratios are paired within a round):

- `boto3` and `boto3_again`: the same plain loop twice. Their ratio is the harness's own error; it
  should be 1.00 give or take the noise, and it tells how far to trust the rows below.
- `our_client`: the plain loop, but calling through the client our graph builds.
- `consume_delete`: `sqs_consumer.consume()` (receive and wrap each message) and `delete_batch`; no dispatch.
- `dispatcher_loop`: the full `dispatcher.handle_batch(consumer.consume())`, as `make bench` measures it.

Each row's step over the one before is what that stage costs in a live loop.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from typing import Any

from benchmarks.common import MEDIA_TYPE, Sample, alternate, isolate_environment, make_graph
from benchmarks.consume import Bench
from benchmarks.consumers import Consumer, DispatcherLoop, Handler, PlainLoop, noop
from benchmarks.report import CONTROLS
from microcosm_pubsub.aws.local import LocalEndpoint
from microcosm_pubsub.consume.consumer import SQS_MAX_BATCH


class OurClientLoop(PlainLoop):
    """The plain loop, through the SQS client of our graph (its configuration: retries, timeouts, pool)."""

    def __init__(self, graph: Any, handler: Handler, wait_seconds: int) -> None:
        consumer = graph.sqs_consumer
        super().__init__(consumer.client, consumer.queue_url, handler, wait_seconds)


class ConsumeDeleteLoop(Consumer):
    """`consume()` then `delete_batch()`: receiving and wrapping, without dispatch or outcome bookkeeping."""

    def __init__(self, graph: Any, handler: Handler) -> None:
        super().__init__()
        graph.sqs_message_handler_registry.register(MEDIA_TYPE, handler)
        self.consumer = graph.sqs_consumer
        self.clients.append(self.consumer.client)

    def run(self) -> None:
        while not self.halt.is_set():
            messages = self.consumer.consume()
            self.consumer.delete_batch(messages)
            self._settled += len(messages)


def stages_phase(bench: Bench, messages: int, rounds: int, warmup: int = 20) -> dict[str, list[Sample]]:
    """Each stage's samples, `messages` per contender per round."""
    endpoint, wait = bench.endpoint, bench.wait_seconds
    capacity = 2 * SQS_MAX_BATCH

    def graph(queue_url: str) -> Any:
        return make_graph(endpoint, queue_url=queue_url, wait_seconds=wait)

    def plain(count: int) -> Sample:
        return bench.run(bench.plain(lambda sqs, url: PlainLoop(sqs, url, noop, wait)), count, capacity)

    contenders: dict[str, Callable[[int], Sample]] = {
        "boto3": plain,
        "boto3_again": plain,
        "our_client": lambda count: bench.run(lambda url: OurClientLoop(graph(url), noop, wait), count, capacity),
        "consume_delete": lambda count: bench.run(lambda url: ConsumeDeleteLoop(graph(url), noop), count, capacity),
        "dispatcher_loop": lambda count: bench.run(lambda url: DispatcherLoop(graph(url), noop), count, capacity),
    }
    return alternate(contenders, messages, rounds, warmup)


def cpu_ratios(samples: dict[str, list[Sample]], baseline: str = "boto3") -> dict[str, list[float]]:
    """Per round, each contender's CPU per message over the baseline's in the same round."""
    base = samples[baseline]
    return {
        name: [ours.cpu_ms_per_1000 / plain.cpu_ms_per_1000 for ours, plain in zip(runs, base, strict=True)]
        for name, runs in samples.items()
    }


def table(samples: dict[str, list[Sample]]) -> str:
    """Markdown: CPU per message, the median paired ratio with its range, and each stage's step."""
    ratios = cpu_ratios(samples)
    lines = [
        "| stage | CPU us/msg (median) | CPU ratio vs boto3 (median, min-max) | step over the row before |",
        "|---|---|---|---|",
    ]
    previous: float | None = None
    for name, runs in samples.items():
        cpu = statistics.median(run.cpu_ms_per_1000 for run in runs)
        ratio = statistics.median(ratios[name])
        step = "" if previous is None or name in CONTROLS else f"{ratio - previous:+.3f}"
        lines.append(
            f"| {name} | {cpu:.0f} | {ratio:.3f} ({min(ratios[name]):.2f}-{max(ratios[name]):.2f}) | {step} |"
        )
        if name not in CONTROLS:
            previous = ratio
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stages", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--messages", type=int, default=400, help="messages per contender per round (default 400)")
    args = parser.parse_args(argv)
    isolate_environment()
    with LocalEndpoint(mode="process") as endpoint:
        bench = Bench(endpoint)
        try:
            samples = stages_phase(bench, args.messages, args.rounds)
        finally:
            bench.close()
    print(f"{args.rounds} rounds of {args.messages} messages per contender", file=sys.stderr)
    print(table(samples))


if __name__ == "__main__":
    main()
