"""The handler's opaque context: the old keys, TTL hops, and what of it travels downstream."""
from __future__ import annotations

import json
import unittest
from typing import Any

from hamcrest import assert_that, equal_to, has_entries, has_key, is_, is_not
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.consume.context import LOCAL_KEYS, propagated
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests.fixtures import close_clients, make_graph, new_stack


HOP = "application/vnd.microcosm.pubsub._.tests.context.hop"


@schema
class HopSchema(PubSubMessageSchema):
    MEDIA_TYPE = HOP

    number = fields.Integer(required=True)


def testing_graph(**context: Any) -> Any:
    return create_object_graph("test", testing=True, loader=load_from_dict(sqs_message_context=context))


def message(opaque: dict[str, Any] | None = None, receipt_handle: str | None = "receipt") -> SQSMessage:
    return SQSMessage(
        consumer=None, content={"opaque_data": dict(opaque or {}), "uri": "http://x/1"},
        media_type=HOP, message_id="message-1", receipt_handle=receipt_handle,
    )


class ContextTests(unittest.TestCase):
    def setUp(self) -> None:
        self.graph = testing_graph()

    def opaque_for(self, sqs_message: SQSMessage) -> dict[str, Any]:
        with self.graph.opaque.initialize(self.graph.sqs_message_context, sqs_message):
            return dict(self.graph.opaque.as_dict())

    def test_old_keys(self) -> None:
        """While handling, graph.opaque holds custom keys, message_id, uri and receipt_handle."""
        assert_that(self.opaque_for(message({"x-custom": "a"})), has_entries({
            "x-custom": "a", "message_id": "message-1", "uri": "http://x/1", "receipt_handle": "receipt",
        }))

    def test_first_hop_ttl(self) -> None:
        """A message without x-request-ttl starts from initial_ttl (32), less this hop."""
        assert_that(self.opaque_for(message()), has_entries({"x-request-ttl": "31"}))

    def test_ttl_decrements(self) -> None:
        """An incoming x-request-ttl is decremented by one."""
        assert_that(self.opaque_for(message({"x-request-ttl": "5"})), has_entries({"x-request-ttl": "4"}))

    def test_configured_initial_ttl(self) -> None:
        """sqs_message_context.initial_ttl sets where the count starts."""
        graph = testing_graph(initial_ttl=3)
        with graph.opaque.initialize(graph.sqs_message_context, message()):
            assert_that(graph.opaque["x-request-ttl"], is_(equal_to("2")))

    def test_ttl_off(self) -> None:
        """With enable_ttl off, no x-request-ttl is set and nothing expires."""
        graph = testing_graph(enable_ttl="false")
        zero = message({"x-request-ttl": "0"})
        with graph.opaque.initialize(graph.sqs_message_context, message()):
            assert_that(graph.opaque.as_dict(), is_not(has_key("x-request-ttl")))
        assert_that(graph.sqs_message_context.expired(zero), is_(False))

    def test_message_id_wins(self) -> None:
        """The message's own id replaces a message_id in its opaque data."""
        assert_that(self.opaque_for(message({"message_id": "parent"})), has_entries({"message_id": "message-1"}))

    def test_missing_receipt_handle_left_out(self) -> None:
        """A message built without a receipt handle adds none."""
        assert_that(self.opaque_for(message(receipt_handle=None)), is_not(has_key("receipt_handle")))


class PropagationTests(unittest.TestCase):
    def test_local_keys_stay(self) -> None:
        """Receipt handle, message id, uri and handler never travel; the rest does."""
        opaque = {key: "v" for key in LOCAL_KEYS} | {"x-request-id": "r", "x-custom": "c"}
        assert_that(propagated(opaque), is_(equal_to({"x-request-id": "r", "x-custom": "c"})))

    def test_allow_list_narrows(self) -> None:
        """propagated_keys, when set, keeps only the keys it names."""
        graph = testing_graph(propagated_keys="x-request-id")
        kept = graph.sqs_message_context.propagated({"x-request-id": "r", "x-custom": "c", "receipt_handle": "h"})
        assert_that(kept, is_(equal_to({"x-request-id": "r"})))


class HopChainTests(unittest.TestCase):
    """Handlers that publish through the local endpoint: the TTL counts hops down and cuts the chain."""

    def setUp(self) -> None:
        self.stack = new_stack("context")
        self.graph = make_graph(self.stack, sqs_message_context={"initial_ttl": 3})
        self.seen: list[dict[str, Any]] = []
        self.graph.sqs_message_handler_registry.register(HOP, self.hop)

    def tearDown(self) -> None:
        close_clients(self.graph)

    def hop(self, content: dict[str, Any]) -> bool:
        self.seen.append(dict(self.graph.opaque.as_dict()))
        self.graph.sns_producer.produce(HOP, number=content["number"] + 1)
        return True

    def run_chain(self) -> list[Any]:
        results: list[Any] = []
        for _ in range(15):
            results.extend(self.graph.sqs_message_dispatcher.handle_batch())
            if any(result.outcome is Outcome.EXPIRED for result in results):
                break
        return results

    def test_chain_counts_down_and_expires(self) -> None:
        """Three handlers see x-request-ttl 2, 1, 0; the fourth message arrives with 0 and is EXPIRED."""
        with self.graph.opaque.initialize(lambda: {"x-request-id": "chain-1", "x-custom": "kept"}):
            self.graph.sns_producer.produce(HOP, number=1)
        results = self.run_chain()
        assert_that([result.outcome for result in results], is_(equal_to([Outcome.SUCCEEDED] * 3 + [Outcome.EXPIRED])))
        assert_that([seen["x-request-ttl"] for seen in self.seen], is_(equal_to(["2", "1", "0"])))

    def test_children_carry_context_not_delivery(self) -> None:
        """A child message carries the request id and custom keys, never its parent's receipt handle."""
        with self.graph.opaque.initialize(lambda: {"x-request-id": "chain-2", "x-custom": "kept"}):
            self.graph.sns_producer.produce(HOP, number=1)
        results = self.run_chain()
        child = results[1].message
        body = json.loads(json.loads(child.delivery.body)["Message"])
        expected = {"x-request-id": "chain-2", "x-custom": "kept", "x-request-ttl": "2"}
        assert_that(body["opaqueData"], has_entries(expected))
        assert_that(set(body["opaqueData"]) & LOCAL_KEYS, is_(equal_to(set())))
