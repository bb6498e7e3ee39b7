"""`python -m benchmarks.idempotency`: what an idempotent handler costs per message, on each store.

The same no-op handler is dispatched with and without `@idempotent`, on the memory store, SQLite (a
file), DynamoDB (the local endpoint, moto's server in its own process) and PostgreSQL (a real server,
when its binaries are installed). Messages are built as SQS hands them out and run through
`dispatcher.prepare` (a receive's batch look-up) and `dispatcher.handle_message` in receives of ten, as
the runner does; nothing is settled, so SQS's own calls are not in the figures. For each store:

- new: every message has a new key (claim and complete);
- duplicate: every message's key was completed before (the batch look-up settles it).

Rows give the median wall time per message over the rounds, the added time over the plain handler, and
the store's round trips per message (the store counts them).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from microcosm.api import create_object_graph, load_from_dict

from benchmarks.common import CONTENT, MEDIA_TYPE, isolate_environment
from microcosm_pubsub.aws.local import LocalEndpoint
from microcosm_pubsub.aws.provisioning import create_idempotency_table
from microcosm_pubsub.effects.database import create_tables
from microcosm_pubsub.effects.idempotency import idempotent
from microcosm_pubsub.testing.events import sqs_message
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE


RECEIVE = 10
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/bench-idempotency"


def noop(content: dict[str, Any]) -> bool:
    return True


guarded = idempotent(lambda content: True)


def body() -> str:
    return json.dumps({"mediaType": MEDIA_TYPE, "opaqueData": {"x-request-published": str(time.time())}, **CONTENT})


def messages(graph: Any, keys: list[str]) -> list[Any]:
    """SQS messages as the consumer wraps them, each with its producer's message id."""
    text = body()
    return [graph.sqs_consumer.wrap(sqs_message(text, {
        "media_type": {"DataType": "String", "StringValue": MEDIA_TYPE},
        MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": key},
    })) for key in keys]


def make_graph(store: str | None, **config: Any) -> Any:
    sections: dict[str, Any] = {"sqs_consumer": {"sqs_queue_url": QUEUE_URL, "region_name": "us-east-1"}}
    if store is not None:
        sections["pubsub_idempotency"] = {"store": store, "batch_lookup": True, **config.pop("idempotency", {})}
    sections.update(config)
    graph: Any = create_object_graph("bench", testing=True, loader=load_from_dict(sections))
    graph.sqs_message_handler_registry.register(MEDIA_TYPE, noop if store is None else guarded)
    return graph


def run(graph: Any, keys: list[str]) -> float:
    """Seconds to prepare and handle `keys`' messages in receives of ten."""
    dispatcher = graph.sqs_message_dispatcher
    batch = messages(graph, keys)
    started = time.perf_counter()
    for start in range(0, len(batch), RECEIVE):
        receive = batch[start:start + RECEIVE]
        dispatcher.prepare(receive)
        for message in receive:
            result = dispatcher.handle_message(message)
            if result.outcome.name != "SUCCEEDED":
                raise RuntimeError(f"{result.outcome.name}: {result.reason}")
    return time.perf_counter() - started


def operations(graph: Any) -> int:
    store = graph.pubsub_idempotency.store
    return 0 if store is None else int(store.operations)


def measure(graph: Any, count: int, rounds: int) -> dict[str, Any]:
    """Median microseconds per message, and store operations per message, for new keys then duplicates."""
    run(graph, [uuid.uuid4().hex for _ in range(RECEIVE)])  # warm-up: connections, clients, caches
    figures: dict[str, Any] = {}
    new_times, duplicate_times, new_ops, duplicate_ops = [], [], [], []
    for _ in range(rounds):
        keys = [uuid.uuid4().hex for _ in range(count)]
        before = operations(graph)
        new_times.append(run(graph, keys) / count)
        new_ops.append((operations(graph) - before) / count)
        before = operations(graph)
        duplicate_times.append(run(graph, keys) / count)
        duplicate_ops.append((operations(graph) - before) / count)
    figures["new_us"] = statistics.median(new_times) * 1e6
    figures["duplicate_us"] = statistics.median(duplicate_times) * 1e6
    figures["new_ops"] = statistics.median(new_ops)
    figures["duplicate_ops"] = statistics.median(duplicate_ops)
    return figures


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{Path(directory) / 'bench.db'}"


