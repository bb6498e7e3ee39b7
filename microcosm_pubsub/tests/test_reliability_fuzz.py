"""Reliability under fuzzing: any body and attributes get an outcome, in memory."""
from __future__ import annotations

import logging
import unittest
from collections import Counter
from typing import Any

from hamcrest import assert_that, equal_to, instance_of, is_, less_than_or_equal_to, none
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microcosm_pubsub.consume.deadletter import DISALLOWED, dead_letter_attributes
from microcosm_pubsub.consume.logs import MESSAGE_LOGGER, log_outcome
from microcosm_pubsub.consume.result import MessageHandlingResult, Outcome
from microcosm_pubsub.tests.reliability.cases import SOAK, UNKNOWN_MEDIA_TYPE, fuzz_graph
from microcosm_pubsub.tests.reliability.daemon import PREFIX, ChildSchema, WorkSchema
from microcosm_pubsub.tests.reliability.harness import record_figures
from microcosm_pubsub.tests.reliability.strategies import json_values, raw_messages, signed_messages


class FormattingHandler(logging.Handler):
    """Formats every record it is given, so a record that cannot be formatted raises in the test."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


OWN_DEAD_LETTER_ATTRIBUTES = {
    "pubsub_outcome", "pubsub_reason", "pubsub_media_type", "pubsub_receive_count", "pubsub_source_queue",
    "pubsub_error",
}
FUZZ_MEDIA_TYPES = [WorkSchema.MEDIA_TYPE, ChildSchema.MEDIA_TYPE, UNKNOWN_MEDIA_TYPE, f"{PREFIX}.*", ""]
FUZZ_EXAMPLES = 3000 if SOAK else 300
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=not SOAK,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class FuzzTest(unittest.TestCase):
    """Property-based: any body and attributes, through the envelope, the middleware and the dispatcher."""

    def setUp(self) -> None:
        dispatcher_logger = logging.getLogger("microcosm_pubsub.dispatcher")
        handler = FormattingHandler()
        saved = (dispatcher_logger.level, dispatcher_logger.propagate)
        dispatcher_logger.addHandler(handler)
        dispatcher_logger.setLevel(logging.DEBUG)
        dispatcher_logger.propagate = False

        def restore() -> None:
            dispatcher_logger.removeHandler(handler)
            dispatcher_logger.setLevel(saved[0])
            dispatcher_logger.propagate = saved[1]

        self.addCleanup(restore)
        self.envelope = fuzz_graph().sqs_envelope

    def check_outcomes(self, graph: Any, key: str, what: str, messages: Any = None) -> None:
        consumer, dispatcher = graph.sqs_consumer, graph.sqs_message_dispatcher
        outcomes: Counter[str] = Counter()

        @FUZZ_SETTINGS
        @given(raw_messages(FUZZ_MEDIA_TYPES) if messages is None else messages)
        def check(raw: dict[str, Any]) -> None:
            result = dispatcher.handle_message(consumer.wrap(raw))
            assert_that(result, is_(instance_of(MessageHandlingResult)))
            if result.outcome not in (Outcome.SUCCEEDED, Outcome.SKIPPED):
                assert_that(result.reason, is_(instance_of(str)))
            action = dispatcher.action(result)
            log_outcome(logging.getLogger(MESSAGE_LOGGER), result, action)
            attributes = dead_letter_attributes(result, "http://127.0.0.1:1/queue/fuzz")
            assert_that(len(attributes), is_(less_than_or_equal_to(10)))
            for name, value in attributes.items():
                # The message's own attributes are copied as SQS delivered them; ours must be sendable
                if name in OWN_DEAD_LETTER_ATTRIBUTES:
                    assert_that(DISALLOWED.search(value["StringValue"]), is_(none()))
            outcomes[result.outcome.value] += 1

        check()
        record_figures(
            key, f"fuzzing ({what})",
            f"hypothesis: {sum(outcomes.values())} generated SQS messages (any text, any JSON, SNS envelopes, "
            "odd attribute shapes) through consumer.wrap, the middleware and dispatcher.handle_message, in memory",
            messages_in=sum(outcomes.values()), handled=sum(outcomes.values()), lost=0, duplicated=0,
            dead_lettered="-", outcomes=dict(outcomes),
        )

    def test_every_fuzzed_message_gets_an_outcome(self):
        """Any body and attributes yield an outcome (with a reason unless handled); nothing raises."""
        self.check_outcomes(fuzz_graph(), "fuzz", "plain")

    def test_every_fuzzed_message_gets_an_outcome_with_signing(self):
        """With signing required, any body and attributes still yield an outcome; nothing raises."""
        graph = fuzz_graph(
            pubsub_middleware={"components": "pubsub_signing"},
            pubsub_signing={"keys": {"k1": "fuzz-secret"}, "signing_key_id": "k1"},
        )
        messages = raw_messages(FUZZ_MEDIA_TYPES) | signed_messages(FUZZ_MEDIA_TYPES, "k1", "fuzz-secret")
        self.check_outcomes(graph, "fuzz-signing", "signing required", messages)

    @FUZZ_SETTINGS
    @given(raw_messages(FUZZ_MEDIA_TYPES) | st.dictionaries(st.sampled_from(["Body", "MessageId"]), json_values()))
    def test_envelope_never_raises(self, raw: dict[str, Any]):
        """SQSEnvelope.open returns content or a problem for any dict, whatever its Body holds."""
        opened = self.envelope.open(raw)
        assert_that(opened.problem is None, is_(equal_to(opened.content is not None)))
