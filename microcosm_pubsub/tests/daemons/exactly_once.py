"""A service for the exactly-once fault test: an idempotent handler that writes an effect and publishes a follow-up.

The effect goes into the store's transaction (`transaction()`): a row of `effects` with the SQL store,
a `Put` into the effects table with DynamoDB. Every application of an effect gets a row of its own
(no unique key on the message), so an effect applied twice shows as two rows. The follow-up is
produced from inside the handler: into the outbox with the SQL store and the outbox enabled, straight
to SNS with DynamoDB (its id derived from the handled message's, so a re-run publishes the same id).

Each settled delivery and each handler call is appended as a JSON line to `$EXACTLY_ONCE_RECORD_FILE`.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
import uuid
from typing import Any

import sqlalchemy as sa
from marshmallow import fields
from microcosm.api import binding

from microcosm_pubsub.consume.result import Action, MessageHandlingResult
from microcosm_pubsub.effects.idempotency import idempotent, transaction
from microcosm_pubsub.middleware.chain import Middleware
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema


NAME = "exactly_once"
RECORD_FILE_VARIABLE = "EXACTLY_ONCE_RECORD_FILE"
# The test process that started this one (die_with_parent)
PARENT_VARIABLE = "EXACTLY_ONCE_PARENT_PID"
# prctl(2): the signal this process gets when its parent dies
PR_SET_PDEATHSIG = 1
# DynamoDB's effects table (the SQL one is EFFECTS_TABLE below, made by `effects_table`)
DYNAMODB_EFFECTS_TABLE_VARIABLE = "EXACTLY_ONCE_DYNAMODB_EFFECTS_TABLE"
EFFECTS_TABLE = "effects"
PREFIX = "application/vnd.microcosm.pubsub._.tests.exactly-once"


@schema
class OrderSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.order"

    name = fields.String(required=True)


@schema
class ShippedSchema(PubSubMessageSchema):
    """The follow-up of an applied order."""

    MEDIA_TYPE = f"{PREFIX}.shipped"

    name = fields.String(required=True)


_record_lock = threading.Lock()


def die_with_parent() -> None:
    """On Linux, end this process when the test process that started it dies, however it dies.

    A test process killed (a runner's timeout, Ctrl-C twice) would otherwise leave its daemons, relays
    and endpoints running, handling and publishing with nobody to stop them.
    """
    parent = os.environ.get(PARENT_VARIABLE)
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # The parent may have died before the call: then nobody would signal us
    if os.getppid() != int(parent):
        os._exit(1)


def record(event: str, **values: Any) -> None:
    line = json.dumps({"event": event, "pid": os.getpid(), "t": time.time(), **values}) + "\n"
    # One write per line in append mode: lines of concurrent threads and processes never interleave
    with _record_lock, open(os.environ[RECORD_FILE_VARIABLE], "a") as file:
        file.write(line)


# The SQL effects table: one row per application, deliberately without a unique name
effects = sa.Table(
    EFFECTS_TABLE, sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)


@binding("exactly_once_recorder")
class Recorder(Middleware):
    """Records each settled delivery: which message, how it ended, whether it was settled as a duplicate."""

    def __init__(self, graph: Any) -> None:
        pass

    def settled(self, result: MessageHandlingResult, action: Action) -> None:
        message = result.message
        record(
            "settled", name=(message.content or {}).get("name"), media_type=message.media_type,
            outcome=result.outcome.value, reason=result.reason, extra=_jsonable(result.extra),
            receive_count=message.approximate_receive_count, action=action.value,
        )


def _jsonable(extra: Any) -> dict[str, Any]:
    return {str(key): value if isinstance(value, str | int | float | bool) else repr(value)
            for key, value in dict(extra or {}).items()}


@binding("exactly_once_handler")
@idempotent()
@handles(OrderSchema)
class ApplyOrder:
    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.dynamodb_table = os.environ.get(DYNAMODB_EFFECTS_TABLE_VARIABLE)

    def __call__(self, message: dict[str, Any]) -> bool:
        name = message["name"]
        # Before the effect: a call whose transaction never commits (killed, lease lost) shows as a re-run
        record("called", name=name)
        writes = transaction()
        if self.dynamodb_table:
            writes.append({"Put": {"TableName": self.dynamodb_table, "Item": {
                "id": {"S": uuid.uuid4().hex}, "name": {"S": name}, "pid": {"N": str(os.getpid())},
            }}})
        else:
            writes.execute(effects.insert().values(name=name, pid=os.getpid()))
        self.graph.sns_producer.produce(ShippedSchema.MEDIA_TYPE, name=name)
        return True


class ExactlyOnceDaemon(ConsumerDaemon):
    name = NAME

    @property
    def components(self) -> list[str]:
        return [*super().components, "exactly_once_handler"]

    @property
    def defaults(self) -> dict[str, Any]:
        # Short polls, so that a daemon started after a kill is consuming within a second
        return {
            "sqs_consumer": {"wait_seconds": 1},
            "pubsub_middleware": {"components": "exactly_once_recorder"},
        }


if __name__ == "__main__":
    die_with_parent()
    ExactlyOnceDaemon().run()