def idempotency_phase(count: int = 200, rounds: int = 3, endpoint: LocalEndpoint | None = None,
                      stores: tuple[str, ...] = ("memory", "sqlite", "dynamodb", "postgresql")) -> dict[str, Any]:
    """Per store (and `none`, the plain handler): the figures of `measure`, plus the added time per message."""
    results: dict[str, Any] = {"none": measure(make_graph(None), count, rounds)}
    builders: dict[str, Callable[[], Any]] = {}
    if "memory" in stores:
        builders["memory"] = lambda: make_graph("memory")
    if "dynamodb" in stores and endpoint is not None:
        def dynamodb() -> Any:
            table = f"bench-idempotency-{uuid.uuid4().hex[:8]}"
            graph = make_graph("dynamodb", idempotency={
                "table_name": table, "endpoint_url": endpoint.url, "region_name": endpoint.region_name,
            })
            create_idempotency_table(graph.pubsub_idempotency.store.client, table)
            return graph
        builders["dynamodb"] = dynamodb
    for name in stores:
        if name in ("sqlite", "postgresql"):
            builders[name] = lambda name=name: sql_graph(name)  # type: ignore[misc]
    with tempfile.TemporaryDirectory() as directory:
        for name, build in builders.items():
            try:
                graph = build() if name != "sqlite" else sql_graph("sqlite", directory)
            except Exception as error:  # a store this machine lacks (PostgreSQL's binaries) is left out, said
                results[name] = {"skipped": str(error)}
                continue
            try:
                results[name] = measure(graph, count, rounds)
            finally:
                close(graph)
    base = results["none"]
    for name, figures in results.items():
        if name != "none" and "new_us" in figures:
            figures["added_new_us"] = figures["new_us"] - base["new_us"]
            figures["added_duplicate_us"] = figures["duplicate_us"] - base["duplicate_us"]
    return results


def close(graph: Any) -> None:
    """Close the connections a store's graph opened."""
    store = graph.pubsub_idempotency.store
    for closing in (getattr(store, "close", None), getattr(getattr(store, "client", None), "close", None)):
        if callable(closing):
            closing()
    database = graph.get("pubsub_database")
    if database is not None and database.url:
        database.engine.dispose()


def sql_graph(kind: str, directory: str | None = None) -> Any:
    if kind == "sqlite":
        url = f"sqlite:///{Path(directory or tempfile.mkdtemp()) / 'bench.db'}"
    else:
        from microcosm_pubsub.testing.postgres import postgres_url

        url = postgres_url()
    graph = make_graph("sql", pubsub_database={"url": url})
    create_tables(graph.pubsub_database.engine)
    return graph


def table(results: dict[str, Any]) -> str:
    lines = [
        "| store | new key us/msg | added | store ops/msg | duplicate us/msg | added | store ops/msg |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figures in results.items():
        if "skipped" in figures:
            lines.append(f"| {name} | skipped: {figures['skipped'][:60]} | | | | | |")
            continue
        lines.append(
            f"| {name} | {figures['new_us']:.0f} | {figures.get('added_new_us', 0):+.0f} | {figures['new_ops']:.2f} "
            f"| {figures['duplicate_us']:.0f} | {figures.get('added_duplicate_us', 0):+.0f} "
            f"| {figures['duplicate_ops']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.idempotency", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200, help="messages per round and store (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--stores", default="memory,sqlite,dynamodb,postgresql")
    args = parser.parse_args(argv)
    isolate_environment()
    stores = tuple(args.stores.split(","))
    with LocalEndpoint(mode="process") as endpoint:
        results = idempotency_phase(args.messages, args.rounds, endpoint, stores)
    print(f"{args.rounds} rounds of {args.messages} messages per store, receives of {RECEIVE}", file=sys.stderr)
    print(table(results))


if __name__ == "__main__":
    main()
