"""`python -m benchmarks.run`: every phase, each on a fresh endpoint; JSON, markdown, docs and a plot."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

from benchmarks import fanferro_contender
from benchmarks.common import isolate_environment, summarize
from benchmarks.consume import Bench, noop_phase, sleep_phase, sns_envelope
from benchmarks.fake_sqs import fake_phase
from benchmarks.idempotency import idempotency_phase
from benchmarks.idempotency import table as idempotency_table
from benchmarks.memory import backlog_phase
from benchmarks.multicore import cpu_phase, sigterm_phase
from benchmarks.plot import BLUE, LIGHT_BLUE, LIGHT_ORANGE, ORANGE, Series, line_plot
from benchmarks.produce import produce_phases
from benchmarks.report import fake_key, markdown, sleep_key, targets, write_docs
from microcosm_pubsub.aws.local import LocalEndpoint


ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the other phases (default 5)")
    parser.add_argument(
        "--serial-rounds", type=int, default=SERIAL_ROUNDS,
        help=f"alternating rounds of the produce, no-op consume and CPU-bound phases (default {SERIAL_ROUNDS})",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every message count (default 1)")
    parser.add_argument("--concurrency", default="1,4,16,32", help="handler threads for the 20 ms phase")
    parser.add_argument("--backlogs", default="100,1000", help="queue depths for the memory phase")
    parser.add_argument("--backlog-seconds", type=float, default=6.0, help="how long each backlog daemon runs")
    parser.add_argument(
        "--phases", default="produce,noop,sleep,fake,cpu,sigterm,backlog,idempotency",
        help="which phases to run (default: all of produce,noop,sleep,fake,cpu,sigterm,backlog,idempotency)",
    )
    parser.add_argument(
        "--no-fanferro", dest="fanferro", action="store_false",
        help="leave fanferro out (by default it joins the produce, no-op and 20 ms phases at concurrency "
        f"{' and '.join(map(str, fanferro_contender.CONCURRENCIES))} where .venv-fanferro is usable; "
        "scripts/fanferro_env.sh builds it)",
    )
    parser.add_argument("--wait-seconds", type=int, default=20, help="the long poll the SIGTERM phase interrupts")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results", help="JSON directory")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md", help="markdown to update")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks-concurrency.png")
    return parser.parse_args(argv)


# The produce and no-op consume phases: short runs whose ratios are judged within a few percent of
# their bounds, where one round of plain boto3 against itself strays by up to a fifth on this machine
SERIAL_ROUNDS = 9
# Messages per contender per round at --scale 1: each run takes one to two seconds here
PRODUCE_MESSAGES = 500
NOOP_MESSAGES = 400
SLEEP_MESSAGES = {1: 100, 4: 250, 16: 500, 32: 600}
# Against the in-memory SQS, where concurrency 32 reaches about 850 messages a second
FAKE_MESSAGES = {1: 50, 4: 150, 16: 500, 32: 800}
# The CPU-bound handler: about 40 ms of hashing, so one process handles some 20 a second
CPU_MESSAGES = 200
CPU_HANDLER_SECONDS = 0.04
# Each SIGTERM round starts a daemon and waits for its long poll: a few rounds tell enough
SIGTERM_ROUNDS = 3
# Messages per store and round of the idempotency phase (moto's DynamoDB takes tens of ms a write)
IDEMPOTENCY_MESSAGES = 200


def scaled(count: int, scale: float) -> int:
    return max(int(count * scale), 10)


def on_fresh_endpoint(what: str, run: Callable[[LocalEndpoint], T]) -> T:
    """moto keeps everything it has seen; a new endpoint process per phase keeps phases independent."""
    started = time.monotonic()
    print(f"  {what}...", end="", flush=True, file=sys.stderr)
    with LocalEndpoint(mode="process") as endpoint:
        result = run(endpoint)
    print(f" {time.monotonic() - started:.0f} s", flush=True, file=sys.stderr)
    return result


def with_bench(run: Callable[[Bench], T], fanferro: bool = False) -> Callable[[LocalEndpoint], T]:
    def wrapped(endpoint: LocalEndpoint) -> T:
        bench = Bench(endpoint, fanferro=fanferro)
        try:
            return run(bench)
        finally:
            bench.close()
    return wrapped


def measure(args: argparse.Namespace) -> dict[str, Any]:
    phases: dict[str, Any] = {}
    memory: list[dict[str, Any]] = []
    cpu: dict[str, Any] | None = None
    sigterm: list[dict[str, Any]] | None = None
    idempotency: dict[str, Any] | None = None
    wanted = set(args.phases.split(","))
    concurrencies = [int(value) for value in args.concurrency.split(",")]
    fanferro = args.fanferro_status.get("skipped") is None

    def record(key: str, samples: dict[str, Any]) -> None:
        phases[key] = {
            name: summarize(runs, None if name == "boto3" else samples["boto3"]) for name, runs in samples.items()
        }

    if "produce" in wanted:
        produced = on_fresh_endpoint("produce", lambda endpoint: produce_phases(
            endpoint, scaled(PRODUCE_MESSAGES, args.scale), args.serial_rounds, fanferro=fanferro,
        ))
        for key, samples in produced.items():
            record(key, samples)
    if "noop" in wanted:
        record("consume_noop", on_fresh_endpoint("consume, no-op handler", with_bench(
            lambda bench: noop_phase(bench, scaled(NOOP_MESSAGES, args.scale), args.serial_rounds),
            fanferro,
        )))
    if "sleep" in wanted:
        for concurrency in concurrencies:
            messages = scaled(SLEEP_MESSAGES.get(concurrency, 20 * concurrency), args.scale)
            record(sleep_key(concurrency), on_fresh_endpoint(
                f"consume, 20 ms handler, concurrency {concurrency}", with_bench(
                    lambda bench, c=concurrency, m=messages: sleep_phase(bench, c, m, args.rounds),  # type: ignore[misc]
                    fanferro and concurrency in fanferro_contender.CONCURRENCIES,
                ),
            ))
    if "fake" in wanted:
        body = on_fresh_endpoint("an SNS envelope for the in-memory SQS", sns_envelope)
        for concurrency in concurrencies:
            messages = scaled(FAKE_MESSAGES.get(concurrency, 25 * concurrency), args.scale)
            print(f"  consume, 20 ms handler, in-memory SQS, concurrency {concurrency}", file=sys.stderr, flush=True)
            record(fake_key(concurrency), fake_phase(body, concurrency, messages, args.rounds, warmup=10))
    if "cpu" in wanted:
        cpu = on_fresh_endpoint("CPU-bound handler, --processes 1 and 2", lambda endpoint: cpu_phase(
            # As noisy as the serial phases (one process against two on a shared 2-core machine): as many rounds
            endpoint, sns_envelope(endpoint), scaled(CPU_MESSAGES, args.scale), args.serial_rounds, CPU_HANDLER_SECONDS,
        ))
    if "sigterm" in wanted:
        sigterm = on_fresh_endpoint(f"SIGTERM during a {args.wait_seconds} s long poll", lambda endpoint: sigterm_phase(
            endpoint, min(args.rounds, SIGTERM_ROUNDS), args.wait_seconds,
        ))
    if "backlog" in wanted:
        backlogs = [int(value) for value in args.backlogs.split(",")]
        memory = on_fresh_endpoint("daemon memory with a backlog", lambda endpoint: backlog_phase(
            endpoint, sns_envelope(endpoint), backlogs, args.backlog_seconds,
        ))
    if "idempotency" in wanted:
        # The same handler with and without @idempotent, per store: added time and store calls per message
        idempotency = on_fresh_endpoint("idempotent handler per store", lambda endpoint: idempotency_phase(
            scaled(IDEMPOTENCY_MESSAGES, args.scale), min(args.rounds, 3), endpoint,
        ))
    return {
        "phases": phases, "memory": memory, "cpu": cpu, "sigterm": sigterm, "idempotency": idempotency,
        "targets": targets(phases, memory, concurrencies, cpu, sigterm),
    }


def plot(record: dict[str, Any], path: Path) -> None:
    concurrencies = sorted(
        int(key.rsplit("_", 1)[1]) for key in record["phases"] if key.startswith("consume_sleep_")
    )
    if len(concurrencies) < 2:
        return

    def series(key: Callable[[int], str], name: str, label: str, color: tuple[int, int, int]) -> Series | None:
        if any(key(c) not in record["phases"] for c in concurrencies):
            return None
        values = [record["phases"][key(c)][name]["throughput"] for c in concurrencies]
        return Series(label, color, [v["median"] for v in values], [v["min"] for v in values],
                      [v["max"] for v in values])

    lines = [
        series(sleep_key, "ours", "microcosm_pubsub Runner, local endpoint", BLUE),
        series(sleep_key, "boto3", "plain boto3 (serial at 1, pollers + pool above), local endpoint", ORANGE),
        series(fake_key, "ours", "microcosm_pubsub Runner, in-memory SQS (10 ms a call)", LIGHT_BLUE),
        series(fake_key, "boto3", "plain boto3, in-memory SQS", LIGHT_ORANGE),
    ]
    line_plot(
        path, "throughput vs concurrency, 20 ms handler", concurrencies, [line for line in lines if line],
        "concurrency (handler threads)", "messages/s (median, min-max whiskers)",
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    isolate_environment()
    args.fanferro_status = fanferro_contender.status() if args.fanferro else {"skipped": "left out (--no-fanferro)"}
    if args.fanferro_status.get("skipped"):
        print(f"benchmarks: fanferro is SKIPPED in this run: {args.fanferro_status['skipped']}", file=sys.stderr)
    else:
        print(f"benchmarks: fanferro {args.fanferro_status['version']} (Python {args.fanferro_status['python']}) "
              "joins as a contender", file=sys.stderr)
    started = datetime.now(UTC)
    clock = time.monotonic()
    print(f"benchmarks: {args.rounds} rounds ({args.serial_rounds} serial), scale {args.scale}", file=sys.stderr)
    record: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "rounds": args.rounds,
            "serial_rounds": args.serial_rounds,
            "cpu_rounds": args.serial_rounds,
            "scale": args.scale,
            "python": platform.python_version(),
            "versions": {name: version(name) for name in ("boto3", "botocore", "moto", "marshmallow", "microcosm")},
            "cpus": os.cpu_count(),
            "load_average_before": os.getloadavg(),
            "endpoint": "LocalEndpoint(mode='process'), a fresh one per phase",
            "fanferro": args.fanferro_status,
        },
    }
    record.update(measure(args))
    record["meta"]["duration_seconds"] = time.monotonic() - clock
    # Other work on this shared machine skews a run; the load averages show how much there was
    record["meta"]["load_average_after"] = os.getloadavg()
    table = markdown(record)
    if record.get("idempotency"):
        print(idempotency_table(record["idempotency"]), file=sys.stderr)
    args.results.mkdir(parents=True, exist_ok=True)
    result_path = args.results / f"{started.strftime('%Y-%m-%dT%H%M%SZ')}.json"
    result_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    plot(record, args.plot)
    write_docs(args.docs, table, os.path.relpath(args.plot, args.docs.parent))
    print(table)
    print(f"wrote {result_path}, {args.docs} and {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
