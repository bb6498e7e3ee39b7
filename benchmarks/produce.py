"""Produce phases: `sns_producer.produce` against `sns.publish`, and deferred batches against `publish_batch`."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks import fanferro_contender
from benchmarks.common import (
    ATTRIBUTES,
    CONTENT,
    MEDIA_TYPE,
    Sample,
    alternate,
    endpoint_pid,
    make_graph,
    plain_body,
    timed,
)
from microcosm_pubsub.aws.local import LocalEndpoint


# SNS PublishBatch takes at most ten entries
BATCH = 10
# Short alternating runs inside a round: the client is a tenth of the wall time here, so load swings show
SLICES = 5


def produce_phases(
    endpoint: LocalEndpoint, messages: int, rounds: int, slices: int = SLICES, fanferro: bool = False,
) -> dict[str, dict[str, list[Sample]]]:
    """Both produce phases on one endpoint; each contender publishes `messages` per round.

    The topic has no subscriber: moto's SNS-to-SQS delivery slows as the queue behind it fills,
    which would bury the client's cost under the endpoint's. With `fanferro`, it joins as a third
    contender where its environment is (benchmarks.fanferro_contender).
    """
    sns = endpoint.client("sns")
    with fanferro_contender.driver(endpoint, fanferro) as driver:
        try:
            return _phases(endpoint, sns, driver, messages, rounds, slices)
        finally:
            sns.close()


def _phases(
    endpoint: LocalEndpoint, sns: Any, fanferro: fanferro_contender.Driver | None, messages: int, rounds: int,
    slices: int,
) -> dict[str, dict[str, list[Sample]]]:
    topic_arn = sns.create_topic(Name="bench-produce")["TopicArn"]
    graph = make_graph(endpoint, topic_arn=topic_arn)
    producer = graph.sns_producer
    producer.client  # noqa: B018 - build the client before the clock starts, as boto3's is
    messages = max(BATCH * slices, messages - messages % (BATCH * slices))
    pid = endpoint_pid(endpoint)
    single: dict[str, Callable[[int], Sample]] = {
        "ours": lambda count: ours_single(producer, count, pid),
        "boto3": lambda count: boto3_single(sns, topic_arn, count, pid),
    }
    batched: dict[str, Callable[[int], Sample]] = {
        "ours": lambda count: ours_batched(producer, count, pid),
        "boto3": lambda count: boto3_batched(sns, topic_arn, count, pid),
    }
    if fanferro is not None:
        driver = fanferro
        single["fanferro"] = lambda count: fanferro_contender.produce(driver, topic_arn, count, 1, pid)
        batched["fanferro"] = lambda count: fanferro_contender.produce(driver, topic_arn, count, BATCH, pid)
    return {
        "produce_single": alternate(single, messages, rounds, warmup=BATCH, slices=slices),
        "produce_batched": alternate(batched, messages, rounds, warmup=BATCH, slices=slices),
    }


def ours_single(producer: Any, messages: int, pid: int | None = None) -> Sample:
    samples: list[Sample] = []
    with timed(messages, samples, pid):
        for _ in range(messages):
            producer.produce(MEDIA_TYPE, CONTENT)
    return samples[0]


def boto3_single(sns: Any, topic_arn: str, messages: int, pid: int | None = None) -> Sample:
    samples: list[Sample] = []
    with timed(messages, samples, pid):
        for _ in range(messages):
            sns.publish(TopicArn=topic_arn, Message=plain_body(CONTENT), MessageAttributes=ATTRIBUTES)
    return samples[0]


def ours_batched(producer: Any, messages: int, pid: int | None = None) -> Sample:
    samples: list[Sample] = []
    with timed(messages, samples, pid):
        for _ in range(messages // BATCH):
            with producer.deferred():
                for _ in range(BATCH):
                    producer.produce(MEDIA_TYPE, CONTENT)
    return samples[0]


def boto3_batched(sns: Any, topic_arn: str, messages: int, pid: int | None = None) -> Sample:
    samples: list[Sample] = []
    with timed(messages, samples, pid):
        for _ in range(messages // BATCH):
            entries = [
                {"Id": str(index), "Message": plain_body(CONTENT), "MessageAttributes": ATTRIBUTES}
                for index in range(BATCH)
            ]
            response = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"publish_batch failed: {response['Failed']}")
    return samples[0]
