"""The SQL idempotency store on SQLite and on a real PostgreSQL server: the inbox in one transaction.

Messages go through the dispatcher on the in-memory SNS/SQS double; the store is the real database.
"""
from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_inanyorder,
    contains_string,
    equal_to,
    has_entries,
    has_length,
    is_,
    raises,
)
from microcosm.api import binding, create_object_graph, load_from_dict

from microcosm_pubsub.aws.memory import MemoryAWS
from microcosm_pubsub.aws.provisioning import provision
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.effects.database import IDEMPOTENCY_TABLE, create_tables, idempotency_table
from microcosm_pubsub.effects.idempotency import REUSED, Idempotency, idempotent, transaction
from microcosm_pubsub.effects.stores import COMPLETED, IN_PROGRESS, Record
from microcosm_pubsub.effects.stores.sql import SQLStore
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.test_idempotency import OrderSchema, body, lambda_record
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE


WAIT_SECONDS = 20.0
MEMORY_URL = "http://in-memory.invalid"
# The service's own table, written in the handling's transaction
service_metadata = sa.MetaData()
effects = sa.Table(
    "idempotency_test_effects", service_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False),
)


class Charging:
    """Writes an effect row in the handling's transaction; `fail_after_write` raises once it wrote it."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_after_write = False
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def __call__(self, content: dict[str, Any]) -> bool:
        self.calls += 1
        connection = transaction()
        connection.execute(effects.insert().values(name=content["name"]))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(WAIT_SECONDS)
        if self.fail_after_write:
            raise RuntimeError("the card was declined after the row was written")
        return True


def close_store(graph: Any) -> None:
    store = graph.pubsub_idempotency.store
    if isinstance(store, SQLStore):
        store.close()


class SQLCase(unittest.TestCase):
    """A stack on the in-memory double and a graph whose records are in SQLite (`url`)."""

    def url(self) -> str:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        return f"sqlite:///{Path(directory.name) / 'effects.db'}"

    def setUp(self) -> None:
        self.world = MemoryAWS()
        self.database_url = self.url()

    def given(self, handler: Any = None, tables: bool = True, **idempotency: Any) -> Any:
        self.stack = provision(self.world.sns, self.world.sqs, fixtures.unique_name("idem-sql"),
                               max_receive_count=10)
        config = {
            "sqs_consumer": {"sqs_queue_url": self.stack.queue_url, "region_name": "us-east-1"},
            "sqs_message_dispatcher": {"dead_letter_queue_url": self.stack.dead_letter_queue_url},
            "pubsub_idempotency": {"store": "sql", **idempotency},
            "pubsub_database": {"url": self.database_url},
        }
        graph: Any = create_object_graph("test", testing=True, loader=load_from_dict(config))
        graph.assign("sns_client", self.world.sns)
        graph.assign("sqs_client", self.world.sqs)
        self.graph = graph
        self.engine = graph.pubsub_database.engine
        self.addCleanup(self.engine.dispose)
        self.addCleanup(close_store, graph)
        if tables:
            create_tables(self.engine, [IDEMPOTENCY_TABLE])
            service_metadata.create_all(self.engine)
        self.handler: Any = idempotent(handler if handler is not None else Charging())
        registry: Any = graph.sqs_message_handler_registry
        registry.register(OrderSchema.MEDIA_TYPE, self.handler)
        return graph

    @property
    def guard(self) -> Idempotency:
        guard: Idempotency = self.graph.pubsub_idempotency
        return guard

    def send(self, name: str, message_id: str = "m-1", amount: int = 1) -> None:
        sqs: Any = self.world.sqs
        sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=body(name, amount), MessageAttributes={
            "media_type": {"DataType": "String", "StringValue": OrderSchema.MEDIA_TYPE},
            MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": message_id},
        })

    def receive(self, count: int = 1) -> list[Any]:
        messages: list[Any] = self.graph.sqs_consumer.consume(limit=count, wait_seconds=0)
        assert_that(messages, has_length(count))
        return messages

    def effect_names(self) -> list[str]:
        with self.engine.connect() as connection:
            return [row.name for row in connection.execute(sa.select(effects.c.name).order_by(effects.c.id))]

    def records(self) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(idempotency_table)))


class SQLStoreTestCase(SQLCase):
    """The store on SQLite; `PostgresTestCase` runs the same on PostgreSQL."""

    def test_the_effect_and_the_record_commit_together(self) -> None:
        """Handled once: one effect row, the record COMPLETED; the copy is a duplicate and writes nothing."""
        self.given()
        self.send("one")
        self.send("one")
        results = self.graph.sqs_message_dispatcher.handle_batch(self.receive(2))
        assert_that([result.outcome for result in results], contains_exactly(Outcome.SUCCEEDED, Outcome.SUCCEEDED))
        assert_that(results[1].extra, has_entries(duplicate=True))
        assert_that((self.effect_names(), self.handler.calls), is_(equal_to((["one"], 1))))
        assert_that([(row.status, row.outcome) for row in self.records()],
                    contains_exactly((COMPLETED, "SUCCEEDED")))

    def test_a_failed_handler_leaves_neither_effect_nor_record(self) -> None:
        """The handler wrote its row, then raised: both roll back; the retry writes it once."""
        self.given()
        self.handler.fail_after_write = True
        self.send("one")
        dispatcher = self.graph.sqs_message_dispatcher
        assert_that(dispatcher.handle_batch(self.receive())[0].outcome, is_(Outcome.FAILED))
        assert_that((self.effect_names(), self.records()), is_(equal_to(([], []))))
        self.handler.fail_after_write = False
        self.send("one")
        assert_that(dispatcher.handle_batch(self.receive())[0].outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.effect_names(), is_(equal_to(["one"])))

    def test_the_key_reused_with_another_payload(self) -> None:
        self.given()
        self.send("one", amount=1)
        self.graph.sqs_message_dispatcher.handle_batch(self.receive())
        self.send("one", amount=5)
        result = self.graph.sqs_message_dispatcher.handle_batch(self.receive())[0]
        assert_that((result.outcome, result.reason, self.effect_names()),
                    is_(equal_to((Outcome.INVALID, REUSED, ["one"]))))

    def test_a_running_handling_holds_the_key(self) -> None:
        """While a handling's transaction is open a copy waits at most a lease, then comes back later; once it
        commits the copy is a duplicate."""
        self.given(lease_seconds=1)
        handler = self.handler
        handler.gate = threading.Event()
        self.addCleanup(handler.gate.set)
        self.send("one")
        self.send("one")
        first, second = self.receive(2)
        dispatcher = self.graph.sqs_message_dispatcher
        results: list[Any] = []
        thread = threading.Thread(target=lambda: results.append(dispatcher.handle_message(first)))
        thread.start()
        assert_that(handler.entered.wait(WAIT_SECONDS), is_(True))
        waited = dispatcher.handle_message(second)
        assert_that((waited.outcome, waited.retry_seconds), is_(equal_to((Outcome.RETRIED, 1))))
        assert_that(waited.reason, contains_string("being handled elsewhere"))
        handler.gate.set()
        thread.join(WAIT_SECONDS)
        again = dispatcher.handle_message(second)
        assert_that((results[0].outcome, again.outcome, again.extra.get("duplicate")),
                    is_(equal_to((Outcome.SUCCEEDED, Outcome.SUCCEEDED, True))))
        assert_that(self.effect_names(), is_(equal_to(["one"])))

    def test_racing_deliveries_apply_the_effect_once(self) -> None:
        """Six copies handled at once on six threads: one effect row, every copy deleted or back later."""
        self.given()
        self.handler.gate = None
        for _ in range(6):
            self.send("one")
        messages = self.receive(6)
        dispatcher = self.graph.sqs_message_dispatcher
        barrier = threading.Barrier(len(messages))
        outcomes: list[Outcome] = []

        def handle(message: Any) -> None:
            barrier.wait(WAIT_SECONDS)
            outcomes.append(dispatcher.handle_message(message).outcome)

        threads = [threading.Thread(target=handle, args=(message,)) for message in messages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_SECONDS)
        assert_that(self.effect_names(), is_(equal_to(["one"])))
        assert_that(self.handler.calls, is_(equal_to(1)))
        assert_that(set(outcomes) <= {Outcome.SUCCEEDED, Outcome.RETRIED}, is_(True))

    def test_a_receive_is_looked_up_in_one_query(self) -> None:
        """Three handled copies in one receive: one SELECT for them all, no claim."""
        self.given()
        self.send("one")
        dispatcher = self.graph.sqs_message_dispatcher
        dispatcher.handle_batch(self.receive())
        for _ in range(3):
            self.send("one")
        store = self.guard.store
        assert store is not None
        before = store.operations
        results = dispatcher.handle_batch(self.receive(3))
        assert_that([result.extra.get("duplicate") for result in results], is_(equal_to([True] * 3)))
        assert_that(store.operations - before, is_(equal_to(1)))

    def test_expired_records_are_claimed_again(self) -> None:
        self.given()
        store = SQLStore(self.engine)
        self.addCleanup(store.close)
        now = time.time()
        attempt = store.attempt(30)
        assert_that(attempt.claim(Record("k", IN_PROGRESS, "h", "a", now + 30, now + 60), now).won, is_(True))
        assert_that(attempt.complete("k", "a", "SUCCEEDED", now + 60, now), is_(True))
        later = now + 61
        taker = store.attempt(30)
        assert_that(taker.claim(Record("k", IN_PROGRESS, "h", "b", later + 30, later + 60), later).won, is_(True))
        taker.release("k", "b")
        assert_that(store.prune(later), is_(equal_to(1)))

    def test_a_handling_deletes_expired_records(self) -> None:
        """Expired records do not pile up: the first completion of the hour deletes them."""
        self.given()
        with self.engine.begin() as connection:
            connection.execute(idempotency_table.insert().values(
                key="old", status=COMPLETED, payload_hash="h", owner="o", lease_expires=1.0, expires=2.0,
                outcome="SUCCEEDED",
            ))
        self.send("one")
        self.graph.sqs_message_dispatcher.handle_batch(self.receive())
        assert_that([row.key for row in self.records()], contains_exactly(contains_string(":m-1")))

    def test_an_async_handler_writes_in_the_transaction(self) -> None:
        """The async path: the claim and completion off the event loop, the handler's row in the transaction."""

        async def handler(content: dict[str, Any]) -> bool:
            transaction().execute(effects.insert().values(name=content["name"]))
            return True

        self.given(handler=handler)
        self.send("one")
        self.send("one")
        dispatcher = self.graph.sqs_message_dispatcher
        messages = self.receive(2)

        async def run() -> list[Any]:
            return [await dispatcher.handle_message_async(message) for message in messages]

        results = asyncio.run(run())
        assert_that([result.extra.get("duplicate") for result in results], is_(equal_to([None, True])))
        assert_that(self.effect_names(), is_(equal_to(["one"])))

    def test_lambda_checks_the_store_at_its_first_message(self) -> None:
        """No daemon start in Lambda: the first record meets the missing table, is retried, and says why."""
        daemon = LambdaDaemon.create_for_testing(loader=load_from_dict({
            "pubsub_idempotency": {"store": "sql"}, "pubsub_database": {"url": self.database_url},
        }))
        handle = daemon.make_lambda_handler()
        with self.assertLogs("microcosm_pubsub.dispatcher", "WARNING") as logs:
            response = handle({"Records": [lambda_record("r-1", body("one"), {
                MESSAGE_ID_ATTRIBUTE: {"stringValue": "m-1", "dataType": "String"},
                "media_type": {"stringValue": OrderSchema.MEDIA_TYPE, "dataType": "String"},
            })]})
        daemon.graph.pubsub_database.engine.dispose()
        close_store(daemon.graph)
        assert_that(response, is_(equal_to({"batchItemFailures": [{"itemIdentifier": "r-1"}]})))
        assert_that("\n".join(logs.output), contains_string("table pubsub_idempotency does not exist"))

    def test_a_missing_table_is_named_at_start(self) -> None:
        self.given(tables=False)
        assert_that(calling(self.graph.sqs_message_dispatcher.check_idempotency),
                    raises(ConfigurationError, "table pubsub_idempotency does not exist .*create_tables"))

    def test_a_table_that_does_not_match(self) -> None:
        self.given(tables=False)
        with self.engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE pubsub_idempotency (key VARCHAR(512) PRIMARY KEY)")
        assert_that(calling(self.graph.sqs_message_dispatcher.check_idempotency),
                    raises(ConfigurationError, "lacks the columns status, payload_hash"))

    def test_no_url(self) -> None:
        self.database_url = ""
        assert_that(calling(self.given), raises(ConfigurationError, "set pubsub_database.url"))


