"""Shared benchmark plumbing: environment, the benchmark schema, timing, alternation and statistics."""
from __future__ import annotations

import gc
import json
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS, LocalEndpoint
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema


MEDIA_TYPE = "application/vnd.bench.pubsub._.created.item"
CONTENT: dict[str, Any] = {"name": "widget", "count": 42, "uri": "https://service.example/api/v1/item/42"}
ATTRIBUTES = {"media_type": {"DataType": "String", "StringValue": MEDIA_TYPE}}


@schema
class ItemSchema(PubSubMessageSchema):
    """The message every phase sends: a few typical fields beside the media type and opaque data."""

    MEDIA_TYPE = MEDIA_TYPE
    name = fields.String(required=True)
    count = fields.Integer(required=True)
    uri = fields.String(required=True)


def isolate_environment() -> None:
    """Dummy credentials and no ambient endpoint or profile: nothing here may reach real AWS."""
    os.environ.update(DUMMY_CREDENTIALS)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_SQS"):
        os.environ.pop(variable, None)


def plain_body(content: dict[str, Any]) -> str:
    """What a hand-written boto3 producer sends: the same JSON our producer's schema dump makes."""
    wire = {"mediaType": MEDIA_TYPE, "opaqueData": {"x-request-published": str(time.time())}, **content}
    return json.dumps(wire, separators=(",", ":"))


def graph_config(endpoint: LocalEndpoint, topic_arn: str | None = None, queue_url: str | None = None,
                 concurrency: int = 1, wait_seconds: int = 1) -> dict[str, Any]:
    config: dict[str, Any] = {
        "sns_producer": {"endpoint_url": endpoint.url, "region_name": endpoint.region_name},
        "sqs_consumer": {
            "endpoint_url": endpoint.url, "region_name": endpoint.region_name,
            "wait_seconds": wait_seconds, "concurrency": concurrency,
        },
    }
    if topic_arn:
        config["sns_topic_arns"] = {"default": topic_arn}
    if queue_url:
        config["sqs_consumer"]["sqs_queue_url"] = queue_url
    return config


def endpoint_pid(endpoint: LocalEndpoint) -> int | None:
    return endpoint.process.pid if endpoint.process is not None else None


def make_graph(endpoint: LocalEndpoint, **kwargs: Any) -> Any:
    return create_object_graph("bench", loader=load_from_dict(graph_config(endpoint, **kwargs)))


# The SQS calls whose counts per message issue 15 bounds (the first two) or reports
COUNTED_CALLS = ("ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch")


