"""The middleware chain's phases: every transform before any seal on the way out, refusal of unsealable chains."""
from __future__ import annotations

import unittest
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hamcrest import assert_that, calling, contains_string, equal_to, is_, raises

from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.middleware.chain import ATTRIBUTES, BODY, SEAL, Middleware, MiddlewareChain, Publication
from microcosm_pubsub.middleware.signing import SIGNATURE_ATTRIBUTE, MessageSigning, sign
from microcosm_pubsub.wire.errors import ConfigurationError
from microcosm_pubsub.wire.outgoing import OutgoingMessage


SECRET = "phases-secret-0123456789"
MESSAGE = OutgoingMessage(
    topic_arn="arn:aws:sns:us-east-1:123456789012:phases",
    media_type="application/vnd.microcosm.pubsub._.tests.phases",
    body='{"mediaType":"application/vnd.microcosm.pubsub._.tests.phases","opaqueData":{}}',
    attributes={"media_type": {"DataType": "String", "StringValue": "application/vnd.microcosm.pubsub._.tests.phases"}},
)


class Recorder(Middleware):
    """Appends its name to a shared log on outgoing and incoming; declares nothing."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def outgoing(self, message: OutgoingMessage) -> OutgoingMessage:
        self.log.append(self.name)
        return message

    def incoming(self, message: Any) -> str | None:
        self.log.append(self.name)
        return None


class RecordingSeal(Recorder):
    phase = SEAL
    touches = frozenset({ATTRIBUTES})


class BodySeal(Recorder):
    """A seal that rewrites the body (say, encryption): it cannot share the chain with another seal."""

    phase = SEAL
    touches = frozenset({BODY})


class OddPhase(Recorder):
    phase = "late"


class OddTouch(Recorder):
    touches = frozenset({"headers"})


class Stamp(Middleware):
    """Rewrites the body in `outgoing`, as tracing does."""

    touches = frozenset({BODY, ATTRIBUTES})

    def outgoing(self, message: OutgoingMessage) -> OutgoingMessage:
        return message.with_opaque_data(lambda opaque: opaque.update(stamp="outgoing"))


class PublishStamp(Middleware):
    """Rewrites the body around the Publish call, as the Dynatrace hook does."""

    touches = frozenset({BODY})

    @contextmanager
    def _stamp(self, publication: Publication) -> Iterator[None]:
        publication.message = publication.message.with_opaque_data(lambda opaque: opaque.update(stamp="publishing"))
        yield

    def publishing(self, publication: Publication) -> Any:
        return self._stamp(publication)


def signature_holds(message: OutgoingMessage) -> bool:
    expected = sign(SECRET.encode(), message.media_type, message.body)
    return bool(message.attributes[SIGNATURE_ATTRIBUTE]["StringValue"] == expected)


class OrderTestCase(unittest.TestCase):
    def test_seal_runs_after_every_transform_whatever_the_listed_order(self) -> None:
        """A seal listed first still sees the message after the transforms listed after it."""
        log: list[str] = []
        chain = MiddlewareChain([RecordingSeal("seal", log), Recorder("one", log), Recorder("two", log)])
        chain.outgoing(MESSAGE)
        assert_that(log, is_(equal_to(["one", "two", "seal"])))

    def test_undeclared_middleware_keeps_its_listed_order(self) -> None:
        """Middleware that declares nothing runs outgoing in the order listed, as before."""
        log: list[str] = []
        MiddlewareChain([Recorder("b", log), Recorder("a", log), Recorder("c", log)]).outgoing(MESSAGE)
        assert_that(log, is_(equal_to(["b", "a", "c"])))

    def test_component_not_derived_from_middleware_runs_as_a_transform(self) -> None:
        """A component with the hooks but no declarations (not a Middleware) runs before the seals."""
        log: list[str] = []

        class Plain:
            def outgoing(self, message: OutgoingMessage) -> OutgoingMessage:
                log.append("plain")
                return message

        MiddlewareChain([RecordingSeal("seal", log), Plain()]).outgoing(MESSAGE)  # type: ignore[list-item]
        assert_that(log, is_(equal_to(["plain", "seal"])))

    def test_seal_checks_incoming_first(self) -> None:
        """On the way in, a seal checks the message before the others read it."""
        log: list[str] = []
        chain = MiddlewareChain([Recorder("one", log), RecordingSeal("seal", log)])
        chain.incoming(SQSMessage(content={}, media_type=MESSAGE.media_type))
        assert_that(log, is_(equal_to(["seal", "one"])))

    def test_signature_covers_a_body_changed_after_signing_was_listed(self) -> None:
        """Signing listed before a body-changing middleware signs the body as changed."""
        chain = MiddlewareChain([MessageSigning({"k": SECRET}, "k"), Stamp()])
        sent = chain.outgoing(MESSAGE)
        assert_that(sent.body, contains_string('"stamp":"outgoing"'))
        assert_that(signature_holds(sent), is_(True))

    def test_body_replaced_while_publishing_is_signed_again(self) -> None:
        """A publishing hook that rewrites the body has the message signed again before it is sent."""
        chain = MiddlewareChain([PublishStamp(), MessageSigning({"k": SECRET}, "k")])
        publication = Publication(chain.outgoing(MESSAGE))
        with chain.publishing(publication):
            sent = publication.message
        assert_that(sent.body, contains_string('"stamp":"publishing"'))
        assert_that(signature_holds(sent), is_(True))

    def test_publishing_without_replacement_keeps_the_message(self) -> None:
        """With a seal in the chain, a publish no hook changed sends the very message prepared."""
        chain = MiddlewareChain([Recorder("one", []), MessageSigning({"k": SECRET}, "k")])
        prepared = chain.outgoing(MESSAGE)
        publication = Publication(prepared)
        with chain.publishing(publication):
            pass
        assert_that(publication.message is prepared, is_(True))


class RefusalTestCase(unittest.TestCase):
    def test_body_changing_seal_next_to_another_seal_is_refused(self) -> None:
        """A seal that changes the body next to another seal is refused, naming both and the fix."""
        assert_that(
            calling(MiddlewareChain).with_args([BodySeal("x", []), RecordingSeal("y", [])], ["encrypting", "signing"]),
            raises(ConfigurationError, "encrypting.*signing.*list only one of them"),
        )

    def test_unknown_phase_is_refused(self) -> None:
        """A middleware declaring a phase the chain does not know is refused at start-up."""
        assert_that(
            calling(MiddlewareChain).with_args([OddPhase("odd", [])], ["odd_middleware"]),
            raises(ConfigurationError, "odd_middleware declares phase 'late'"),
        )

    def test_unknown_touch_is_refused(self) -> None:
        """A middleware declaring it touches something other than body or attributes is refused."""
        assert_that(
            calling(MiddlewareChain).with_args([OddTouch("odd", [])], ["odd_middleware"]),
            raises(ConfigurationError, "odd_middleware declares it touches headers"),
        )

    def test_signing_and_tracing_together_are_accepted(self) -> None:
        """Signing and a body-changing transform make a valid chain in either order."""
        for order in ([MessageSigning({"k": SECRET}, "k"), Stamp()], [Stamp(), MessageSigning({"k": SECRET}, "k")]):
            assert_that(signature_holds(MiddlewareChain(order).outgoing(MESSAGE)), is_(True))

