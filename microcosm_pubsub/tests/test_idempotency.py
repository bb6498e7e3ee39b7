"""Idempotent handlers on the memory store and the in-memory SNS/SQS double: keys, duplicates, leases, start checks.

`StoreContract` is what every store must do (claims, leases, owners, look-ups, races); the SQL and DynamoDB
modules run the parts that apply to them.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import unittest
from collections.abc import Callable
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    close_to,
    contains_exactly,
    contains_string,
    equal_to,
    has_entries,
    has_length,
    is_,
    none,
    not_none,
    raises,
)
from marshmallow import fields
from microcosm.api import binding, create_object_graph, load_from_dict

from microcosm_pubsub.aws.memory import MemoryAWS
from microcosm_pubsub.aws.provisioning import Stack, provision
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.effects import current
from microcosm_pubsub.effects.idempotency import (
    REUSED,
    Idempotency,
    NoTransaction,
    Running,
    idempotent,
    payload_hash,
    stored_key,
    transaction,
)
from microcosm_pubsub.effects.stores import COMPLETED, IN_PROGRESS, Record, Store
from microcosm_pubsub.effects.stores.memory import MemoryStore
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import handles, schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE


PREFIX = "application/vnd.microcosm.pubsub._.tests.idempotency"
WAIT_SECONDS = 20.0
MEMORY_URL = "http://in-memory.invalid"


@schema
class OrderSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.order"

    name = fields.String(required=True)
    amount = fields.Integer(load_default=1)


class Recorder:
    """A handler that records the names it was called with; `gate` makes it wait, `raises` makes it fail."""

    def __init__(self, returns: Any = True) -> None:
        self.returns = returns
        self.calls: list[str] = []
        self.handling: list[current.Handling | None] = []
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.raises: BaseException | None = None

    def __call__(self, content: dict[str, Any]) -> Any:
        self.calls.append(content["name"])
        self.handling.append(current.handling.get())
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(WAIT_SECONDS)
        if self.raises is not None:
            raise self.raises
        return self.returns


@binding("idempotency_test_decorated_below")
@handles(OrderSchema)
@idempotent
class DecoratedBelow:
    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, content: dict[str, Any]) -> bool:
        return True


@idempotent(key=lambda content: content["name"])
@handles(f"{PREFIX}.other")
def decorated_above(content: dict[str, Any]) -> bool:
    return True


def body(name: str, amount: int = 1, media_type: str = OrderSchema.MEDIA_TYPE) -> str:
    return json.dumps({"mediaType": media_type, "name": name, "amount": amount,
                       "opaqueData": {"x-request-published": str(time.time())}})


class IdempotencyTestCase(unittest.TestCase):
    """A stack on the in-memory double and a testing graph (memory store) with `handler` idempotent."""

    def setUp(self) -> None:
        self.world = MemoryAWS()

    def given(self, handler: Any = None, visibility_timeout: int = 30, dead_letter_queue: bool = True,
              metrics: bool = False, **idempotency: Any) -> Any:
        self.stack: Stack = provision(self.world.sns, self.world.sqs, fixtures.unique_name("idem"),
                                      visibility_timeout=visibility_timeout, max_receive_count=10)
        dispatcher = {"dead_letter_queue_url": self.stack.dead_letter_queue_url} if dead_letter_queue else {}
        config: dict[str, Any] = {
            "sns_topic_arns": {"default": self.stack.topic_arn},
            "sqs_consumer": {"sqs_queue_url": self.stack.queue_url, "region_name": "us-east-1"},
            "sqs_message_dispatcher": dispatcher,
            "pubsub_idempotency": idempotency,
        }
        if metrics:
            config["pubsub_middleware"] = {"components": ["pubsub_metrics"]}
        self.graph: Any = create_object_graph("test", testing=True, loader=load_from_dict(config))
        self.graph.assign("sns_client", self.world.sns)
        self.graph.assign("sqs_client", self.world.sqs)
        self.handler: Any = handler if handler is not None else idempotent(Recorder())
        registry: Any = self.graph.sqs_message_handler_registry
        registry.register(OrderSchema.MEDIA_TYPE, self.handler)
        return self.graph

    @property
    def guard(self) -> Idempotency:
        guard: Idempotency = self.graph.pubsub_idempotency
        return guard

    def send(self, name: str, message_id: str | None = "m-1", amount: int = 1) -> None:
        attributes = {"media_type": {"DataType": "String", "StringValue": OrderSchema.MEDIA_TYPE}}
        if message_id is not None:
            attributes[MESSAGE_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": message_id}
        sqs: Any = self.world.sqs
        sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=body(name, amount),
                                    MessageAttributes=attributes)

    def receive(self, count: int = 1) -> list[SQSMessage]:
        messages: list[SQSMessage] = self.graph.sqs_consumer.consume(limit=count, wait_seconds=0)
        assert_that(messages, has_length(count))
        return messages

    def dispatch(self, count: int = 1) -> list[Any]:
        return list(self.graph.sqs_message_dispatcher.handle_batch(self.receive(count)))

    def visible_in(self) -> list[float]:
        """Seconds until each message on the queue is visible again."""
        queue = self.world.queues[self.stack.queue_url]
        now = time.monotonic()
        return [max(message.visible_at - now, 0.0) for message in queue.messages.values()]

    def dead_letter_reasons(self) -> list[str]:
        assert self.stack.dead_letter_queue_url is not None
        queue = self.world.queues[self.stack.dead_letter_queue_url]
        return [message.attributes.get("pubsub_reason", {}).get("StringValue", "")
                for message in queue.messages.values()]


class DuplicatesTestCase(IdempotencyTestCase):
    def test_a_second_delivery_is_settled_as_the_first_without_a_call(self) -> None:
        """The same message id and payload twice: handled once; the second SUCCEEDED, logged and counted."""
        self.given()
        self.send("one")
        self.send("one")
        with self.assertLogs("microcosm_pubsub.dispatcher", "INFO") as logs:
            results = self.dispatch(2)
        assert_that([result.outcome for result in results], contains_exactly(Outcome.SUCCEEDED, Outcome.SUCCEEDED))
        assert_that(self.handler.calls, contains_exactly("one"))
        assert_that(results[1].extra, has_entries(duplicate=True))
        assert_that(results[1].reason, contains_string("duplicate"))
        assert_that("\n".join(logs.output), contains_string("duplicate"))
        assert_that(self.guard.counts["duplicate"], is_(equal_to(1)))
        assert_that(self.visible_in(), has_length(0))

    def test_duplicates_are_a_metric(self) -> None:
        """`pubsub_metrics` counts each duplicate, by media type, beside the handled count."""
        self.given(metrics=True)
        for _ in range(3):
            self.send("one")
        self.dispatch(3)
        sink = self.graph.pubsub_metrics.sink
        assert_that(sink.count("messages_duplicate", media_type=OrderSchema.MEDIA_TYPE), is_(equal_to(2)))
        assert_that(sink.count("messages_handled", outcome="succeeded"), is_(equal_to(3)))

    def test_a_duplicate_in_a_later_receive(self) -> None:
        """A copy arriving after the first was handled (one claim, no batch look-up) is a duplicate too."""
        self.given()
        self.send("one")
        self.dispatch()
        self.send("one")
        result = self.dispatch()[0]
        assert_that((result.outcome, result.extra.get("duplicate"), self.handler.calls),
                    is_(equal_to((Outcome.SUCCEEDED, True, ["one"]))))

    def test_a_skipped_first_outcome_is_kept(self) -> None:
        """A handler that returned a falsy value: its duplicates are SKIPPED as it was."""
        self.given(handler=idempotent(Recorder(returns=None)))
        self.send("one")
        self.dispatch()
        self.send("one")
        assert_that(self.dispatch()[0].outcome, is_(Outcome.SKIPPED))
        assert_that(self.handler.calls, has_length(1))

    def test_the_key_reused_with_another_payload_is_invalid(self) -> None:
        """Same key, another payload: INVALID, dead-lettered with the reason, the handler not called."""
        self.given()
        self.send("one", amount=1)
        self.dispatch()
        self.send("one", amount=2)
        result = self.dispatch()[0]
        assert_that((result.outcome, result.reason), is_(equal_to((Outcome.INVALID, REUSED))))
        assert_that(self.handler.calls, has_length(1))
        assert_that(self.dead_letter_reasons(), contains_exactly(contains_string(REUSED)))

    def test_opaque_data_is_not_payload(self) -> None:
        """A producer's retry carries a new publish time in its opaque data: still the same payload."""
        assert_that(payload_hash({"name": "a", "opaque_data": {"x-request-published": "1"}}),
                    is_(equal_to(payload_hash({"name": "a", "opaque_data": {"x-request-published": "2"}}))))
        assert_that(payload_hash({"name": "a"}), is_(equal_to(payload_hash({"name": "a"}))))
        assert_that(payload_hash({"name": "a"}) == payload_hash({"name": "b"}), is_(False))

    def test_a_producers_retry_under_its_idempotency_key(self) -> None:
        """`produce(..., idempotency_key=)` twice is one message to an idempotent handler; produce() alone is two."""
        self.given()
        self.graph.sns_producer.client = self.world.sns
        for _ in range(2):
            self.graph.sns_producer.produce(OrderSchema.MEDIA_TYPE, name="one", idempotency_key="order-1")
        results = self.dispatch(2)
        assert_that((self.handler.calls, results[1].extra.get("duplicate")), is_(equal_to((["one"], True))))
        for _ in range(2):
            self.graph.sns_producer.produce(OrderSchema.MEDIA_TYPE, name="two")
        self.dispatch(2)
        assert_that(self.handler.calls, is_(equal_to(["one", "two", "two"])))

    def test_without_a_producer_id_the_sqs_message_id_is_the_key(self) -> None:
        """Old producers send no pubsub_message_id: each SQS message is its own key."""
        self.given()
        self.send("one", message_id=None)
        self.send("one", message_id=None)
        self.dispatch(2)
        assert_that(self.handler.calls, contains_exactly("one", "one"))

    def test_a_key_function(self) -> None:
        """`key=`: two messages with their own ids but one logical key: the second is a duplicate."""
        self.given(handler=idempotent(Recorder(), key=lambda content: f"order-{content['name']}"))
        self.send("one", message_id="a")
        self.send("one", message_id="b")
        results = self.dispatch(2)
        assert_that(self.handler.calls, contains_exactly("one"))
        assert_that(results[1].extra, has_entries(idempotency_key=stored_key(results[1].handler, "order-one")))

    def test_a_key_function_that_fails_makes_the_message_invalid(self) -> None:
        self.given(handler=idempotent(Recorder(), key=lambda content: content["missing"]))
        self.send("one")
        result = self.dispatch()[0]
        assert_that((result.outcome, self.handler.calls), is_(equal_to((Outcome.INVALID, []))))
        assert_that(result.reason, contains_string("KeyError"))

    def test_keys_are_scoped_per_handler(self) -> None:
        """Two handlers of one message keep separate records: the second runs though the first handled it."""
        self.given()
        self.send("one")
        self.dispatch()
        other = idempotent(OtherRecorder())
        self.graph.sqs_message_handler_registry.register(OrderSchema.MEDIA_TYPE, other)
        self.send("one")
        self.dispatch()
        assert_that((self.handler.calls, other.calls), is_(equal_to((["one"], ["one"]))))

    def test_a_failed_handling_releases_the_key(self) -> None:
        """The handler raised: FAILED and retried as before, and the next delivery runs the handler again."""
        self.given()
        self.handler.raises = RuntimeError("card declined")
        self.send("one")
        assert_that(self.dispatch()[0].outcome, is_(Outcome.FAILED))
        self.handler.raises = None
        self.send("one")
        assert_that(self.dispatch()[0].outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.handler.calls, contains_exactly("one", "one"))

    def test_current_handling_names_the_message(self) -> None:
        """The dispatcher sets `current.handling` around every call: the producer's id and the handler."""
        self.given(handler=Recorder())
        self.send("one", message_id="producer-id")
        result = self.dispatch()[0]
        handling = self.handler.handling[0]
        assert handling is not None
        assert_that((handling.message_id, handling.handler), is_(equal_to(("producer-id", result.handler))))
        assert_that(current.handling.get(), is_(none()))

    def test_not_idempotent_handlers_are_called_every_time(self) -> None:
        self.given(handler=Recorder())
        self.send("one")
        self.send("one")
        self.dispatch(2)
        assert_that(self.handler.calls, has_length(2))