@dataclass(frozen=True)
class Sample:
    """One contender's timed run: wall seconds, client-process CPU seconds, messages, endpoint CPU seconds.

    `calls` counts the consumer's own SQS calls by operation over the same window.
    """

    seconds: float
    cpu_seconds: float
    messages: int
    endpoint_cpu_seconds: float = 0.0
    calls: Mapping[str, int] = field(default_factory=dict)

    def with_calls(self, calls: Mapping[str, int]) -> Sample:
        return replace(self, calls=dict(calls))

    @property
    def throughput(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_1000(self) -> float:
        return self.cpu_seconds * 1_000_000 / self.messages if self.messages else 0.0


def process_cpu_seconds(pid: int | None) -> float:
    """User plus system CPU of another process so far, from /proc (0 where there is none)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are the 14th and 15th fields; the split above starts at the 3rd
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Clock:
    """Wall time, this process's CPU (every thread) and the endpoint's CPU between `start` and `stop`."""

    def __init__(self, endpoint_pid: int | None = None) -> None:
        self.endpoint_pid = endpoint_pid
        self.wall = self.cpu = self.endpoint_cpu = 0.0

    def start(self) -> None:
        # The garbage of earlier runs (each builds a graph or a client: tens of thousands of objects in
        # cycles) collected now, outside every window: else a full collection of it, about 0.1 s here,
        # lands in whichever contender's window happens to trigger it
        gc.collect()
        self.endpoint_cpu = process_cpu_seconds(self.endpoint_pid)
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self, messages: int) -> Sample:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return Sample(wall, cpu, messages, process_cpu_seconds(self.endpoint_pid) - self.endpoint_cpu)


class CallCounter:
    """Counts one SQS client's calls of the counted operations (COUNTED_CALLS), by operation.

    It wraps those methods on the client object itself, so the feeder's and the benchmark's calls
    stay out and every consumer pays the same small wrapper. Not through botocore's events: our
    lean transport hands any operation someone hooks there back to botocore, which would measure
    botocore's path instead of the one a service runs. `reset` and `snapshot` bracket the timed window.
    """

    def __init__(self, client: Any) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        if client is None:
            return
        for operation in COUNTED_CALLS:
            method = "".join(f"_{char.lower()}" if char.isupper() else char for char in operation).lstrip("_")
            original = getattr(client, method, None)
            if original is not None:
                setattr(client, method, self._counting(operation, original))

    def _counting(self, operation: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self._counts[operation] += 1
            return original(*args, **kwargs)
        return call

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


@contextmanager
def timed(messages: int, into: list[Sample], endpoint_pid: int | None = None) -> Iterator[None]:
    clock = Clock(endpoint_pid)
    clock.start()
    yield
    into.append(clock.stop(messages))


def alternate(
    contenders: dict[str, Callable[[int], Sample]], messages: int, rounds: int, warmup: int = 20, slices: int = 1,
) -> dict[str, list[Sample]]:
    """Run each contender once per round, rotating who goes first (A B, B A, ...) so drift hits all alike.

    Each first runs `warmup` messages untimed: first calls load what boto3 loads lazily. With
    `slices`, a round alternates that many shorter runs and adds them up, so the contenders of a
    round stay close in time on a machine whose load comes and goes.
    """
    names = list(contenders)
    if warmup:
        for name in names:
            contenders[name](warmup)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        parts: dict[str, list[Sample]] = {name: [] for name in names}
        for _ in range(slices):
            for name in names[shift:] + names[:shift]:
                parts[name].append(contenders[name](max(messages // slices, 1)))
        for name in names:
            calls: Counter[str] = Counter()
            for part in parts[name]:
                calls.update(part.calls)
            samples[name].append(Sample(
                sum(part.seconds for part in parts[name]),
                sum(part.cpu_seconds for part in parts[name]),
                sum(part.messages for part in parts[name]),
                sum(part.endpoint_cpu_seconds for part in parts[name]),
                dict(calls),
            ))
    return samples


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(samples: list[Sample], baseline: list[Sample] | None = None) -> dict[str, Any]:
    """Medians and spreads; against a baseline, ratios per round (paired in time) and of the medians."""
    summary: dict[str, Any] = {
        "throughput": spread([sample.throughput for sample in samples]),
        "cpu_ms_per_1000": spread([sample.cpu_ms_per_1000 for sample in samples]),
        # Share of one core the endpoint used: near 1.0, moto (one GIL) is the bottleneck
        "endpoint_busy": spread([sample.endpoint_cpu_seconds / sample.seconds for sample in samples]),
        "endpoint_cpu_ms_per_1000": spread([sample.endpoint_cpu_seconds * 1e6 / sample.messages for sample in samples]),
        "samples": [asdict(sample) for sample in samples],
    }
    if any(sample.calls for sample in samples):
        # API calls per 1,000 messages, by operation (the consume phases count them)
        summary["calls_per_1000"] = {
            operation: spread([sample.calls.get(operation, 0) * 1000 / max(sample.messages, 1) for sample in samples])
            for operation in COUNTED_CALLS
        }
    if baseline:
        pairs = list(zip(samples, baseline, strict=True))
        summary["throughput_ratio"] = spread([ours.throughput / theirs.throughput for ours, theirs in pairs])
        summary["cpu_ratio"] = spread([ours.cpu_ms_per_1000 / theirs.cpu_ms_per_1000 for ours, theirs in pairs])
        summary["throughput_ratio"]["of_medians"] = (
            summary["throughput"]["median"] / statistics.median(sample.throughput for sample in baseline)
        )
        summary["cpu_ratio"]["of_medians"] = (
            summary["cpu_ms_per_1000"]["median"] / statistics.median(sample.cpu_ms_per_1000 for sample in baseline)
        )
    return summary
