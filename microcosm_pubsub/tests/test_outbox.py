"""The transactional outbox on SQLite and PostgreSQL: produce() in a transaction, the relay publishing the commits."""
from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import unittest
from typing import Any, ClassVar

import sqlalchemy as sa
from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_string,
    empty,
    equal_to,
    has_entries,
    has_length,
    has_properties,
    is_,
    none,
    raises,
)
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict
from sqlalchemy.orm import Session

from microcosm_pubsub.aws.memory import MemoryAWS
from microcosm_pubsub.aws.provisioning import Stack, provision
from microcosm_pubsub.effects import outbox
from microcosm_pubsub.effects.database import create_engine, create_tables
from microcosm_pubsub.effects.outbox import OUTBOX_TABLE, OutboxError, outbox_table
from microcosm_pubsub.effects.relay import OutboxRelay
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.testing.postgres import postgres_url
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE


PREFIX = "application/vnd.microcosm.pubsub._.tests.outbox"


@schema
class ParcelSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.parcel"

    name = fields.String(required=True)


@schema
class LetterSchema(PubSubMessageSchema):
    """Sent to a queue, not a topic."""

    MEDIA_TYPE = f"{PREFIX}.letter"

    name = fields.String(required=True)


@schema
class StepSchema(PubSubMessageSchema):
    """Sent to a FIFO topic, grouped by `group`."""

    MEDIA_TYPE = f"{PREFIX}.step"
    MESSAGE_GROUP_KEY = "group"

    name = fields.String(required=True)
    group = fields.String(required=True)


class Boom(Exception):
    """Raised by a test's transaction on purpose."""


class Killed(BaseException):
    """Stands for the process dying at that point: nothing after it runs, no transaction commits."""


class OutboxTestCase(unittest.TestCase):
    """A graph on the in-memory SNS/SQS double and a database with the outbox table; SQLite unless a subclass says."""

    store = "sqlite"
    postgres: ClassVar[str | None] = None

    def setUp(self) -> None:
        self.world = MemoryAWS()
        self.stack = self.provision("outbox")
        self.queue_stack = self.provision("outbox-letters")
        self.engine = create_engine(self.database_url())
        self.addCleanup(self.engine.dispose)
        create_tables(self.engine, [OUTBOX_TABLE])
        self.graph = self.make_graph()
        self.producer: Any = self.graph.sns_producer
        self.relay = self.graph.pubsub_outbox
        self.addCleanup(self.relay.close)

    def database_url(self) -> str:
        if self.store == "postgresql":
            cls = type(self)
            if cls.postgres is None:
                cls.postgres = postgres_url()
            engine = create_engine(cls.postgres)
            with engine.begin() as connection:
                connection.execute(sa.text(f"DROP TABLE IF EXISTS {OUTBOX_TABLE}"))
            engine.dispose()
            return cls.postgres
        directory = tempfile.mkdtemp(prefix="outbox-")
        self.addCleanup(shutil.rmtree, directory, True)
        return f"sqlite:///{directory}/service.db"

    def provision(self, name: str) -> Stack:
        return provision(self.world.sns, self.world.sqs, fixtures.unique_name(name), dead_letter=False)

    def make_graph(self, **outbox_config: Any) -> Any:
        graph: Any = create_object_graph("test", testing=True, loader=load_from_dict({
            "sns_topic_arns": {"default": self.stack.topic_arn, "mappings": {
                LetterSchema.MEDIA_TYPE: self.queue_stack.queue_url,
            }},
            "sqs_consumer": {"sqs_queue_url": self.stack.queue_url, "region_name": "us-east-1"},
            "pubsub_outbox": {"poll_seconds": 0.05, **outbox_config},
        }))
        graph.assign("sns_client", self.world.sns)
        graph.assign("sqs_client", self.world.sqs)
        graph.pubsub_database.use(self.engine)
        return graph

    def delivered(self, stack: Stack | None = None) -> list[tuple[str, str]]:
        """(pubsub_message_id, name) of each message on a stack's queue, in order; deletes nothing."""
        queue_url = (stack or self.stack).queue_url
        found = []
        while batch := self.world.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300, MessageAttributeNames=["All"],
        ).get("Messages", []):
            for raw in batch:
                body = json.loads(raw["Body"])
                # A message published directly (not through the outbox) carries no id: ""
                if "TopicArn" in body:  # through SNS: its notification
                    found.append((body["MessageAttributes"].get(MESSAGE_ID_ATTRIBUTE, {}).get("Value", ""),
                                  json.loads(body["Message"])["name"]))
                else:
                    attribute: Any = raw.get("MessageAttributes", {}).get(MESSAGE_ID_ATTRIBUTE, {})
                    found.append((attribute.get("StringValue", ""), body["name"]))
        return found

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(
                sa.select(outbox_table).order_by(outbox_table.c.id)
            ).mappings()]

    def pending(self) -> list[dict[str, Any]]:
        return [row for row in self.rows() if row["sent_at"] is None]

    def count_calls(self, operation: str, client: Any = None) -> list[int]:
        """The entries of each `operation` call (PublishBatch, SendMessageBatch), as the calls are made."""
        calls: list[int] = []
        key = "PublishBatchRequestEntries" if operation == "PublishBatch" else "Entries"
        service = "sns" if operation == "PublishBatch" else "sqs"
        (client or getattr(self.world, service)).meta.events.register(
            f"provide-client-params.{service}.{operation}",
            lambda params, **_: calls.append(len(params[key])),
        )
        return calls

    def produce_committed(self, names: list[str], media_type: str = ParcelSchema.MEDIA_TYPE, **extra: Any) -> list[str]:
        with self.engine.begin() as connection, outbox.within(connection):
            return [str(self.producer.produce(media_type, name=name, **extra)) for name in names]


