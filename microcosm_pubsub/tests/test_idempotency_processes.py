"""An idempotent daemon run for real: `--processes 2` on the local endpoint, its records and effects in SQLite.

The module is also the daemon (`python -m microcosm_pubsub.tests.test_idempotency_processes`): its
handler writes an effect row in the handling's transaction.
"""
from __future__ import annotations

import json
import os
from typing import Any

import sqlalchemy as sa
from hamcrest import assert_that, contains_string, equal_to, is_
from marshmallow import fields
from microcosm.api import binding

from microcosm_pubsub.effects.database import create_engine, create_tables
from microcosm_pubsub.effects.idempotency import idempotent, transaction
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema
from microcosm_pubsub.tests import fixtures, test_daemon
from microcosm_pubsub.tests.test_daemon import WAIT_SECONDS, DaemonProcessTestCase
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE


NAME = "idempotency_processes"
MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.idempotency-processes.order"

effects = sa.Table(
    "idempotency_processes_effects", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)


@schema
class OrderSchema(PubSubMessageSchema):
    MEDIA_TYPE = MEDIA_TYPE

    name = fields.String(required=True)


@binding("idempotency_processes_handler")
@handles(OrderSchema)
@idempotent
class ApplyOrder:
    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, message: dict[str, Any]) -> bool:
        transaction().execute(effects.insert().values(name=message["name"], pid=os.getpid()))
        return True


class ProcessesDaemon(ConsumerDaemon):
    name = NAME

    @property
    def components(self) -> list[str]:
        return [*super().components, "idempotency_processes_handler"]

    @property
    def defaults(self) -> dict[str, Any]:
        return {"sqs_consumer": {"wait_seconds": 1}}


def setUpModule() -> None:
    test_daemon.setUpModule()


class ProcessesTestCase(DaemonProcessTestCase):
    def database(self, tables: bool = True) -> tuple[str, Any]:
        url = f"sqlite:///{self.directory / 'effects.db'}"
        engine = create_engine(url)
        self.addCleanup(engine.dispose)
        if tables:
            create_tables(engine)
            effects.metadata.create_all(engine)
        return url, engine

    def configuration(self, url: str) -> dict[str, str]:
        prefix, endpoint = NAME.upper(), fixtures.endpoint().url
        # The endpoint as the service's own setting: importing this module (the tests' fixtures) in the child
        # clears boto3's AWS_ENDPOINT_URL, so that no test can reach AWS
        return {
            f"{prefix}__PUBSUB_IDEMPOTENCY__STORE": "sql", f"{prefix}__PUBSUB_DATABASE__URL": url,
            f"{prefix}__SQS_CONSUMER__ENDPOINT_URL": endpoint, f"{prefix}__SNS_PRODUCER__ENDPOINT_URL": endpoint,
        }

    def send(self, queue_url: str, name: str, message_id: str) -> None:
        test_daemon.SQS.send_message(
            QueueUrl=queue_url, MessageBody=json.dumps({"mediaType": MEDIA_TYPE, "name": name}),
            MessageAttributes={
                "media_type": {"DataType": "String", "StringValue": MEDIA_TYPE},
                MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": message_id},
            },
        )

    def test_two_processes_apply_each_effect_once(self) -> None:
        """20 orders, 8 of them sent twice, on two processes sharing the queue and the database: 20 effect rows."""
        stack = self.make_stack()
        url, engine = self.database()
        for index in [*range(20), *range(8)]:
            self.send(stack.queue_url, f"order-{index}", f"id-{index}")
        parent = self.spawn(
            f"microcosm_pubsub.tests.{__name__.rsplit('.', 1)[-1]}", "--sqs-queue-url", stack.queue_url,
            "--processes", "2", **self.configuration(url),
        )

        def names() -> list[str]:
            with engine.connect() as connection:
                return sorted(row.name for row in connection.execute(sa.select(effects.c.name)))

        fixtures.wait_for(
            lambda: len(names()) >= 20 and fixtures.queue_counts(test_daemon.SQS, stack.queue_url) == (0, 0),
            WAIT_SECONDS,
        )
        assert_that(parent.terminate(), is_(equal_to(0)))
        assert_that(names(), is_(equal_to(sorted(f"order-{index}" for index in range(20)))))
        assert_that(fixtures.queue_counts(test_daemon.SQS, stack.queue_url), is_(equal_to((0, 0))))

    def test_a_missing_table_stops_the_start(self) -> None:
        """The records' table missing: the daemon says so in one line, naming the fix, and exits 2."""
        stack = self.make_stack()
        url, _ = self.database(tables=False)
        daemon = self.spawn(f"microcosm_pubsub.tests.{__name__.rsplit('.', 1)[-1]}", "--sqs-queue-url",
                            stack.queue_url, **self.configuration(url))
        assert_that(daemon.wait(), is_(equal_to(2)))
        assert_that(daemon.stderr, contains_string("table pubsub_idempotency does not exist"))
        assert_that(daemon.stderr, contains_string("create_tables"))


if __name__ == "__main__":
    ProcessesDaemon().run()
