"""A receive prepared ahead of its handler calls (the runner's way) is handled exactly as one that was not."""
from __future__ import annotations

import unittest
from typing import Any
from unittest import mock

from hamcrest import assert_that, contains_exactly, equal_to, has_entries
from microcosm.api import create_object_graph

from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Outcome


MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.prepare.thing"


def message(name: str, opaque: dict[str, str] | None = None) -> SQSMessage:
    content = {"media_type": MEDIA_TYPE, "name": name, "opaque_data": dict(opaque or {})}
    return SQSMessage(None, content, MEDIA_TYPE, f"id-{name}", f"receipt-{name}")


class Recorder:
    """Records each message's name and the handler's opaque context while it ran."""

    def __init__(self, graph: Any, returns: Any = True) -> None:
        self.graph = graph
        self.returns = returns
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, content: dict[str, Any]) -> Any:
        self.seen.append((content["name"], dict(self.graph.opaque.as_dict())))
        return self.returns


class TestPreparedMessages(unittest.TestCase):

    def setUp(self) -> None:
        graph: Any = create_object_graph("prepare", testing=True)
        self.graph = graph
        self.dispatcher: Any = graph.sqs_message_dispatcher
        self.handler = Recorder(graph)
        graph.sqs_message_handler_registry.register(MEDIA_TYPE, self.handler)

    def test_prepared_message_runs_in_its_opaque_context(self) -> None:
        """A prepared message's handler sees its own opaque data, id and TTL, as an unprepared one's does."""
        prepared, direct = message("a", {"x-custom": "1"}), message("b", {"x-custom": "2"})
        self.dispatcher.prepare([prepared])
        outcomes = [self.dispatcher.handle_message(each).outcome for each in (prepared, direct)]
        assert_that(outcomes, equal_to([Outcome.SUCCEEDED, Outcome.SUCCEEDED]))
        expected = [{"x-custom": "1", "message_id": "id-a"}, {"x-custom": "2", "message_id": "id-b"}]
        for (_, opaque), keys in zip(self.handler.seen, expected, strict=True):
            assert_that(opaque, has_entries({**keys, "x-request-ttl": "31"}))

    def test_outcome_decided_before_the_call_is_kept(self) -> None:
        """A message prepared with no hop left is EXPIRED without a call, with its reason."""
        expired = message("a", {"x-request-ttl": "0"})
        self.dispatcher.prepare([expired])
        result = self.dispatcher.handle_message(expired)
        assert_that((result.outcome, self.handler.seen), equal_to((Outcome.EXPIRED, [])))

    def test_handled_again_is_looked_up_afresh(self) -> None:
        """Handling the same message twice uses the handler registered by then (what was prepared is used once)."""
        again = message("a")
        self.dispatcher.prepare([again])
        self.dispatcher.handle_message(again)
        replacement = Recorder(self.graph, returns=False)
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, replacement)
        result = self.dispatcher.handle_message(again)
        assert_that((result.outcome, [name for name, _ in replacement.seen]), equal_to((Outcome.SKIPPED, ["a"])))

    def test_prepared_for_other_handlers_is_not_used(self) -> None:
        """Handled with other `bound_handlers` than it was prepared for, a message goes to the ones passed."""
        other = Recorder(self.graph)
        routed = message("a")
        self.dispatcher.prepare([routed])
        self.dispatcher.handle_message(routed, {MEDIA_TYPE: other})
        assert_that(([name for name, _ in other.seen], self.handler.seen), contains_exactly(["a"], []))

    def test_prepared_is_dropped_when_handled_with_other_handlers(self) -> None:
        """Once handled, with any handlers, a message is looked up afresh the next time, never from a stale prepare."""
        routed = message("a")
        self.dispatcher.prepare([routed])
        self.dispatcher.handle_message(routed, {MEDIA_TYPE: Recorder(self.graph)})
        replacement = Recorder(self.graph, returns=False)
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, replacement)
        result = self.dispatcher.handle_message(routed)
        assert_that((result.outcome, [name for name, _ in replacement.seen], self.handler.seen),
                    equal_to((Outcome.SKIPPED, ["a"], [])))

    def test_age_is_taken_when_handling_starts(self) -> None:
        """`handle_start_time` is the message's age when its handling starts, not once a slow handler is done."""
        clock = [1000.0]

        def slow(content: dict[str, Any]) -> bool:
            clock[0] += 60.0
            return True

        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, slow)
        aged = message("a", {"x-request-published": "900.0"})
        self.dispatcher.prepare([aged])
        with mock.patch("microcosm_pubsub.consume.logs.time.time", lambda: clock[0]):
            result = self.dispatcher.handle_message(aged)
        assert_that(result.handle_start_time, equal_to(100.0))
