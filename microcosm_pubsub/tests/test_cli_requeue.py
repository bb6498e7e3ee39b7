"""`pubsub requeue` end to end: filters, attributes, limits, dry runs, and Ctrl-C in the middle."""
from __future__ import annotations

import json
import signal
import unittest
from typing import Any

from hamcrest import (
    assert_that,
    contains_inanyorder,
    contains_string,
    equal_to,
    greater_than,
    has_entries,
    has_key,
    is_,
    is_not,
    less_than,
)

from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.cli_support import drain, finish, pubsub, send, start, visible


CREATED = "application/vnd.acme.pubsub._.created.order"
CHANGED = "application/vnd.acme.pubsub._.changed.order"


def dead_letter(sqs: Any, queue_url: str, number: int, media_type: str, reason: str) -> None:
    """A message as the dispatcher dead-letters it: its body and media type, plus the pubsub_* attributes."""
    send(sqs, queue_url, json.dumps({"mediaType": media_type, "n": number}), media_type=media_type,
         pubsub_outcome="EXPIRED", pubsub_reason=reason, pubsub_media_type=media_type)


class TestRequeue(unittest.TestCase):
    def setUp(self) -> None:
        self.sqs = fixtures.endpoint().client("sqs")
        self.addCleanup(self.sqs.close)
        self.stack = fixtures.new_stack("cli-requeue")
        self.source = str(self.stack.dead_letter_queue_url)
        self.target = self.stack.queue_url

    def fill(self, count: int) -> None:
        for number in range(count):
            dead_letter(self.sqs, self.source, number, CREATED if number % 2 else CHANGED,
                        "handler timed out" if number % 3 else "schema invalid")

    def requeue(self, *args: str) -> Any:
        return pubsub("requeue", self.source, "--to", self.target, *args)

    def test_requeue_moves_every_message_keeping_body_and_own_attributes(self) -> None:
        """Messages arrive on the target with their body and media_type; pubsub_* attributes are dropped."""
        self.fill(4)
        result = self.requeue()
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        assert_that(result.stdout, contains_string("moved 4 messages"))
        moved = drain(self.sqs, self.target)
        assert_that([json.loads(message["Body"])["n"] for message in moved], contains_inanyorder(0, 1, 2, 3))
        for message in moved:
            assert_that(message["MessageAttributes"], has_key("media_type"))
            assert_that(message["MessageAttributes"], is_not(has_key("pubsub_reason")))
        assert_that(visible(self.sqs, self.source), is_(equal_to(0)))

    def test_media_type_and_reason_filters_leave_the_rest_visible(self) -> None:
        """Only messages matching both filters move; the others are visible on the source at once."""
        self.fill(12)
        result = self.requeue("--media-type", "application/vnd.acme.pubsub._.created.*", "--reason", "timed out")
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        moved = [json.loads(message["Body"])["n"] for message in drain(self.sqs, self.target)]
        assert_that(moved, contains_inanyorder(1, 5, 7, 11))
        assert_that(visible(self.sqs, self.source), is_(equal_to(8)))

    def test_limit_moves_at_most_n(self) -> None:
        """--limit caps how many messages move."""
        self.fill(6)
        result = self.requeue("--limit", "4")
        assert_that(result.stdout, contains_string("moved 4 messages"))
        assert_that(len(drain(self.sqs, self.target)), is_(equal_to(4)))
        assert_that(visible(self.sqs, self.source), is_(equal_to(2)))

    def test_dry_run_counts_and_moves_nothing(self) -> None:
        """--dry-run reports what would move and leaves every message where it was, visible."""
        self.fill(5)
        result = self.requeue("--dry-run", "--reason", "schema invalid")
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        assert_that(result.stdout, contains_string("would move 2 messages"))
        assert_that(visible(self.sqs, self.source), is_(equal_to(5)))
        assert_that(visible(self.sqs, self.target), is_(equal_to(0)))

    def test_ctrl_c_in_the_middle_neither_drops_nor_duplicates(self) -> None:
        """SIGINT mid-run finishes the batch in hand and stops: source plus target hold each message once."""
        self.fill(30)
        # Given a slow requeue (5 a second) that has started moving
        process = start("requeue", self.source, "--to", self.target, "--rate", "5")
        try:
            assert_that(fixtures.wait_for(lambda: visible(self.sqs, self.target) > 0, timeout=20), is_(True))
        finally:
            # When Ctrl-C arrives
            process.send_signal(signal.SIGINT)
            status, stdout, stderr = finish(process)
        # Then it stops early, saying so, with every message on exactly one queue
        assert_that(status, is_(equal_to(130)), stderr)
        assert_that(stderr, contains_string("interrupted"))
        bodies = [message["Body"] for queue in (self.source, self.target) for message in drain(self.sqs, queue)]
        assert_that(sorted(bodies), is_(equal_to(sorted(set(bodies)))))
        assert_that(len(bodies), is_(equal_to(30)))
        moved = int(stdout.split("moved ", 1)[1].split()[0])
        assert_that(moved, is_(greater_than(0)))
        assert_that(moved, is_(less_than(30)))

    def test_same_source_and_target_exits_2(self) -> None:
        """Requeueing a queue onto itself is refused as a usage error."""
        result = pubsub("requeue", self.source, "--to", self.source)
        assert_that(result.returncode, is_(equal_to(2)))
        assert_that(result.stderr, contains_string("same queue"))

    def test_missing_source_exits_1(self) -> None:
        """A source queue that does not exist is an operation failure, in one line."""
        missing = fixtures.unique_name("missing")
        result = pubsub("requeue", missing, "--to", self.target)
        assert_that(result.returncode, is_(equal_to(1)))
        assert_that(result.stderr.strip(), is_(equal_to(f"pubsub requeue: error: queue '{missing}' does not exist")))

    def test_counts_are_printed_for_scripts(self) -> None:
        """The summary names both queues and every count."""
        self.fill(1)
        result = self.requeue()
        assert_that(result.stdout.strip(), is_(equal_to(
            f"moved 1 message from {self.source.rsplit('/', 1)[-1]} to {self.target.rsplit('/', 1)[-1]} "
            "(0 not matching, 0 failed, 0 on both queues)"
        )))
        assert_that(json.loads(drain(self.sqs, self.target)[0]["Body"]), has_entries(n=0))
