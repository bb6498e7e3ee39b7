"""ChainHandler and ChainURIHandler: a handler's work as a chain over the message (and the fetched resource)."""
from __future__ import annotations

import unittest
from typing import Any, ClassVar

from hamcrest import assert_that, calling, contains_exactly, equal_to, is_, raises

from microcosm_pubsub.chain import Chain, extracts
from microcosm_pubsub.handlers import ChainHandler, ChainURIHandler
from microcosm_pubsub.tests.test_uri_handler import ResourceServer, make_graph
from microcosm_pubsub.wire.errors import Nack


class CountItems(ChainHandler):
    def get_chain(self) -> Any:
        return Chain(
            extracts("items")(lambda message: message["items"]),
            lambda items: len(items),
        )


class ChainHandlerTests(unittest.TestCase):
    def test_returns_chain_result(self) -> None:
        """The handler's result is the chain's last result, computed from `message` in the context."""
        assert_that(CountItems(graph=None)({"items": [1, 2, 3]}), is_(equal_to(3)))

    def test_single_link(self) -> None:
        """`get_chain` may return one plain function instead of a Chain."""

        class Echo(ChainHandler):
            def get_chain(self) -> Any:
                return lambda message: message["id"]

        assert_that(Echo()({"id": "m-1"}), is_(equal_to("m-1")))

    def test_falsy_result_is_kept(self) -> None:
        """A falsy chain result is returned as is, so the message counts as skipped."""
        assert_that(CountItems()({"items": []}), is_(equal_to(0)))

    def test_get_chain_required(self) -> None:
        """A ChainHandler without `get_chain` cannot be built."""
        assert_that(calling(ChainHandler), raises(TypeError))


class ChainURIHandlerTests(unittest.TestCase):
    server: ClassVar[ResourceServer]

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = ResourceServer()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()

    def test_chain_sees_message_uri_and_resource(self) -> None:
        """The chain reads `message`, `uri` and the fetched `resource` from its context."""
        seen: list[Any] = []

        class Recording(ChainURIHandler):
            def get_chain(self) -> Any:
                return lambda message, uri, resource: seen.append((message["uri"] == uri, resource))

        uri = self.server.serve("/api/order/c1", {"id": "c1"})
        Recording(make_graph())({"uri": uri})
        assert_that(seen, contains_exactly((True, {"id": "c1"})))

    def test_handled_whatever_the_chain_returns(self) -> None:
        """The message counts as handled once the chain has run, even if it returned None."""

        class Quiet(ChainURIHandler):
            def get_chain(self) -> Any:
                return lambda resource: None

        uri = self.server.serve("/api/order/c2", {"id": "c2"})
        assert_that(Quiet(make_graph())({"uri": uri}), is_(True))

    def test_resource_name(self) -> None:
        """`resource_name` chooses the context key of the fetched resource."""
        seen: list[Any] = []

        class OrderChain(ChainURIHandler):
            resource_name = "order"

            def get_chain(self) -> Any:
                return lambda order: seen.append(order["id"])

        uri = self.server.serve("/api/order/c3", {"id": "c3"})
        OrderChain(make_graph())({"uri": uri})
        assert_that(seen, contains_exactly("c3"))

    def test_missing_resource_nacks_before_chain(self) -> None:
        """A missing resource raises Nack and the chain never runs."""
        ran: list[Any] = []

        class Never(ChainURIHandler):
            def get_chain(self) -> Any:
                return lambda resource: ran.append(resource)

        assert_that(calling(Never(make_graph())).with_args({"uri": self.server.url("/api/gone")}), raises(Nack))
        assert_that(ran, is_(equal_to([])))