class WritingTests(OutboxTestCase):
    def test_a_commit_publishes(self) -> None:
        """produce() in a transaction writes a row and returns the message id; the relay publishes it once committed."""
        (message_id,) = self.produce_committed(["a"])
        assert_that(self.delivered(), is_(empty()))
        assert_that(self.pending(), contains_exactly(
            has_entries(message_id=message_id, media_type=ParcelSchema.MEDIA_TYPE, destination=self.stack.topic_arn),
        ))
        assert_that(self.relay.relay_once(), has_properties(claimed=1, published=1, failed=0))
        assert_that(self.delivered(), is_(equal_to([(message_id, "a")])))
        assert_that(self.pending(), is_(empty()))

    def test_a_rollback_publishes_nothing(self) -> None:
        """A transaction that raises leaves no row: the relay publishes nothing."""
        def transaction() -> None:
            with self.engine.begin() as connection, outbox.within(connection):
                self.producer.produce(ParcelSchema.MEDIA_TYPE, name="a")
                raise Boom()

        assert_that(calling(transaction), raises(Boom))
        assert_that(self.rows(), is_(empty()))
        assert_that(self.relay.relay_once(), has_properties(claimed=0, published=0))
        assert_that(self.delivered(), is_(empty()))

    def test_a_session_works_as_a_connection(self) -> None:
        """An ORM Session's transaction holds the rows just as well."""
        with Session(self.engine) as session, session.begin(), outbox.within(session):
            message_id = self.producer.produce(ParcelSchema.MEDIA_TYPE, name="a")
        self.relay.relay_once()
        assert_that(self.delivered(), is_(equal_to([(message_id, "a")])))

    def test_deferred_blocks_and_batches_join_the_transaction(self) -> None:
        """A deferred block and publish_batch() in the transaction write rows too; nothing goes out before the relay."""
        with self.engine.begin() as connection, outbox.within(connection):
            with self.producer.deferred() as block:
                self.producer.produce(ParcelSchema.MEDIA_TYPE, name="deferred")
            batch = self.producer.publish_batch([self.producer.prepare(ParcelSchema.MEDIA_TYPE, name="batch")])
        assert_that(self.delivered(), is_(empty()))
        self.relay.relay_once()
        assert_that(self.delivered(), is_(equal_to([(block.message_ids[0], "deferred"), (batch[0], "batch")])))

    def test_a_recording_producer_writes_rows_too(self) -> None:
        """In a service's tests (`sns_producer.record`) publish_batch() in a transaction writes rows, records none."""
        graph: Any = create_object_graph("test", testing=True, loader=load_from_dict({
            "sns_topic_arns": {"default": self.stack.topic_arn}, "sns_producer": {"record": True},
        }))
        recorder = graph.sns_producer
        with self.engine.begin() as connection, outbox.within(connection):
            (message_id,) = recorder.publish_batch([recorder.prepare(ParcelSchema.MEDIA_TYPE, name="recorded")])
        assert_that(recorder.messages, is_(empty()))
        assert_that(self.pending(), contains_exactly(has_entries(message_id=message_id)))

    def test_outside_the_block_produce_publishes(self) -> None:
        """The outbox holds only what was produced inside `within`: after it, produce() publishes at once."""
        with self.engine.begin() as connection, outbox.within(connection):
            pass
        self.producer.produce(ParcelSchema.MEDIA_TYPE, name="direct")
        assert_that(self.rows(), is_(empty()))
        assert_that(self.delivered(), has_length(1))

    def test_an_engine_is_refused(self) -> None:
        """within() takes the transaction's Connection or Session; an Engine gets an error showing the right call."""
        engine: Any = self.engine
        assert_that(calling(outbox.within(engine).__enter__), raises(OutboxError, "engine.begin"))

    def test_a_missing_table_says_how_to_create_it(self) -> None:
        """Writing without the table raises an error naming the table and create_tables; so does the check at start."""
        outbox_table.drop(self.engine)

        def transaction() -> None:
            with self.engine.begin() as connection, outbox.within(connection):
                self.producer.produce(ParcelSchema.MEDIA_TYPE, name="a")

        assert_that(calling(transaction), raises(OutboxError, f"{OUTBOX_TABLE} does not exist.*create_tables"))
        assert_that(calling(self.relay.check), raises(ConfigurationError, f"{OUTBOX_TABLE} does not exist"))