class InProgressTestCase(IdempotencyTestCase):
    def test_a_duplicate_of_a_running_handling_comes_back_when_its_lease_ends(self) -> None:
        """A copy finding the key leased elsewhere is RETRIED, visible again when the lease would end."""
        self.given(lease_seconds=40)
        self.handler.gate = threading.Event()
        self.addCleanup(self.handler.gate.set)
        self.send("one")
        self.send("one")
        first, second = self.receive(2)
        dispatcher = self.graph.sqs_message_dispatcher
        results: list[Any] = []
        thread = threading.Thread(target=lambda: results.append(dispatcher.handle_message(first)))
        thread.start()
        assert_that(self.handler.entered.wait(WAIT_SECONDS), is_(True))
        duplicate = dispatcher.handle_message(second)
        dispatcher.settle([duplicate])
        assert_that((duplicate.outcome, duplicate.retry_seconds), is_(equal_to((Outcome.RETRIED, 40))))
        assert_that(self.visible_in(), contains_exactly(close_to(30, 1), close_to(40, 1)))
        self.handler.gate.set()
        thread.join(WAIT_SECONDS)
        assert_that((results[0].outcome, self.handler.calls), is_(equal_to((Outcome.SUCCEEDED, ["one"]))))

    def test_an_expired_lease_is_claimed_and_the_stalled_owner_cannot_complete(self) -> None:
        """A handling stalled past its lease loses the key to the next delivery; its completion is refused."""
        handler = idempotent(Stalling())
        self.given(handler=handler, lease_seconds=30)
        clock = Clock()
        self.guard.clock = clock
        self.addCleanup(handler.stalled.set)
        self.send("one")
        self.send("one")
        first, second = self.receive(2)
        dispatcher = self.graph.sqs_message_dispatcher
        results: list[Any] = []
        thread = threading.Thread(target=lambda: results.append(dispatcher.handle_message(first)))
        thread.start()
        assert_that(handler.entered.wait(WAIT_SECONDS), is_(True))
        clock.now += 31
        assert_that(dispatcher.handle_message(second).outcome, is_(Outcome.SUCCEEDED))
        handler.stalled.set()
        thread.join(WAIT_SECONDS)
        assert_that((results[0].outcome, handler.calls), is_(equal_to((Outcome.RETRIED, ["one", "one"]))))
        assert_that(results[0].reason, contains_string("lease on idempotency key"))
        assert_that(self.guard.counts["lease_lost"], is_(equal_to(1)))

    def test_a_claim_left_by_a_killed_handling_ends_with_its_message_visibility(self) -> None:
        """Claimed 10 s after its receive and never finished: the lease ends when the message reappears."""
        self.given(lease_seconds=30)
        clock = Clock()
        self.guard.clock = clock
        self.send("one")
        self.send("one")
        first, second = self.receive(2)
        first.delivery = dataclasses.replace(first.delivery, received_at=clock.now - 10)
        dispatcher = self.graph.sqs_message_dispatcher
        ready = dispatcher._prepare(first, None)
        assert ready.plan is not None
        assert_that(self.guard.begin(first, ready.name, ready.plan), is_(Running))
        # The process dies here; 21 s later the message is visible again, and its next delivery claims at once
        clock.now += 21
        assert_that(dispatcher.handle_message(second).outcome, is_(Outcome.SUCCEEDED))
        assert_that(self.handler.calls, contains_exactly("one"))

    def test_the_heartbeat_extends_the_lease(self) -> None:
        """The runner's visibility heartbeat moves the lease on with the message's visibility."""
        self.given(visibility_timeout=1)
        store = self.guard.store
        assert isinstance(store, MemoryStore)
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict({
            "sns_producer": {"endpoint_url": MEMORY_URL, "region_name": "us-east-1"},
            "sqs_consumer": {"endpoint_url": MEMORY_URL, "region_name": "us-east-1", "wait_seconds": 1,
                             "sqs_queue_url": self.stack.queue_url},
        }))
        daemon.graph.assign("sns_client", self.world.sns)
        daemon.graph.assign("sqs_client", self.world.sqs)
        handler = idempotent(Recorder())
        gate = handler.gate = threading.Event()
        self.addCleanup(gate.set)
        daemon.graph.sqs_message_handler_registry.register(OrderSchema.MEDIA_TYPE, handler)
        daemon.start()
        daemon.graph.use("sqs_client")
        runner = daemon.runner
        assert runner is not None
        guard: Idempotency = daemon.graph.pubsub_idempotency
        assert_that(guard.lease_seconds, is_(equal_to(1.0)))
        memory = guard.store
        assert isinstance(memory, MemoryStore)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        self.send("one")
        assert_that(handler.entered.wait(WAIT_SECONDS), is_(True))
        first = next(iter(memory.records.values())).lease_expires
        assert_that(fixtures.wait_for(lambda: next(iter(memory.records.values())).lease_expires > first + 0.5,
                                      WAIT_SECONDS), is_(True))
        gate.set()
        assert_that(fixtures.wait_for(lambda: runner.counts.get("succeeded") == 1, WAIT_SECONDS), is_(True))
        daemon.stop.set()
        thread.join(WAIT_SECONDS)
        record = next(iter(memory.records.values()))
        assert_that((record.status, record.outcome), is_(equal_to((COMPLETED, "SUCCEEDED"))))


