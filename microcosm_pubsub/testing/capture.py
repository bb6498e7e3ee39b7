"""Capture what the process publishes for a test, as Hedwig's `mock_hedwig_publish` does.

    with capture_published() as published:
        handler(message)
    published.assert_published(INVOICE, order_id="o-1")

While a capture is open no `SNSProducer` in the process calls SNS: `produce()` validates, encodes
and resolves the topic as in production, then the message is recorded (`RecordedMessage`, as the
recording producer records it) into every open capture. A recording producer's messages are
captured too. The assertions are the matchers of `microcosm_pubsub.testing.matchers` (PyHamcrest).
"""
from __future__ import annotations

import threading
import unittest
from types import TracebackType
from typing import Any

from microcosm_pubsub.produce.producer import SNSProducer
from microcosm_pubsub.testing.recording import (
    RecordedMessage,
    RecordedMessages,
    add_listener,
    record_message,
    remove_listener,
)
from microcosm_pubsub.wire.outgoing import OutgoingMessage


class PublishCapture(RecordedMessages):
    """The messages published in the process while it is open (between `start()` and `stop()`)."""

    def __init__(self) -> None:
        super().__init__()
        self.active = False

    @classmethod
    def setup(cls, testcase: unittest.TestCase) -> PublishCapture:
        """A capture open for the rest of the test: call from `setUp`; closed by the test's cleanup."""
        capture = cls().start()
        testcase.addCleanup(capture.stop)
        return capture

    def start(self) -> PublishCapture:
        if not self.active:
            _intercept()
            add_listener(self._append)
            self.active = True
        return self

    def stop(self) -> None:
        if self.active:
            remove_listener(self._append)
            _release()
            self.active = False

    def __enter__(self) -> PublishCapture:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<PublishCapture of {len(self)} message(s)>"

    def assert_published(self, media_type: Any, content: Any = None, /, **fields: Any) -> RecordedMessage:
        """Some captured message has this media type and these fields (values or matchers); returns the first.

        :raises AssertionError: saying what was published instead
        """
        from hamcrest import assert_that

        from microcosm_pubsub.testing.matchers import a_message, published

        assert_that(self.messages, published(media_type, content, **fields))
        expected = a_message(media_type, content, **fields)
        return next(message for message in self.messages if expected.matches(message))

    def assert_not_published(self, media_type: Any = None, content: Any = None, /, **fields: Any) -> None:
        """No captured message has this media type and these fields; with no arguments, nothing was published."""
        from hamcrest import assert_that

        from microcosm_pubsub.testing.matchers import not_published

        assert_that(self.messages, not_published(media_type, content, **fields))

    def assert_published_in_order(self, *messages: Any) -> None:
        """Exactly these messages were captured, in this order (as `published_in_order` takes them)."""
        from hamcrest import assert_that

        from microcosm_pubsub.testing.matchers import published_in_order

        assert_that(self.messages, published_in_order(*messages))

    def assert_published_inanyorder(self, *messages: Any) -> None:
        """Exactly these messages were captured, in any order (as `published_inanyorder` takes them)."""
        from hamcrest import assert_that

        from microcosm_pubsub.testing.matchers import published_inanyorder

        assert_that(self.messages, published_inanyorder(*messages))


def capture_published() -> PublishCapture:
    """A capture to use as a context manager: `with capture_published() as published: ...`."""
    return PublishCapture()


# SNSProducer's own publishing, put back when the last capture closes
_patch_lock = threading.Lock()
_open_captures = 0
_originals: dict[str, Any] = {}


def _captured_publish(self: SNSProducer, message: OutgoingMessage) -> str:
    return record_message(self.graph, message).message_id


def _captured_publish_batch(self: SNSProducer, messages: list[OutgoingMessage]) -> list[str]:
    return [record_message(self.graph, message).message_id for message in messages]


def _intercept() -> None:
    global _open_captures
    with _patch_lock:
        if _open_captures == 0:
            _originals.update((name, SNSProducer.__dict__[name]) for name in ("publish", "publish_batch"))
            setattr(SNSProducer, "publish", _captured_publish)  # noqa: B010 (mypy refuses assigning a method)
            setattr(SNSProducer, "publish_batch", _captured_publish_batch)  # noqa: B010
        _open_captures += 1


def _release() -> None:
    global _open_captures
    with _patch_lock:
        _open_captures -= 1
        if _open_captures == 0:
            for name, original in _originals.items():
                setattr(SNSProducer, name, original)
            _originals.clear()
