"""Readers: duck-typed SQS clients over a file, stdin or a Lambda event; `QueueExhausted` once they run dry."""
from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any
from urllib.parse import urlparse

from microcosm_pubsub.wire.errors import QueueExhausted


# The queue URL that means "read standard input" (the old package's name for it)
STDIN = "STDIN"
# What a queue would say when asked; readers have no visibility timeout of their own
READER_VISIBILITY_TIMEOUT_SECONDS = "30"


class SQSReader:
    """The SQS client methods the consumer and the runner call; `exhausted` once a receive finds nothing left."""

    exhausted = False

    def end(self, reason: str) -> QueueExhausted:
        self.exhausted = True
        return QueueExhausted(reason)

    def receive_message(self, MaxNumberOfMessages: int = 10, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError

    def delete_message(self, **kwargs: Any) -> dict[str, Any]:
        return {}

    change_message_visibility = delete_message

    def delete_message_batch(self, Entries: Sequence[Mapping[str, Any]] = (), **kwargs: Any) -> dict[str, Any]:
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}

    change_message_visibility_batch = delete_message_batch

    def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        return {"Attributes": {"VisibilityTimeout": READER_VISIBILITY_TIMEOUT_SECONDS}}


def _line_message(line: str, number: int) -> dict[str, Any]:
    """A line's JSON object, else a message whose body the envelope will refuse."""
    try:
        parsed = json.loads(line)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    return {"MessageId": f"line-{number}-{uuid.uuid4()}", "ReceiptHandle": f"line-{number}", "Body": line}


class SQSFileReader(SQSReader):
    """One raw SQS message as JSON per line (with `NaiveSQSEnvelope`, the message itself)."""

    def __init__(self, path: str | None = None, stream: IO[str] | None = None) -> None:
        self.path = path
        self._stream = stream
        self.line_number = 0

    def lines(self) -> Iterator[str]:
        # A text stream is its own iterator: each receive goes on where the last one stopped
        if self._stream is None:
            if self.path is None:
                raise self.end("SQSFileReader has neither a path nor a stream")
            self._stream = open(self.path, encoding="utf-8")
        return iter(self._stream)

    def receive_message(self, MaxNumberOfMessages: int = 10, **kwargs: Any) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        for line in self.lines():
            self.line_number += 1
            if line.strip():
                messages.append(_line_message(line.strip(), self.line_number))
            if len(messages) >= MaxNumberOfMessages:
                break
        if not messages:
            self.close()
            raise self.end(f"{self.path or 'the input'}: no message left after line {self.line_number}")
        return {"Messages": messages}

    def close(self) -> None:
        if self._stream is not None and self.path is not None:
            self._stream.close()


class SQSStdInReader(SQSFileReader):
    """One message per line of standard input (`--stdin`)."""

    def __init__(self) -> None:
        super().__init__(stream=sys.stdin)


class SQSJsonReader(SQSReader):
    """The records of a Lambda SQS event (or one record), handed out once."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        records = event.get("Records") if isinstance(event, Mapping) else None
        self.records: list[Mapping[str, Any]] = list(records) if isinstance(records, list) else [event]
        self.done = False

    def receive_message(self, MaxNumberOfMessages: int = 10, **kwargs: Any) -> dict[str, Any]:
        if self.done or not self.records:
            raise self.end("the Lambda event's records are all handed out")
        self.done = True
        return {"Messages": [dict(record) for record in self.records]}


def reader_for(sqs_queue_url: str | None, sqs_event: Mapping[str, Any] | None = None) -> SQSReader | None:
    """The reader for a Lambda event, `STDIN`, or a file path as the queue URL; else None."""
    if sqs_event:
        return SQSJsonReader(sqs_event)
    if not sqs_queue_url:
        return None
    if sqs_queue_url == STDIN:
        return SQSStdInReader()
    path = urlparse(sqs_queue_url).path if sqs_queue_url.startswith("file://") else sqs_queue_url
    return SQSFileReader(path) if os.path.isfile(path) else None
