"""A daemon for fault tests: its handler sleeps, fails or produces a child as each message asks, and records it.

Records are JSON lines appended to `$RELIABILITY_RECORD_FILE`: `started` (from a middleware, with the
delivery's receipt handle and ids), then `handled` or `failed` (from the handler).
"""
from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from marshmallow import fields
from microcosm.api import binding

from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.middleware.chain import Middleware
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema


RECORD_FILE_VARIABLE = "RELIABILITY_RECORD_FILE"
# Probability that any one handling of a message raises, whatever the message asks
FAIL_RATE_VARIABLE = "RELIABILITY_FAIL_RATE"
PREFIX = "application/vnd.microcosm.pubsub._.tests.reliability"


@schema
class WorkSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.work"

    name = fields.String(required=True)
    seconds = fields.Float(load_default=0.0)
    # "always": the handler raises on every delivery
    fail = fields.String(load_default="never")
    # Publish a ChildSchema message from inside the handler
    child = fields.Boolean(load_default=False)
    padding = fields.String(load_default="")


@schema
class ChildSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.child"

    name = fields.String(required=True)


class HandlerStorm(RuntimeError):
    """Raised on purpose by the handler."""


def record(event: str, **fields: Any) -> None:
    line = json.dumps({"event": event, "pid": os.getpid(), "t": time.time(), **fields}) + "\n"
    # One write per line in append mode: lines of concurrent threads and processes never interleave
    with open(os.environ[RECORD_FILE_VARIABLE], "a") as file:
        file.write(line)


@binding("reliability_recorder")
class Recorder(Middleware):
    """Records each delivery a handler is about to see, with what must never leak downstream."""

    def __init__(self, graph: Any) -> None:
        pass

    @contextmanager
    def handling(self, message: SQSMessage) -> Iterator[None]:
        record(
            "started",
            name=(message.content or {}).get("name"),
            receive_count=message.approximate_receive_count,
            receipt_handle=message.receipt_handle,
            message_id=message.message_id,
            sqs_message_id=message.sqs_message_id,
        )
        yield


@binding("reliability_handler")
@handles(WorkSchema)
class ReliabilityHandler:
    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.fail_rate = float(os.environ.get(FAIL_RATE_VARIABLE, "0"))

    def __call__(self, message: dict[str, Any]) -> bool:
        name = message["name"]
        time.sleep(message["seconds"])
        if message["fail"] == "always" or random.random() < self.fail_rate:
            record("failed", name=name)
            raise HandlerStorm(f"handler failed on purpose for {name}")
        if message["child"]:
            self.graph.sns_producer.produce(ChildSchema.MEDIA_TYPE, name=f"child-of-{name}")
        record("handled", name=name)
        return True


class ReliabilityDaemon(ConsumerDaemon):
    name = "reliability"

    @property
    def components(self) -> list[str]:
        return [*super().components, "reliability_handler"]

    @property
    def defaults(self) -> dict[str, Any]:
        # Short polls so that a SIGTERM is acted on within a second
        return {
            "sqs_consumer": {"wait_seconds": 1},
            "pubsub_middleware": {"components": "reliability_recorder"},
        }


if __name__ == "__main__":
    ReliabilityDaemon().run()
