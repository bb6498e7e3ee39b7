"""Reliability against poison messages of every kind mixed with good ones."""
from __future__ import annotations

import json
import unittest
from typing import Any, ClassVar

from hamcrest import assert_that, contains_string, empty, equal_to, is_, not_

from microcosm_pubsub.tests.fixtures import wait_for
from microcosm_pubsub.tests.reliability.cases import UNKNOWN_MEDIA_TYPE, marker_of
from microcosm_pubsub.tests.reliability.daemon import WorkSchema
from microcosm_pubsub.tests.reliability.harness import Lab, attribute_value, receive_all, record_figures


def work_body(name: str, **fields: Any) -> str:
    return json.dumps({"mediaType": WorkSchema.MEDIA_TYPE, "name": name, **fields})


def media_type_attribute(media_type: str = WorkSchema.MEDIA_TYPE) -> dict[str, Any]:
    return {"media_type": {"DataType": "String", "StringValue": media_type}}


# Every kind of poison, sent straight to the queue, with the outcome and reason each must get
POISON: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "poison-not-json": ("{poison-not-json", media_type_attribute(), "invalid", "body is not JSON"),
    "poison-no-media-type": (json.dumps({"name": "poison-no-media-type"}), {}, "invalid", "message has no media type"),
    "poison-unknown-media-type": (
        json.dumps({"mediaType": UNKNOWN_MEDIA_TYPE, "name": "poison-unknown-media-type"}),
        media_type_attribute(UNKNOWN_MEDIA_TYPE), "ignored", f"no handler for media type {UNKNOWN_MEDIA_TYPE}",
    ),
    "poison-schema": (
        json.dumps({"mediaType": WorkSchema.MEDIA_TYPE, "marker": "poison-schema", "seconds": "soon"}),
        media_type_attribute(), "invalid", "content does not fit WorkSchema",
    ),
    "poison-not-an-object": (json.dumps(["poison-not-an-object"]), {}, "invalid", "message is JSON but not an object"),
    "poison-odd-media-type": (
        json.dumps({"mediaType": "\u202e\x00\ud7ff poison-odd-media-type", "name": "poison-odd-media-type"}),
        {}, "ignored", "no handler for media type",
    ),
}
# Characters SQS accepts in attributes but that trip careless code: emoji, RTL override, BOM, astral plane
ODD_TEXT = "emoji \U0001f389, RTL \u202e, BOM \ufeff, tab\t, last \U0010ffff, quote \" and \\"
ODD_ATTRIBUTES: dict[str, Any] = {
    **media_type_attribute(),
    "note": {"DataType": "String", "StringValue": ODD_TEXT},
    "blob": {"DataType": "Binary", "BinaryValue": b"\xff\xfe\xc3\x28 not UTF-8 \x80"},
    "number": {"DataType": "Number", "StringValue": "-1e-300"},
    "custom": {"DataType": "String.\u00e9t\u00e9", "StringValue": "\u00e9"},
}
# Near SQS's and SNS's 256 KiB: the body plus attributes must stay under it
HUGE_PADDING = 250 * 1024


