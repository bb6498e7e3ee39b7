"""FIFO queue throughput: 20 groups x 50 messages, a 10 ms handler, the daemon at --concurrency 1 and 16.

`python -m benchmarks.fifo [--repeat N] [--json PATH]`. Each run gets a fresh FIFO queue on a local
endpoint in its own process, sent in one of two orders: "interleaved" (step 0 of every group, then
step 1...) and "bursts" (ten steps of a group, then ten of the next group's...), which is how busy
groups' backlogs sit in a real queue and makes SQS hand out ten of one group per receive, to be
run one by one. The figure is messages handled per second from the daemon's start to the last result;
every run also checks that each group was handled in order.

The queue is fed while the daemon runs, at most `DEPTH` messages ahead of it: moto's FIFO send
costs grow with the queue's depth (a thousand queued messages take over a minute to send).
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from marshmallow import fields

from benchmarks.common import graph_config, isolate_environment
from benchmarks.consumers import DaemonRunner
from microcosm_pubsub.aws.local import LocalEndpoint
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema


STEP = "application/vnd.bench.pubsub._.created.fifo_step"
GROUPS = 20
PER_GROUP = 50
HANDLER_SECONDS = 0.01
CONCURRENCIES = (1, 16)
ORDERS = ("interleaved", "bursts")
BURST = 10
# Messages sent ahead of those handled: a shallow queue, as in a steady service
DEPTH = 200
# A broken run stops here instead of hanging
RUN_TIMEOUT_SECONDS = 300.0


@schema
class StepSchema(PubSubMessageSchema):
    MEDIA_TYPE = STEP
    MESSAGE_GROUP_KEY = "group"

    group = fields.String(required=True)
    seq = fields.Integer(required=True)


class OrderedHandler:
    """Sleeps `HANDLER_SECONDS` (an I/O-bound call), recording each group's steps in the order handled."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, list[int]] = defaultdict(list)
        self.count = 0

    def __call__(self, content: dict[str, Any]) -> bool:
        time.sleep(HANDLER_SECONDS)
        with self.lock:
            self.seen[content["group"]].append(content["seq"])
            self.count += 1
        return True

    @property
    def in_order(self) -> bool:
        return all(steps == sorted(steps) for steps in self.seen.values())


def steps_in(order: str) -> list[tuple[str, int]]:
    groups = [f"g-{index:02d}" for index in range(GROUPS)]
    if order == "bursts":
        return [
            (group, seq) for start in range(0, PER_GROUP, BURST) for group in groups
            for seq in range(start, min(start + BURST, PER_GROUP))
        ]
    return [(group, seq) for seq in range(PER_GROUP) for group in groups]


def feed(
    sqs: Any, queue_url: str, steps: list[tuple[str, int]], handler: OrderedHandler, stop: threading.Event,
) -> None:
    """Send `steps` in order, ten a call, keeping at most `DEPTH` sent and not yet handled."""
    for start in range(0, len(steps), 10):
        while start - handler.count >= DEPTH and not stop.wait(0.005):
            pass
        if stop.is_set():
            return
        entries = [
            {
                "Id": str(index),
                "MessageBody": json.dumps({"mediaType": STEP, "opaqueData": {}, "group": group, "seq": seq}),
                "MessageGroupId": group,
                "MessageDeduplicationId": f"{group}-{seq}",
            }
            for index, (group, seq) in enumerate(steps[start:start + 10])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def run_once(endpoint: LocalEndpoint, concurrency: int, order: str) -> dict[str, Any]:
    stack = endpoint.provision(f"bench-fifo-{uuid.uuid4().hex[:8]}.fifo", dead_letter=False, raw=True)
    sqs = endpoint.client("sqs")
    steps = steps_in(order)
    handler = OrderedHandler()
    config = graph_config(endpoint, queue_url=stack.queue_url, concurrency=concurrency)
    consumer = DaemonRunner(config, handler)
    consumer.daemon.graph.sqs_message_handler_registry.register(STEP, handler)
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(sqs, stack.queue_url, steps, handler, stop), daemon=True)
    started = time.perf_counter()
    feeder.start()
    consumer.start()
    deadline = started + RUN_TIMEOUT_SECONDS
    while handler.count < len(steps) and time.perf_counter() < deadline:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    stop.set()
    feeder.join()
    consumer.stop()
    sqs.close()
    return {
        "concurrency": concurrency, "order": order, "messages": handler.count,
        "seconds": round(elapsed, 3), "per_second": round(handler.count / elapsed, 1), "in_order": handler.in_order,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fifo", description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="runs per concurrency and order (default 1)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    isolate_environment()
    results: list[dict[str, Any]] = []
    for order in ORDERS:
        for _ in range(args.repeat):
            for concurrency in CONCURRENCIES:
                # A fresh endpoint per run: moto keeps every message it has seen, and slows down with them
                with LocalEndpoint(mode="process") as endpoint:
                    result = run_once(endpoint, concurrency, order)
                results.append(result)
                print(json.dumps(result), flush=True)
    for order in ORDERS:
        rates = {
            concurrency: statistics.median(
                item["per_second"] for item in results if item["order"] == order and item["concurrency"] == concurrency
            )
            for concurrency in CONCURRENCIES
        }
        low, high = CONCURRENCIES[0], CONCURRENCIES[-1]
        print(f"{order}: {rates[low]:.0f} msg/s at --concurrency {low}, {rates[high]:.0f} at {high} "
              f"({rates[high] / rates[low]:.1f}x)")
    if args.json:
        with open(args.json, "w") as output:
            json.dump(results, output, indent=2)


if __name__ == "__main__":
    main()
