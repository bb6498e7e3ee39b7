"""The DynamoDB idempotency store on the local endpoint (moto's server): conditional writes, transactions, look-ups."""
from __future__ import annotations

import threading
import unittest
from typing import Any

import boto3
from botocore.config import Config
from hamcrest import assert_that, calling, contains_exactly, equal_to, has_entries, has_length, is_, raises
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS
from microcosm_pubsub.aws.memory import MemoryAWS
from microcosm_pubsub.aws.provisioning import create_idempotency_table, provision
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.effects.idempotency import REUSED, Idempotency, idempotent, transaction
from microcosm_pubsub.effects.stores import Store
from microcosm_pubsub.effects.stores.dynamodb import DynamoDBStore
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.test_daemon import closed_port
from microcosm_pubsub.tests.test_idempotency import OrderSchema, StoreContract, body
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE


CLIENT: Any = None


def setUpModule() -> None:
    global CLIENT
    CLIENT = boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1",
    ).client("dynamodb", endpoint_url=fixtures.endpoint().url, config=Config(proxies={}))


def tearDownModule() -> None:
    CLIENT.close()


def new_table(prefix: str = "idem") -> str:
    name = fixtures.unique_name(prefix)
    assert_that(create_idempotency_table(CLIENT, name), is_(True))
    return name


class DynamoDBStoreTestCase(StoreContract, unittest.TestCase):
    def make_store(self) -> Store:
        return DynamoDBStore(lambda: CLIENT, new_table())

    def test_provisioning_twice_changes_nothing(self) -> None:
        name = new_table()
        assert_that(create_idempotency_table(CLIENT, name), is_(False))
        ttl = CLIENT.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert_that(ttl, has_entries(AttributeName="expires"))


