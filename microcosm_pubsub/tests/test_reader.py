"""Readers as the queue: a file of messages, a Lambda event; consuming stops at their end."""
from __future__ import annotations

import functools
import json
import os
import tempfile
import threading
import unittest
from typing import Any

from hamcrest import assert_that, calling, equal_to, instance_of, is_, raises
from marshmallow import fields
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.consume.readers import SQSFileReader, SQSJsonReader, reader_for
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.runtime.runner import Runner
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.wire.errors import QueueExhausted


LINE = "application/vnd.microcosm.pubsub._.tests.reader.line"


@schema
class LineSchema(PubSubMessageSchema):
    MEDIA_TYPE = LINE

    number = fields.Integer(required=True)


def sqs_line(number: int) -> str:
    message = json.dumps({"mediaType": LINE, "number": number})
    return json.dumps({"MessageId": f"m-{number}", "ReceiptHandle": f"h-{number}",
                       "Body": json.dumps({"Type": "Notification", "Message": message})})


class FileQueueTests(unittest.TestCase):
    def setUp(self) -> None:
        handle, self.path = tempfile.mkstemp(suffix=".jsonl")
        with os.fdopen(handle, "w") as stream:
            stream.write("\n".join([sqs_line(1), "", sqs_line(2), "not json", sqs_line(3)]) + "\n")
        self.graph: Any = create_object_graph("test", testing=True, loader=load_from_dict(
            sqs_consumer={"sqs_queue_url": self.path, "limit": 2},
        ))
        self.numbers: list[int] = []
        registry: Any = self.graph.sqs_message_handler_registry
        registry.register(LINE, functools.partial(handled, self.numbers))

    def tearDown(self) -> None:
        os.unlink(self.path)

    def test_file_path_selects_reader(self) -> None:
        """A queue URL that is a file path makes the file the queue."""
        assert_that(self.graph.sqs_consumer.sqs_client, is_(instance_of(SQSFileReader)))

    def test_batches_then_end(self) -> None:
        """Each receive takes up to `limit` lines; past the last one, QueueExhausted."""
        dispatcher = self.graph.sqs_message_dispatcher
        outcomes = [result.outcome for _ in range(2) for result in dispatcher.handle_batch()]
        assert_that(outcomes, is_(equal_to([Outcome.SUCCEEDED, Outcome.SUCCEEDED, Outcome.INVALID, Outcome.SUCCEEDED])))
        assert_that(calling(dispatcher.handle_batch), raises(QueueExhausted))
        assert_that(self.graph.sqs_consumer.sqs_client.exhausted, is_(True))

    def test_runner_stops_at_end(self) -> None:
        """The receive loop handles every line and stops by itself at the end of the file."""
        runner = Runner(self.graph.sqs_message_dispatcher, self.graph.sqs_consumer, 2, threading.Event())
        thread = threading.Thread(target=runner.run)
        thread.start()
        thread.join(timeout=20)
        assert_that((thread.is_alive(), sorted(self.numbers)), is_(equal_to((False, [1, 2, 3]))))


class LambdaEventTests(unittest.TestCase):
    def test_records_once(self) -> None:
        """SQSJsonReader hands out the event's records once, then is exhausted."""
        reader = SQSJsonReader({"Records": [{"messageId": "1"}, {"messageId": "2"}]})
        assert_that(len(reader.receive_message()["Messages"]), is_(equal_to(2)))
        assert_that(calling(reader.receive_message), raises(QueueExhausted))

    def test_single_record(self) -> None:
        """A single record (the old daemon's event) is one message."""
        messages = SQSJsonReader({"messageId": "1"}).receive_message()["Messages"]
        assert_that(messages, is_(equal_to([{"messageId": "1"}])))

    def test_reader_choice(self) -> None:
        """reader_for: an event wins, a queue URL that is not a file gets no reader."""
        choices = [type(reader_for("https://sqs/q", {"messageId": "1"})).__name__, reader_for("https://sqs/q")]
        assert_that(choices, is_(equal_to(["SQSJsonReader", None])))

    def test_settling_does_nothing(self) -> None:
        """A reader's batched settle calls answer success for every entry."""
        response = SQSJsonReader({}).delete_message_batch(Entries=[{"Id": "0", "ReceiptHandle": "h"}])
        assert_that(response, is_(equal_to({"Successful": [{"Id": "0"}], "Failed": []})))


def handled(numbers: list[int], content: dict[str, Any]) -> bool:
    numbers.append(content["number"])
    return True