class OtherRecorder(Recorder):
    """Another handler (handlers are named by their class)."""


class Stalling(Recorder):
    """Its first call waits for `stalled`; later ones run through."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()

    def __call__(self, content: dict[str, Any]) -> Any:
        first = not self.calls
        self.calls.append(content["name"])
        self.entered.set()
        if first:
            self.stalled.wait(WAIT_SECONDS)
        return True


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class DeclarationTestCase(IdempotencyTestCase):
    def test_decorators_in_either_order(self) -> None:
        """`@idempotent` above or below `@handles`, on a class or a function, with or without arguments."""
        graph = self.given()
        options = self.guard.options_for(DecoratedBelow(graph), "a.DecoratedBelow")
        assert_that(options is not None and options.key is None, is_(True))
        other = self.guard.options_for(decorated_above, "a.decorated_above")
        assert_that(other is not None and other.key is not None and other.key({"name": "x"}), is_(equal_to("x")))

    def test_configured_handlers(self) -> None:
        """`pubsub_idempotency.handlers` makes a handler a service does not own idempotent."""
        recorder = Recorder()
        self.given(handler=recorder, handlers=f"{type(recorder).__module__}.{type(recorder).__qualname__}")
        self.send("one")
        self.send("one")
        self.dispatch(2)
        assert_that(recorder.calls, is_(equal_to(["one"])))

    def test_transaction_outside_a_handling(self) -> None:
        assert_that(calling(transaction), raises(NoTransaction, "only available inside a handler declared"))

    def test_the_memory_store_has_no_transaction(self) -> None:
        def handler(content: dict[str, Any]) -> bool:
            transaction()
            return True

        self.given(handler=idempotent(handler))
        self.send("one")
        result = self.dispatch()[0]
        assert_that(result.outcome, is_(Outcome.FAILED))
        assert_that(result.reason, contains_string("memory store has none"))


class StartTestCase(unittest.TestCase):
    def daemon(self, handler: Any, testing: bool, **idempotency: Any) -> Any:
        world = MemoryAWS()
        stack = provision(world.sns, world.sqs, fixtures.unique_name("idem-start"))
        config = {
            "sqs_consumer": {"sqs_queue_url": stack.queue_url, "region_name": "us-east-1"},
            "pubsub_idempotency": idempotency,
        }
        graph: Any = create_object_graph("test", testing=testing, loader=load_from_dict(config))
        graph.assign("sns_client", world.sns)
        graph.assign("sqs_client", world.sqs)
        graph.sqs_message_handler_registry.register(OrderSchema.MEDIA_TYPE, handler)
        return graph

    def test_an_idempotent_handler_needs_a_store(self) -> None:
        """Outside testing graphs there is no default store: the start names the setting."""
        graph = self.daemon(idempotent(Recorder()), testing=False)
        assert_that(calling(graph.sqs_message_dispatcher.check_idempotency),
                    raises(ConfigurationError, "set pubsub_idempotency.store to dynamodb or sql"))

    def test_no_idempotent_handler_needs_no_store(self) -> None:
        graph = self.daemon(Recorder(), testing=False)
        graph.sqs_message_dispatcher.check_idempotency()

    def test_an_unknown_store(self) -> None:
        graph = self.daemon(Recorder(), True, store="redis")
        assert_that(calling(getattr).with_args(graph, "pubsub_idempotency"),
                    raises(ConfigurationError, "give one of dynamodb, sql, memory"))

    def test_testing_graphs_use_the_memory_store(self) -> None:
        graph = self.daemon(idempotent(Recorder()), testing=True)
        graph.sqs_message_dispatcher.check_idempotency()
        assert_that(graph.pubsub_idempotency.store, is_(MemoryStore))


class AsyncAndLambdaTestCase(IdempotencyTestCase):
    def test_an_async_handler(self) -> None:
        """The async path guards the handler the same way: one call, the copy a duplicate."""
        calls: list[str] = []

        @idempotent
        async def handler(content: dict[str, Any]) -> bool:
            calls.append(content["name"])
            assert_that(current.handling.get(), is_(not_none()))
            return True

        self.given(handler=handler)
        self.send("one")
        self.send("one")
        dispatcher = self.graph.sqs_message_dispatcher
        messages = self.receive(2)

        async def run() -> list[Any]:
            return [await dispatcher.handle_message_async(message) for message in messages]

        results = asyncio.run(run())
        assert_that([result.outcome for result in results], contains_exactly(Outcome.SUCCEEDED, Outcome.SUCCEEDED))
        assert_that((calls, results[1].extra.get("duplicate")), is_(equal_to((["one"], True))))

    def test_lambda_records(self) -> None:
        """A Lambda event with a record delivered twice: handled once, nothing reported to retry."""
        daemon = LambdaOrders.create_for_testing()
        handle = daemon.make_lambda_handler()
        attributes = {MESSAGE_ID_ATTRIBUTE: {"stringValue": "m-9", "dataType": "String"},
                      "media_type": {"stringValue": OrderSchema.MEDIA_TYPE, "dataType": "String"}}
        event = {"Records": [lambda_record(f"r-{index}", body("one"), attributes) for index in range(2)]}
        assert_that(handle(event), is_(equal_to({"batchItemFailures": []})))
        handler = daemon.graph.idempotency_test_lambda_orders
        assert_that(handler.calls, contains_exactly("one"))


@binding("idempotency_test_lambda_orders")
@idempotent
class LambdaOrdersHandler(Recorder):
    def __init__(self, graph: Any) -> None:
        super().__init__()


handles(f"{PREFIX}.lambda")(LambdaOrdersHandler)


class LambdaOrders(ConsumerDaemon):
    name = "idempotency_test_lambda"

    @property
    def components(self) -> list[str]:
        return [*super().components, "idempotency_test_lambda_orders"]

    def lambda_graph(self) -> Any:
        graph = super().lambda_graph()
        graph.sqs_message_handler_registry.register(OrderSchema.MEDIA_TYPE, graph.idempotency_test_lambda_orders)
        return graph


def lambda_record(message_id: str, text: str, attributes: dict[str, Any]) -> dict[str, Any]:
    arn = "arn:aws:sqs:us-east-1:123456789012:orders"
    return {
        "messageId": message_id, "receiptHandle": f"handle-{message_id}", "body": text,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
        "messageAttributes": attributes, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": arn,
        "awsRegion": "us-east-1",
    }


class StoreContract:
    """What every store does; `make_store()` gives a fresh, empty one."""

    make_store: Callable[[], Store]
    assertTrue: Callable[..., None]

    def record(self, key: str, owner: str, now: float, lease: float = 30.0, payload: str = "h") -> Record:
        return Record(key, IN_PROGRESS, payload, owner, now + lease, now + 3600)

    def test_a_claim_wins_once(self) -> None:
        store, now = self.make_store(), time.time()
        won = store.attempt(30).claim(self.record("k", "a", now), now)
        lost = store.attempt(30).claim(self.record("k", "b", now), now)
        assert_that((won.won, lost.won), is_(equal_to((True, False))))
        assert lost.record is not None
        assert_that((lost.record.owner, lost.record.status), is_(equal_to(("a", IN_PROGRESS))))

    def test_completed_records_answer_later_claims(self) -> None:
        store, now = self.make_store(), time.time()
        attempt = store.attempt(30)
        attempt.claim(self.record("k", "a", now), now)
        assert_that(attempt.complete("k", "a", "SUCCEEDED", now + 3600, now), is_(True))
        later = store.attempt(30).claim(self.record("k", "b", now + 100, payload="h"), now + 100)
        assert later.record is not None
        assert_that((later.won, later.record.status, later.record.outcome, later.record.payload_hash),
                    is_(equal_to((False, COMPLETED, "SUCCEEDED", "h"))))
        found = store.get_many(["k", "missing"])
        assert_that((list(found), found["k"].status), is_(equal_to((["k"], COMPLETED))))

    def test_an_expired_record_is_claimed_again(self) -> None:
        store, now = self.make_store(), time.time()
        attempt = store.attempt(30)
        attempt.claim(self.record("k", "a", now), now)
        attempt.complete("k", "a", "SUCCEEDED", now + 10, now)
        assert_that(store.attempt(30).claim(self.record("k", "b", now + 20), now + 20).won, is_(True))

    def test_an_ended_lease_is_claimed_and_its_owner_cannot_complete(self) -> None:
        store, now = self.make_store(), time.time()
        stalled = store.attempt(30)
        stalled.claim(self.record("k", "a", now), now)
        later = now + 31
        taker = store.attempt(30)
        assert_that(taker.claim(self.record("k", "b", later), later).won, is_(True))
        assert_that(stalled.complete("k", "a", "SUCCEEDED", later + 3600, later), is_(False))
        assert_that(store.extend("k", "a", later + 60), is_(False))
        assert_that(taker.complete("k", "b", "SUCCEEDED", later + 3600, later), is_(True))
        assert_that(store.get_many(["k"])["k"].owner, is_(equal_to("b")))

    def test_the_owner_extends_its_lease(self) -> None:
        store, now = self.make_store(), time.time()
        store.attempt(30).claim(self.record("k", "a", now), now)
        assert_that(store.extend("k", "a", now + 90), is_(True))
        # 60 s on, the lease still holds: a claim loses
        assert_that(store.attempt(30).claim(self.record("k", "b", now + 60), now + 60).won, is_(False))

    def test_a_release_frees_the_key_for_its_owner_only(self) -> None:
        store, now = self.make_store(), time.time()
        attempt = store.attempt(30)
        attempt.claim(self.record("k", "a", now), now)
        store.attempt(30).release("k", "b")
        assert_that(store.attempt(30).claim(self.record("k", "c", now), now).won, is_(False))
        attempt.release("k", "a")
        assert_that(store.attempt(30).claim(self.record("k", "c", now), now).won, is_(True))

    def test_racing_claims_one_wins(self) -> None:
        """Eight threads claim one key at once: exactly one wins."""
        store, now = self.make_store(), time.time()
        barrier = threading.Barrier(8)
        wins: list[bool] = []

        def claim(owner: str) -> None:
            barrier.wait(WAIT_SECONDS)
            wins.append(store.attempt(30).claim(self.record("race", owner, now), now).won)

        threads = [threading.Thread(target=claim, args=(f"o{index}",)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_SECONDS)
        assert_that(sorted(wins), is_(equal_to([False] * 7 + [True])))


class MemoryStoreTestCase(StoreContract, unittest.TestCase):
    def make_store(self) -> Store:
        return MemoryStore()


class TestWithoutTheSQLExtra(unittest.TestCase):
    """A service without SQLAlchemy installed builds its graph (microcosm imports every binding's module)."""

    def test_a_graph_builds_and_the_database_asks_for_the_extra_only_when_used(self) -> None:
        import subprocess
        import sys

        script = (
            "import sys; sys.modules['sqlalchemy'] = None\n"
            "from microcosm.api import create_object_graph, load_from_dict\n"
            "graph = create_object_graph('nosql', testing=True,"
            " loader=load_from_dict(pubsub_database={'url': 'sqlite:///x.db'}))\n"
            "graph.sns_producer, graph.sqs_message_dispatcher, graph.pubsub_idempotency\n"
            "try:\n    graph.pubsub_database.engine\nexcept ImportError as error:\n    print(error)\n"
        )
        completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert_that(completed.returncode, is_(equal_to(0)), completed.stderr)
        assert_that(completed.stdout, contains_string("pip install 'microcosm_pubsub[sql]'"))