class RelayTests(OutboxTestCase):
    def test_in_order_in_batches_of_ten(self) -> None:
        """25 rows for one topic go out in id order, in PublishBatch calls of 10, 10 and 5."""
        calls = self.count_calls("PublishBatch")
        names = [f"n{index:02d}" for index in range(25)]
        ids = self.produce_committed(names)
        assert_that(self.relay.drain(), has_properties(published=25, failed=0))
        assert_that(calls, is_(equal_to([10, 10, 5])))
        assert_that(self.delivered(), is_(equal_to(list(zip(ids, names, strict=True)))))

    def test_queue_destinations_get_send_message_batch(self) -> None:
        """A media type mapped to a queue is sent there with SendMessageBatch, its delay kept from the row."""
        calls = self.count_calls("SendMessageBatch")
        ids = self.produce_committed(["l1", "l2"], LetterSchema.MEDIA_TYPE, delay_seconds=0)
        self.relay.relay_once()
        assert_that(calls, is_(equal_to([2])))
        assert_that(self.delivered(self.queue_stack), is_(equal_to(list(zip(ids, ["l1", "l2"], strict=True)))))

    def test_killed_after_publishing_the_rows_go_again_with_their_ids(self) -> None:
        """Killed after the first PublishBatch, before marking: the next relay publishes all again, the first ten
        with the ids they went out with, so an idempotent consumer drops the copies."""
        names = [f"n{index:02d}" for index in range(15)]
        ids = self.produce_committed(names)

        def die(**_: Any) -> None:
            raise Killed()

        self.world.sns.meta.events.register("after-call.sns.PublishBatch", die, unique_id="die")
        assert_that(calling(self.relay.relay_once), raises(Killed))
        self.relay.close()
        self.world.sns.meta.events.unregister("after-call.sns.PublishBatch", unique_id="die")
        assert_that(self.pending(), has_length(15))
        assert_that(self.make_graph().pubsub_outbox.drain(), has_properties(published=15))
        delivered = self.delivered()
        assert_that(delivered, is_(equal_to(list(zip(ids[:10] + ids, names[:10] + names, strict=True)))))
        assert_that(self.pending(), is_(empty()))

    def test_fifo_groups_stay_in_order_when_a_message_fails(self) -> None:
        """A FIFO message SNS refuses holds back the rest of its group (kept pending, in order); other groups go out."""
        fifo = provision(self.world.sns, self.world.sqs, fixtures.unique_name("outbox-steps") + ".fifo",
                         dead_letter=False)
        producer: Any = create_object_graph("test", testing=True, loader=load_from_dict({
            "sns_topic_arns": {"default": fifo.topic_arn},
        }))
        producer.assign("sns_client", self.world.sns)
        with self.engine.begin() as connection, outbox.within(connection):
            for name, group in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b")]:
                producer.sns_producer.produce(StepSchema.MEDIA_TYPE, name=name, group=group)
        # a1 grows past SNS's limit: SNS refuses it, so a2 must wait
        with self.engine.begin() as connection:
            connection.execute(outbox_table.update().where(outbox_table.c.id == self.rows()[0]["id"]).values(
                body=json.dumps({"mediaType": StepSchema.MEDIA_TYPE, "name": "a1", "group": "a", "x": "x" * 300_000}),
            ))
        assert_that(self.relay.relay_once(), has_properties(claimed=4, published=2, failed=1))
        assert_that([name for _, name in self.delivered(fifo)], is_(equal_to(["b1", "b2"])))
        assert_that([row["attempts"] for row in self.pending()], is_(equal_to([1, 0])))
        assert_that(self.relay.stats(), has_properties(pending=2, failing=1))
        with self.engine.begin() as connection:
            connection.execute(outbox_table.update().where(outbox_table.c.id == self.rows()[0]["id"]).values(
                body=json.dumps({"mediaType": StepSchema.MEDIA_TYPE, "name": "a1", "group": "a"}),
            ))
        self.relay.relay_once()
        assert_that([name for _, name in self.delivered(fifo)], is_(equal_to(["a1", "a2"])))

    def test_an_outbox_around_the_relay_is_ignored(self) -> None:
        """Called inside another outbox block, the relay still publishes (it never writes rows)."""
        self.produce_committed(["a"])
        with self.engine.begin() as connection, outbox.within(connection):
            self.relay.relay_once()
        assert_that(self.delivered(), has_length(1))
        assert_that(self.rows(), has_length(1))

    def test_sent_rows_are_kept_then_pruned(self) -> None:
        """Sent rows stay `keep_sent_seconds`, then prune() deletes them; pending ones stay whatever their age."""
        now = [1_000_000.0]
        relay = OutboxRelay(self.graph.pubsub_database, self.producer, keep_sent_seconds=60, clock=lambda: now[0])
        self.addCleanup(relay.close)
        self.produce_committed(["a", "b"])
        relay.relay_once()
        self.produce_committed(["c"])
        now[0] += 61
        assert_that(relay.stats(), has_properties(pending=1, sent=2))
        assert_that(relay.prune(), is_(equal_to(2)))
        assert_that([row["sent_at"] for row in self.rows()], is_(equal_to([None])))

    def test_keep_nothing_deletes_rows_once_published(self) -> None:
        """With keep_sent_seconds 0 a published row is deleted at once."""
        relay = self.make_graph(keep_sent_seconds=0).pubsub_outbox
        self.produce_committed(["a"])
        relay.relay_once()
        relay.close()
        assert_that(self.rows(), is_(empty()))
        assert_that(self.delivered(), has_length(1))

    def test_stats_show_pending_rows_and_the_oldest_age(self) -> None:
        """stats(): pending rows per destination, the age of the oldest, and sent rows kept."""
        self.produce_committed(["a", "b"])
        self.produce_committed(["l"], LetterSchema.MEDIA_TYPE)
        stats = self.relay.stats()
        assert_that(stats, has_properties(pending=3, failing=0, sent=0))
        assert_that([(item.destination, item.pending) for item in stats.destinations], is_(equal_to([
            (self.stack.topic_arn, 2), (self.queue_stack.queue_url, 1),
        ])))
        assert_that(stats.oldest_age_seconds is not None and 0 <= stats.oldest_age_seconds < 60, is_(True))
        self.relay.drain()
        assert_that(self.relay.stats(), has_properties(pending=0, oldest_age_seconds=none(), sent=3))

    def test_the_run_loop_outlives_a_database_failure(self) -> None:
        """run() logs a failing round and tries again (waiting longer each time) until the database is back."""
        outbox_table.drop(self.engine)
        stop = threading.Event()
        thread = threading.Thread(target=self.relay.run, args=(stop,))
        with self.assertLogs("microcosm_pubsub.outbox", "WARNING") as logs:
            thread.start()
            self.addCleanup(thread.join)
            self.addCleanup(stop.set)
            assert_that(fixtures.wait_for(lambda: len(logs.records) >= 2, timeout=5), is_(True))
            create_tables(self.engine, [OUTBOX_TABLE])
            (message_id,) = self.produce_committed(["after"])
            assert_that(fixtures.wait_for(lambda: not self.pending(), timeout=10), is_(True))
        stop.set()
        assert_that(logs.output[0], contains_string("trying again in"))
        assert_that(self.delivered(), is_(equal_to([(message_id, "after")])))

    def test_the_run_loop_publishes_what_commits_later(self) -> None:
        """run() keeps polling: a row committed while it runs is published within a few polls; stop ends it."""
        stop = threading.Event()
        thread = threading.Thread(target=self.relay.run, args=(stop,))
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(stop.set)
        (message_id,) = self.produce_committed(["late"])
        assert_that(fixtures.wait_for(lambda: not self.pending(), timeout=5), is_(True))
        stop.set()
        thread.join(timeout=5)
        assert_that(thread.is_alive(), is_(False))
        assert_that(self.delivered(), is_(equal_to([(message_id, "late")])))


