"""Targets, the markdown tables, the JSON record, and the section of docs/benchmarks.md they replace."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


START = "<!-- bench:results -->"
END = "<!-- /bench:results -->"
# Peak memory counts as flat when the deep backlog costs at most this much more than the shallow one
FLAT_MEMORY_RATIO = 1.10
LABELS = {
    "produce_single": "produce, one per call",
    "produce_batched": "produce, batched (deferred, PublishBatch of 10)",
    "consume_noop/ours_dispatcher": "consume no-op: dispatcher.handle_batch(consume())",
    "consume_noop/ours_runner": "consume no-op: daemon Runner, concurrency 1",
}


def sleep_key(concurrency: int) -> str:
    return f"consume_sleep_{concurrency}"


def fake_key(concurrency: int) -> str:
    return f"consume_fake_{concurrency}"


def ratio(phases: dict[str, Any], key: str, contender: str, measure: str) -> float:
    return float(phases[key][contender][measure]["median"])


def targets(phases: dict[str, Any], memory: list[dict[str, Any]], concurrencies: list[int]) -> list[dict[str, Any]]:
    """Each target row of issue 6 with its measured value and whether it holds (on medians)."""
    rows: list[dict[str, Any]] = []

    def add(phase: str, target: str, measured: str, passed: bool) -> None:
        rows.append({"phase": phase, "target": target, "measured": measured, "pass": passed})

    for key, contender, thr, cpu in [
        ("produce_single", "ours", 0.95, 1.15),
        ("produce_batched", "ours", 0.95, 1.2),
        ("consume_noop", "ours_dispatcher", 0.95, 1.3),
        ("consume_noop", "ours_runner", 0.95, 1.3),
    ]:
        if key not in phases:
            continue
        got_thr, got_cpu = ratio(phases, key, contender, "throughput_ratio"), ratio(phases, key, contender, "cpu_ratio")
        add(
            LABELS.get(f"{key}/{contender}", LABELS.get(key, key)),
            f"throughput >= {thr}, CPU per message <= {cpu}",
            f"throughput {got_thr:.2f}, CPU {got_cpu:.2f}",
            got_thr >= thr and got_cpu <= cpu,
        )
    keys: list[tuple[Callable[[int], str], str]] = [(sleep_key, "local endpoint"), (fake_key, "in-memory SQS")]
    for make_key, where in keys:
        top, bottom = make_key(max(concurrencies)), make_key(min(concurrencies))
        if top not in phases or bottom not in phases:
            continue
        got_thr = ratio(phases, top, "ours", "throughput_ratio")
        scaling = phases[top]["ours"]["throughput"]["median"] / phases[bottom]["ours"]["throughput"]["median"]
        add(
            f"consume, 20 ms handler, concurrency {max(concurrencies)} ({where})",
            f">= 0.9 of the threaded boto3 consumer, and >= 15x our own concurrency {min(concurrencies)}",
            f"{got_thr:.2f} of boto3, {scaling:.1f}x our concurrency {min(concurrencies)}",
            got_thr >= 0.9 and scaling >= 15,
        )
    if len(memory) >= 2:
        shallow, deep = memory[0], memory[-1]
        growth = deep["peak_rss_mib"] / shallow["peak_rss_mib"]
        add(
            f"daemon with a {deep['backlog']:,}-message backlog (vs {shallow['backlog']:,})",
            f"peak memory flat in backlog size (deep / shallow <= {FLAT_MEMORY_RATIO})",
            f"{deep['peak_rss_mib']:.1f} / {shallow['peak_rss_mib']:.1f} MiB = {growth:.2f}",
            growth <= FLAT_MEMORY_RATIO and deep["handled"] > 0,
        )
    return rows


def _load(meta: dict[str, Any], key: str) -> str:
    values = meta.get(key)
    return f"{values[0]:.1f}" if values else "?"


def _spread(values: dict[str, float], digits: int = 0) -> str:
    return f"{values['median']:.{digits}f} ({values['min']:.{digits}f}-{values['max']:.{digits}f})"


def phase_rows(phases: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(key, label, ours, boto3) for every ours-against-boto3 comparison, in report order."""
    rows = []
    for key, contenders in phases.items():
        for name, summary in contenders.items():
            if name == "boto3":
                continue
            label = LABELS.get(f"{key}/{name}") or LABELS.get(key)
            if label is None and key.startswith("consume_sleep_"):
                label = f"consume, 20 ms handler, concurrency {key.rsplit('_', 1)[1]}"
            if label is None and key.startswith("consume_fake_"):
                label = f"consume, 20 ms handler, concurrency {key.rsplit('_', 1)[1]}, in-memory SQS"
            rows.append((key, label or key, summary, contenders["boto3"]))
    return rows


def markdown(record: dict[str, Any]) -> str:
    phases, memory = record["phases"], record["memory"]
    lines = [
        f"Run {record['meta']['started']} ({record['meta']['duration_seconds']:.0f} s; "
        f"{record['meta']['rounds']} alternating rounds; medians with min-max over rounds; "
        "ratios are ours / plain boto3 paired per round; machine load average "
        f"{_load(record['meta'], 'load_average_before')} before, {_load(record['meta'], 'load_average_after')} after).",
        "",
        "| phase | ours msg/s | boto3 msg/s | throughput ratio | ours CPU ms/1000 msg | boto3 CPU ms/1000 msg "
        "| CPU ratio | endpoint busy (ours / boto3) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, label, ours, boto3 in phase_rows(phases):
        lines.append(
            f"| {label} | {_spread(ours['throughput'])} | {_spread(boto3['throughput'])} "
            f"| {_spread(ours['throughput_ratio'], 2)} | {_spread(ours['cpu_ms_per_1000'])} "
            f"| {_spread(boto3['cpu_ms_per_1000'])} | {_spread(ours['cpu_ratio'], 2)} "
            f"| {ours['endpoint_busy']['median']:.2f} / {boto3['endpoint_busy']['median']:.2f} |"
        )
    if memory:
        lines += [
            "",
            "| backlog (messages queued before the daemon starts) | fill time s | daemon peak RSS MiB "
            "| handled in the window |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {row['backlog']:,} | {row['fill_seconds']:.1f} | {row['peak_rss_mib']:.1f} | {row['handled']} |"
            for row in memory
        ]
    lines += ["", "| target (issue 6) | as ratio to plain boto3 in the same run | measured | result |",
              "|---|---|---|---|"]
    lines += [
        f"| {row['phase']} | {row['target']} | {row['measured']} | {'pass' if row['pass'] else '**FAIL**'} |"
        for row in record["targets"]
    ]
    return "\n".join(lines) + "\n"


SKELETON = f"""# Benchmarks

`make bench` measures microcosm_pubsub against plain boto3 doing the same work, on the same local
endpoint, in the same process and run. See `benchmarks/` for the harness.

{START}
{END}
"""


def write_docs(path: Path, table: str, plot_name: str) -> None:
    """Replace the results section of `path` (created from a skeleton if missing), keeping the prose."""
    text = path.read_text(encoding="utf-8") if path.exists() else SKELETON
    if START not in text or END not in text:
        text = text.rstrip() + f"\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    section = f"{START}\n{table}\n![throughput versus concurrency]({plot_name})\n{END}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + section + tail, encoding="utf-8")
