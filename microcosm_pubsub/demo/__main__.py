"""Run the demo: start the local endpoint, start a daemon, publish, watch the outcomes, stop cleanly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS, LocalEndpoint
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.demo.service import OrderCreatedSchema


# The flaky order fails once and then succeeds: six successes in all
EXPECTED = Counter({"SUCCEEDED": 6, "SKIPPED": 1, "FAILED": 1, "INVALID": 1, "IGNORED": 1})
TIMEOUT_SECONDS = 60
# The demo's queue: a redelivery 10 s after a lost handler; three receives before its dead-letter queue
QUEUE_OPTIONS: dict[str, Any] = {"visibility_timeout": 10}


def say(text: str) -> None:
    print(text, flush=True)


def readable(line: str) -> list[str]:
    """A log line as shown: the daemon's one-line `configuration: {...}` becomes a line per binding."""
    head, marker, document = line.partition(" configuration: ")
    try:
        config = json.loads(document) if marker else None
    except ValueError:
        config = None
    if not isinstance(config, dict):
        return [line]
    empty = sorted(key for key, value in config.items() if value in ({}, None, ""))
    shown = [f"{head} configuration:"]
    shown += [f"    {key}: {json.dumps(config[key], sort_keys=True)}" for key in sorted(config) if key not in empty]
    return shown + ([f"    (defaults only: {', '.join(empty)})"] if empty else [])


def watch(process: subprocess.Popen[str], counts: Counter[str], changed: threading.Condition) -> None:
    """Echo the daemon's log and count its outcome lines."""
    assert process.stderr is not None
    for line in process.stderr:
        for shown in readable(line.rstrip()):
            say(f"  daemon | {shown}")
        words = line.split()
        outcome = next((word for word in words if word in Outcome.__members__), None)
        if outcome and "microcosm_pubsub.dispatcher" in words:
            with changed:
                counts[outcome] += 1
                changed.notify_all()


def main() -> int:
    os.environ.update(DUMMY_CREDENTIALS)
    with LocalEndpoint() as endpoint:
        say(f"1. local SNS/SQS endpoint on {endpoint.url}")
        stack = endpoint.provision("demo-orders", **QUEUE_OPTIONS)
        dead_letters = stack.dead_letter_queue_url or ""
        say(f"   topic {stack.topic_arn}\n   queue {stack.queue_url}\n   dead letters {dead_letters}")
        env = {**os.environ, **endpoint.environ(), "DEMO__SQS_MESSAGE_DISPATCHER__DEAD_LETTER_QUEUE_URL": dead_letters}
        command = [sys.executable, "-m", "microcosm_pubsub.demo.service", "--sqs-queue-url", stack.queue_url,
                   "--concurrency", "4"]
        say("2. starting the consumer daemon: " + " ".join(command[1:]))
        daemon = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)  # noqa: S603 (our own module)
        counts: Counter[str] = Counter()
        changed = threading.Condition()
        watcher = threading.Thread(target=watch, args=(daemon, counts, changed), daemon=True)
        watcher.start()
        try:
            publish(endpoint, stack.topic_arn)
            with changed:
                done = changed.wait_for(lambda: all(counts[k] >= v for k, v in EXPECTED.items()), TIMEOUT_SECONDS)
        finally:
            say("4. stopping the daemon with SIGTERM")
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=60)
            watcher.join(timeout=5)
            if daemon.stderr is not None:
                daemon.stderr.close()
        say(f"   daemon exited with {code}")
        received = endpoint.client("sqs").receive_message(
            QueueUrl=dead_letters, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"],
        )
        for message in received.get("Messages", []):
            attributes: dict[str, Any] = dict(message.get("MessageAttributes", {}))
            reason = attributes.get("pubsub_reason", {}).get("StringValue")
            outcome = attributes.get("pubsub_outcome", {}).get("StringValue")
            say(f"   dead-letter queue holds a message: outcome={outcome} reason={reason}")
        say("5. outcomes: " + ", ".join(f"{name} {counts[name]}" for name in sorted(counts)))
        ok = done and code == 0
        say("demo finished: every message reached its outcome" if ok else "demo FAILED: see the log above")
        return 0 if ok else 1


def publish(endpoint: LocalEndpoint, topic_arn: str) -> None:
    producer: Any = create_object_graph("demo", loader=load_from_dict(
        sns_topic_arns={"default": topic_arn},
        sns_producer={"endpoint_url": endpoint.url, "region_name": endpoint.region_name},
    )).sns_producer
    say("3. publishing")
    media_type = OrderCreatedSchema.MEDIA_TYPE
    for number in range(1, 6):
        message_id = producer.produce(media_type, order_id=f"order-{number}", quantity=number)
        say(f"   {media_type} order-{number} -> {message_id}")
    producer.produce(media_type, order_id="order-empty", quantity=0)
    say("   an empty order (the handler skips it)")
    producer.produce(media_type, order_id="order-flaky", quantity=1, flaky=True)
    say("   a flaky order (fails once, then succeeds on retry)")
    sns = endpoint.client("sns")
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"mediaType": media_type, "quantity": "many"}),
                MessageAttributes={"media_type": {"DataType": "String", "StringValue": media_type}})
    say("   a message that violates the schema (no orderId, quantity not a number), sent with plain boto3")
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"mediaType": "application/vnd.other.thing"}))
    say("   a message of a media type nobody here handles")


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    say(f"({time.monotonic() - started:.1f}s)")
    sys.exit(status)