class SqliteOneRelayTests(OutboxTestCase):
    def test_a_second_relay_stands_by(self) -> None:
        """On SQLite a second relay on the same file publishes nothing until the first one stops."""
        self.produce_committed(["a"])
        assert_that(self.relay.relay_once(), has_properties(published=1))
        second = self.make_graph().pubsub_outbox
        self.addCleanup(second.close)
        self.produce_committed(["b"])
        assert_that(second.relay_once(), has_properties(standby=True, published=0))
        self.relay.close()
        assert_that(second.relay_once(), has_properties(standby=False, published=1))
        assert_that([name for _, name in self.delivered()], is_(equal_to(["a", "b"])))


class PostgresWritingTests(WritingTests):
    store = "postgresql"


class PostgresRelayTests(RelayTests):
    store = "postgresql"


class PostgresSharedRelayTests(OutboxTestCase):
    store = "postgresql"

    def test_several_relays_publish_each_row_once_in_order_per_destination(self) -> None:
        """Four relays at once over three destinations: every row published once, each destination in order."""
        stacks = [self.stack, *(self.provision(f"outbox-{index}") for index in range(2))]
        producers = []
        for stack in stacks:
            graph: Any = create_object_graph("test", testing=True, loader=load_from_dict({
                "sns_topic_arns": {"default": stack.topic_arn},
            }))
            graph.assign("sns_client", self.world.sns)
            producers.append(graph.sns_producer)
        expected: dict[str, list[str]] = {stack.topic_arn: [] for stack in stacks}
        for round_ in range(6):
            with self.engine.begin() as connection, outbox.within(connection):
                for stack, producer in zip(stacks, producers, strict=True):
                    for index in range(20):
                        name = f"{round_}-{index:02d}"
                        producer.produce(ParcelSchema.MEDIA_TYPE, name=name)
                        expected[stack.topic_arn].append(name)
        relays = [OutboxRelay(self.graph.pubsub_database, self.producer, claim_size=20) for _ in range(4)]
        threads = [threading.Thread(target=relay.drain) for relay in relays]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        while self.pending():
            relays[0].drain()
        for stack in stacks:
            assert_that([name for _, name in self.delivered(stack)], is_(equal_to(expected[stack.topic_arn])))

    def test_a_destination_another_relay_holds_is_skipped(self) -> None:
        """While another transaction holds a destination's lock, a relay publishes the other destinations only."""
        self.produce_committed(["parcel"])
        self.produce_committed(["letter"], LetterSchema.MEDIA_TYPE)
        with self.engine.begin() as holder:
            assert_that(self.relay.rows.try_lock(holder, self.stack.topic_arn), is_(True))
            assert_that(self.relay.relay_once(), has_properties(claimed=1, published=1))
            assert_that(self.delivered(), is_(empty()))
        self.relay.relay_once()
        assert_that([name for _, name in self.delivered()], is_(equal_to(["parcel"])))

    def test_an_unreachable_database_is_named_at_start(self) -> None:
        """check() names the database (without its password) and what to check when it cannot be reached."""
        database = type("Database", (), {"engine": create_engine(
            f"postgresql://user:secret@127.0.0.1:{closed_port()}/nowhere")})()
        relay = OutboxRelay(database, self.producer)
        assert_that(calling(relay.check), raises(ConfigurationError, "cannot reach the database"))
        try:
            relay.check()
        except ConfigurationError as error:
            assert_that(str(error), is_(contains_string("***")))
            assert_that("secret" in str(error), is_(False))


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