class PoisonTest(unittest.TestCase):
    """Poison of every kind in the same batches as good messages (one daemon run, several checks)."""

    good: ClassVar[list[str]]
    huge_poison: ClassVar[list[str]]
    dead: ClassVar[dict[str, dict[str, Any]]]
    dead_count: ClassVar[int]
    handled: ClassVar[set[str]]
    log: ClassVar[str]
    queue_left: ClassVar[int]
    status: ClassVar[int]

    @classmethod
    def setUpClass(cls) -> None:
        lab = Lab()
        cls.addClassCleanup(lab.close)
        stack = lab.new_stack("poison", visibility_timeout=30)
        sns = lab.endpoint.client("sns")
        cls.addClassCleanup(sns.close)
        cls.good = [f"good-{index}" for index in range(4)] + ["good-odd-attributes", "good-huge", "good-sns-odd"]
        cls.huge_poison = [f"poison-huge-{index}" for index in range(5)]

        # One batch of poison and good messages, then huge ones (one per send: SQS caps a batch's size)
        entries: list[Any] = [
            {"Id": str(index), "MessageBody": body, "MessageAttributes": attributes}
            for index, (body, attributes, _, _) in enumerate(POISON.values())
        ] + [
            {"Id": f"good{index}", "MessageBody": work_body(f"good-{index}"),
             "MessageAttributes": media_type_attribute()}
            for index in range(4)
        ]
        for start in range(0, len(entries), 10):
            lab.sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries[start:start + 10])
        lab.sqs.send_message(
            QueueUrl=stack.queue_url, MessageBody=work_body("good-odd-attributes"), MessageAttributes=ODD_ATTRIBUTES,
        )
        lab.sqs.send_message(
            QueueUrl=stack.queue_url, MessageBody=work_body("good-huge", padding="x" * HUGE_PADDING),
            MessageAttributes=media_type_attribute(),
        )
        for name in cls.huge_poison:
            lab.sqs.send_message(
                QueueUrl=stack.queue_url, MessageAttributes=media_type_attribute(),
                MessageBody=json.dumps(
                    {"mediaType": WorkSchema.MEDIA_TYPE, "marker": name, "padding": "x" * HUGE_PADDING},
                ),
            )
        # Through SNS as well: an envelope around a body that is not JSON, and odd SNS attributes
        sns.publish(TopicArn=stack.topic_arn, Message="poison-sns-not-json", MessageAttributes=media_type_attribute())
        sns.publish(
            TopicArn=stack.topic_arn, Message=work_body("good-sns-odd"),
            MessageAttributes={**media_type_attribute(), "note": {"DataType": "String", "StringValue": ODD_TEXT}},
        )
        markers = [*POISON, *cls.huge_poison, "poison-sns-not-json"]

        daemon = lab.start_daemon(
            stack, concurrency=4,
            sqs_message_dispatcher={"dead_letter_queue_url": stack.dead_letter_queue_url, "dead_letter_ignored": True},
        )
        wait_for(
            lambda: daemon.exited
            or (lab.depth(stack.dead_letter_queue_url) >= len(markers) and lab.records.handled() >= set(cls.good)),
            timeout=60,
        )
        cls.status = daemon.stop()
        cls.queue_left = lab.depth(stack.queue_url)
        cls.log = daemon.log()
        cls.handled = lab.records.handled()
        assert stack.dead_letter_queue_url is not None
        dead = receive_all(lab.sqs, stack.dead_letter_queue_url)
        cls.dead_count = len(dead)
        cls.dead = {marker_of(message["Body"]): message for message in dead}
        messages_in = len(markers) + len(cls.good)
        record_figures(
            "poison", "poison messages",
            f"{len(markers)} poison messages (not JSON, no media type, unknown or odd media type, schema violation, "
            f"JSON array, {len(cls.huge_poison)} invalid bodies of {HUGE_PADDING // 1024} KiB, SNS envelope around "
            f"non-JSON) mixed into batches with {len(cls.good)} good ones (odd and binary non-UTF-8 attributes, "
            f"a {HUGE_PADDING // 1024} KiB body); dead_letter_ignored on",
            messages_in=messages_in, handled=len(cls.handled & set(cls.good)),
            lost=messages_in - len(cls.handled & set(cls.good)) - len(cls.dead),
            duplicated=lab.records.duplicates(), dead_lettered=cls.dead_count, exit_status=cls.status,
            queue_left=cls.queue_left,
        )

    def test_poison_leaves_nothing_behind(self):
        """After the poison the queue is empty and the daemon stops cleanly."""
        assert_that((self.queue_left, self.status), is_(equal_to((0, 0))), self.log[-3000:])

    def test_each_poison_message_gets_its_outcome_and_reason(self):
        """Each poison message is in the dead-letter queue with the outcome and reason of its kind."""
        for marker, (_, _, outcome, reason) in POISON.items():
            with self.subTest(marker):
                message = self.dead.get(marker)
                assert_that(message, is_(not_(None)), f"{marker} was not dead-lettered")
                assert message is not None
                assert_that(attribute_value(message, "pubsub_outcome"), is_(equal_to(outcome)))
                assert_that(attribute_value(message, "pubsub_reason"), contains_string(reason))

    def test_enveloped_poison_gets_its_reason(self):
        """An SNS envelope around a body that is not JSON is INVALID, saying so."""
        message = self.dead.get("poison-sns-not-json")
        assert_that(message, is_(not_(None)), "not dead-lettered")
        assert message is not None
        assert_that(attribute_value(message, "pubsub_reason"), contains_string("SNS message is not JSON"))

    def test_huge_invalid_messages_are_dead_lettered(self):
        """Invalid bodies near the 256 KiB limit are dead-lettered with their reason, never stuck on the queue."""
        for marker in self.huge_poison:
            with self.subTest(marker):
                message = self.dead.get(marker)
                assert_that(message, is_(not_(None)), f"{marker} was not dead-lettered; log:\n{self.log[-3000:]}")
                assert message is not None
                assert_that(attribute_value(message, "pubsub_reason"), contains_string("content does not fit"))

    def test_good_messages_in_poisoned_batches_are_handled(self):
        """The good messages of every batch, odd attributes and a huge body included, are handled."""
        assert_that(set(self.good) - self.handled, is_(empty()))

    def test_each_poison_message_is_dead_lettered_once(self):
        """Poison is dead-lettered on its first delivery and exactly once."""
        assert_that(self.dead_count, is_(equal_to(len(POISON) + len(self.huge_poison) + 1)))
        for message in self.dead.values():
            assert_that(attribute_value(message, "pubsub_receive_count"), is_(equal_to("1")))