@binding("idempotency_sql_test_lambda_orders")
@idempotent
class LambdaCharging(Charging):
    def __init__(self, graph: Any) -> None:
        super().__init__()


class LambdaDaemon(ConsumerDaemon):
    name = "idempotency_sql_test_lambda"

    @property
    def components(self) -> list[str]:
        return [*super().components, "idempotency_sql_test_lambda_orders"]

    def lambda_graph(self) -> Any:
        graph = super().lambda_graph()
        graph.sqs_message_handler_registry.register(OrderSchema.MEDIA_TYPE, graph.idempotency_sql_test_lambda_orders)
        return graph


class OutboxTestCase(SQLCase):
    """With the outbox enabled, a handler's produce() joins the handling's transaction."""

    def test_follow_ups_commit_with_the_effect(self) -> None:
        """A failed handling leaves no follow-up in the outbox; a completed one leaves exactly one."""
        from microcosm_pubsub.effects.outbox import outbox_table

        class Following(Charging):
            def __init__(self, graph: Any) -> None:
                super().__init__()
                self.graph = graph

            def __call__(self, content: dict[str, Any]) -> bool:
                self.graph.sns_producer.produce(OrderSchema.MEDIA_TYPE, name=f"{content['name']}-follow-up")
                return super().__call__(content)

        self.stack = provision(self.world.sns, self.world.sqs, fixtures.unique_name("idem-outbox"))
        graph: Any = create_object_graph("test", testing=True, loader=load_from_dict({
            "sns_topic_arns": {"default": self.stack.topic_arn},
            "sqs_consumer": {"sqs_queue_url": self.stack.queue_url, "region_name": "us-east-1"},
            "pubsub_idempotency": {"store": "sql"},
            "pubsub_outbox": {"enabled": True},
            "pubsub_database": {"url": self.database_url},
        }))
        graph.assign("sns_client", self.world.sns)
        graph.assign("sqs_client", self.world.sqs)
        graph.sns_producer.client = self.world.sns
        self.graph = graph
        self.engine = graph.pubsub_database.engine
        self.addCleanup(self.engine.dispose)
        create_tables(self.engine)
        service_metadata.create_all(self.engine)
        handler = idempotent(Following(graph))
        graph.sqs_message_handler_registry.register(OrderSchema.MEDIA_TYPE, handler)

        def outbox_rows() -> int:
            with self.engine.connect() as connection:
                return int(connection.execute(sa.select(sa.func.count()).select_from(outbox_table)).scalar_one())

        handler.fail_after_write = True
        self.send("one")
        assert_that(graph.sqs_message_dispatcher.handle_batch(self.receive())[0].outcome, is_(Outcome.FAILED))
        assert_that((outbox_rows(), self.effect_names()), is_(equal_to((0, []))))
        handler.fail_after_write = False
        self.send("one")
        assert_that(graph.sqs_message_dispatcher.handle_batch(self.receive())[0].outcome, is_(Outcome.SUCCEEDED))
        assert_that((outbox_rows(), self.effect_names()), is_(equal_to((1, ["one"]))))
        # Nothing was published directly (the relay publishes the row): only the failed delivery is on the queue
        assert_that(fixtures.queue_counts(self.world.sqs, self.stack.queue_url), is_(equal_to((0, 1))))


