"""Capture what every producer of the process publishes while open, as Hedwig's `mock_hedwig_publish` does."""
from __future__ import annotations

import unittest
from typing import Any
from unittest.mock import patch

from microcosm_pubsub.produce.producer import SNSProducer
from microcosm_pubsub.testing.recording import RecordedMessage, RecordedMessages, captures_lock, open_captures, record
from microcosm_pubsub.wire.outgoing import OutgoingMessage


class PublishCapture(RecordedMessages):
    """The messages published in the process while it is open: `produce()` runs as in production, then records."""

    @classmethod
    def setup(cls, testcase: unittest.TestCase) -> PublishCapture:
        """A capture open for the rest of the test: call from `setUp`; closed by the test's cleanup."""
        capture = cls().start()
        testcase.addCleanup(capture.stop)
        return capture

    @property
    def active(self) -> bool:
        return self in open_captures

    def start(self) -> PublishCapture:
        with captures_lock:
            if not self.active:
                if not open_captures:
                    _captured.start()
                open_captures.append(self)
        return self

    def stop(self) -> None:
        with captures_lock:
            if self.active:
                open_captures.remove(self)
                if not open_captures:
                    _captured.stop()

    def __enter__(self) -> PublishCapture:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<PublishCapture of {len(self)} message(s)>"

    def assert_published(self, media_type: Any, content: Any = None, /, **fields: Any) -> RecordedMessage:
        """Some captured message has this media type and these fields (values or matchers); returns the first."""
        expected = self._assert("published", media_type, content, **fields).expected
        return next(message for message in self.messages if expected.matches(message))

    def assert_not_published(self, media_type: Any = None, content: Any = None, /, **fields: Any) -> None:
        """No captured message has this media type and these fields; with no arguments, nothing was published."""
        self._assert("not_published", media_type, content, **fields)

    def assert_published_in_order(self, *messages: Any) -> None:
        """Exactly these messages were captured, in this order (as `published_in_order` takes them)."""
        self._assert("published_in_order", *messages)

    def assert_published_inanyorder(self, *messages: Any) -> None:
        """Exactly these messages were captured, in any order (as `published_inanyorder` takes them)."""
        self._assert("published_inanyorder", *messages)

    def _assert(self, name: str, /, *args: Any, **fields: Any) -> Any:
        # Imported at first use: importing the toolkit must not need PyHamcrest, which the matchers need
        from hamcrest import assert_that

        from microcosm_pubsub.testing import matchers

        matcher = getattr(matchers, name)(*args, **fields)
        assert_that(self.messages, matcher)
        return matcher


def capture_published() -> PublishCapture:
    """A capture to use as a context manager: `with capture_published() as published: ...`."""
    return PublishCapture()


def _captured_publish(self: SNSProducer, message: OutgoingMessage) -> str:
    return record(self.graph, message).message_id


def _captured_publish_batch(self: SNSProducer, messages: list[OutgoingMessage]) -> list[str]:
    return [record(self.graph, message).message_id for message in messages]


# SNSProducer's own publishing while a capture is open; the originals are put back when the last one closes
_captured = patch.multiple(SNSProducer, publish=_captured_publish, publish_batch=_captured_publish_batch)