class Ordering:
    """Puts an order item in the handling's transaction; `fail` raises after adding it."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.calls = 0
        self.fail = False
        self.entered = threading.Event()
        self.gate: threading.Event | None = None

    def __call__(self, content: dict[str, Any]) -> bool:
        self.calls += 1
        transaction().append({"Put": {"TableName": self.table, "Item": {"key": {"S": f"order-{content['name']}"}}}})
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(20)
        if self.fail:
            raise RuntimeError("refused")
        return True


class DispatchTestCase(unittest.TestCase):
    """The dispatcher on the in-memory SNS/SQS double, its records on the local endpoint's DynamoDB."""

    def setUp(self) -> None:
        self.world = MemoryAWS()
        self.table = new_table()
        # The service's own table, written in the handler's transaction
        self.orders = new_table("orders")

    def given(self, table: str | None = None, own_client: bool = False, **idempotency: Any) -> Any:
        self.stack = provision(self.world.sns, self.world.sqs, fixtures.unique_name("idem-ddb"), max_receive_count=10)
        records = {"store": "dynamodb", "table_name": table or self.table, "endpoint_url": fixtures.endpoint().url,
                   "region_name": "us-east-1", **idempotency}
        config = {
            "sqs_consumer": {"sqs_queue_url": self.stack.queue_url, "region_name": "us-east-1"},
            "sqs_message_dispatcher": {"dead_letter_queue_url": self.stack.dead_letter_queue_url},
            "pubsub_idempotency": records,
        }
        graph: Any = create_object_graph("test", testing=True, loader=load_from_dict(config))
        graph.assign("sns_client", self.world.sns)
        graph.assign("sqs_client", self.world.sqs)
        self.graph = graph
        if not own_client:
            # The module's client: a client of its own costs each test half a second of botocore's model loading
            guard: Idempotency = graph.pubsub_idempotency
            guard.store = DynamoDBStore(lambda: CLIENT, table or self.table)
        self.handler: Any = idempotent(Ordering(self.orders))
        registry: Any = graph.sqs_message_handler_registry
        registry.register(OrderSchema.MEDIA_TYPE, self.handler)
        return graph

    @property
    def store(self) -> DynamoDBStore:
        guard: Idempotency = self.graph.pubsub_idempotency
        assert isinstance(guard.store, DynamoDBStore)
        return guard.store

    def send(self, name: str, message_id: str = "m-1", amount: int = 1) -> None:
        sqs: Any = self.world.sqs
        sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=body(name, amount), MessageAttributes={
            "media_type": {"DataType": "String", "StringValue": OrderSchema.MEDIA_TYPE},
            MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": message_id},
        })

    def dispatch(self, count: int = 1) -> list[Any]:
        messages = self.graph.sqs_consumer.consume(limit=count, wait_seconds=0)
        assert_that(messages, has_length(count))
        return list(self.graph.sqs_message_dispatcher.handle_batch(messages))

    def orders_written(self) -> list[str]:
        return sorted(item["key"]["S"] for item in CLIENT.scan(TableName=self.orders)["Items"])

    def test_handled_once_and_a_duplicate_costs_one_write(self) -> None:
        """The first delivery claims and completes (two writes); a later copy costs one write and no call."""
        self.given(own_client=True)
        self.send("one")
        before = self.store.operations
        self.dispatch()
        assert_that(self.store.operations - before, is_(equal_to(2)))
        self.send("one")
        before = self.store.operations
        result = self.dispatch()[0]
        assert_that((result.outcome, result.extra.get("duplicate")), is_(equal_to((Outcome.SUCCEEDED, True))))
        assert_that((self.store.operations - before, self.handler.calls), is_(equal_to((1, 1))))
        assert_that(self.orders_written(), contains_exactly("order-one"))

    def test_a_failed_handler_writes_nothing(self) -> None:
        self.given()
        self.handler.fail = True
        self.send("one")
        assert_that(self.dispatch()[0].outcome, is_(Outcome.FAILED))
        assert_that((self.orders_written(), CLIENT.scan(TableName=self.table)["Items"]), is_(equal_to(([], []))))

    def test_the_key_reused_with_another_payload(self) -> None:
        self.given()
        self.send("one", amount=1)
        self.dispatch()
        self.send("one", amount=3)
        result = self.dispatch()[0]
        assert_that((result.outcome, result.reason), is_(equal_to((Outcome.INVALID, REUSED))))

    def test_a_receive_is_looked_up_at_once(self) -> None:
        """Three handled copies in one receive: one BatchGetItem, no claim."""
        self.given()
        self.send("one")
        self.dispatch()
        for _ in range(3):
            self.send("one")
        before = self.store.operations
        results = self.dispatch(3)
        assert_that([result.extra.get("duplicate") for result in results], is_(equal_to([True] * 3)))
        assert_that(self.store.operations - before, is_(equal_to(1)))

    def test_a_stalled_owner_writes_nothing(self) -> None:
        """A handling whose lease ended and was claimed by a copy: its completion and its writes are refused."""
        self.given(lease_seconds=1)
        guard: Idempotency = self.graph.pubsub_idempotency
        clock = [guard.clock()]
        guard.clock = lambda: clock[0]
        self.handler.gate = threading.Event()
        self.addCleanup(self.handler.gate.set)
        self.send("one")
        self.send("one")
        first, second = self.graph.sqs_consumer.consume(limit=2, wait_seconds=0)
        dispatcher = self.graph.sqs_message_dispatcher
        results: list[Any] = []
        thread = threading.Thread(target=lambda: results.append(dispatcher.handle_message(first)))
        thread.start()
        assert_that(self.handler.entered.wait(20), is_(True))
        clock[0] += 5
        gate, self.handler.gate = self.handler.gate, None
        assert_that(dispatcher.handle_message(second).outcome, is_(Outcome.SUCCEEDED))
        gate.set()
        thread.join(20)
        assert_that(results[0].outcome, is_(Outcome.RETRIED))
        assert_that(self.orders_written(), contains_exactly("order-one"))

    def test_a_missing_table_is_named_at_start(self) -> None:
        self.given(table="no-such-table")
        assert_that(calling(self.graph.sqs_message_dispatcher.check_idempotency),
                    raises(ConfigurationError, "no-such-table does not exist: create it with `pubsub provision`"))

    def test_an_unreachable_endpoint_is_named_at_start(self) -> None:
        self.given(own_client=True, endpoint_url=f"http://127.0.0.1:{closed_port()}")
        assert_that(calling(self.graph.sqs_message_dispatcher.check_idempotency),
                    raises(ConfigurationError, "cannot reach DynamoDB for the table .*endpoint_url"))

    def test_a_table_with_another_key(self) -> None:
        name = fixtures.unique_name("wrong")
        CLIENT.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        self.given(table=name)
        assert_that(calling(self.graph.sqs_message_dispatcher.check_idempotency),
                    raises(ConfigurationError, "does not match"))