class DaemonTestCase(unittest.TestCase):
    """A running daemon (its runner at concurrency 8) on the in-memory double, records and effects in SQLite."""

    def test_copies_apply_their_effect_once(self) -> None:
        """30 orders, 10 of them sent twice, handled by eight threads: 30 effect rows, 10 duplicates."""
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        world = MemoryAWS()
        stack = provision(world.sns, world.sqs, fixtures.unique_name("idem-daemon"), dead_letter=False)
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict({
            "sns_producer": {"endpoint_url": MEMORY_URL, "region_name": "us-east-1"},
            "sqs_consumer": {"endpoint_url": MEMORY_URL, "region_name": "us-east-1", "wait_seconds": 1,
                             "sqs_queue_url": stack.queue_url},
            "pubsub_runner": {"concurrency": 8},
            "pubsub_idempotency": {"store": "sql"},
            "pubsub_database": {"url": f"sqlite:///{directory.name}/daemon.db"},
        }))
        graph = daemon.graph
        graph.assign("sns_client", world.sns)
        graph.assign("sqs_client", world.sqs)
        engine = graph.pubsub_database.engine
        self.addCleanup(engine.dispose)
        self.addCleanup(close_store, graph)
        create_tables(engine)
        service_metadata.create_all(engine)
        handler = idempotent(Charging())
        graph.sqs_message_handler_registry.register(OrderSchema.MEDIA_TYPE, handler)
        sqs: Any = world.sqs
        for index in [*range(30), *range(10)]:
            sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body(f"order-{index}"), MessageAttributes={
                "media_type": {"DataType": "String", "StringValue": OrderSchema.MEDIA_TYPE},
                MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": f"id-{index}"},
            })
        daemon.start()
        runner = daemon.runner
        assert runner is not None
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, WAIT_SECONDS)
        self.addCleanup(daemon.stop.set)
        assert_that(fixtures.wait_for(lambda: sum(runner.counts.values()) >= 40, WAIT_SECONDS), is_(True))
        daemon.stop.set()
        thread.join(WAIT_SECONDS)
        with engine.connect() as connection:
            names = [row.name for row in connection.execute(sa.select(effects.c.name))]
        assert_that(sorted(names), is_(equal_to(sorted(f"order-{index}" for index in range(30)))))
        guard: Idempotency = graph.pubsub_idempotency
        # A copy meeting its original's open transaction waits for its commit, then is a duplicate
        assert_that((runner.counts, guard.counts["duplicate"]), is_(equal_to(({"succeeded": 40}, 10))))
        assert_that(fixtures.queue_counts(world.sqs, stack.queue_url), is_(equal_to((0, 0))))


class PostgresTestCase(SQLStoreTestCase):
    """The same on a real PostgreSQL server (a new database per test)."""

    def url(self) -> str:
        from microcosm_pubsub.testing.postgres import postgres_url

        return postgres_url()

    def test_an_unreachable_server_is_named_at_start_without_its_password(self) -> None:
        self.database_url = "postgresql://someone:secret-word@127.0.0.1:1/nothing"
        self.given(tables=False)
        assert_that(calling(self.graph.sqs_message_dispatcher.check_idempotency),
                    raises(ConfigurationError, "cannot reach the database postgresql\\+psycopg://someone:\\*\\*\\*@"))
        try:
            self.graph.sqs_message_dispatcher.check_idempotency()
        except ConfigurationError as error:
            assert_that("secret-word" in str(error), is_(False))


class SchemaTestCase(unittest.TestCase):
    def test_each_column_of_the_record(self) -> None:
        assert_that([column.name for column in idempotency_table.columns], contains_inanyorder(
            "key", "status", "payload_hash", "owner", "lease_expires", "expires", "outcome"))
