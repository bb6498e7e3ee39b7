"""Versioned media types in a running daemon on the local endpoint, beside an old-package peer's messages.

The old package's interop service (`tests/interop/service.py`, run by test_interop's helpers with
`.venv-old` and `.venv-old3`) publishes its messages, unversioned; this package publishes majors 1 and 2
of the same media types. One daemon handles them all: the greeting's majors 1 and 2 side by side, and
created Foo's major 2, which the old peer's version-1 messages reach through an upcaster.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast
from unittest import TestCase

from hamcrest import assert_that, contains_exactly, contains_inanyorder, contains_string, equal_to, has_entries, is_
from marshmallow import fields
from microcosm.api import binding, load_from_dict

from microcosm_pubsub.api import ConsumerDaemon, PubSubMessageSchema, handles, schema, upcaster
from microcosm_pubsub.aws.provisioning import Stack
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.conventions import created
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.test_interop import GREETING, OLD3_PYTHON, OLD_PYTHON, PeerTests
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE


FOO = created("Foo")
# The old peer's messages on the queue: created, changed and deleted Foo, the greeting, one batch message
OLD_PEER_MESSAGES = 5
# Ours: the greeting at majors 1 and 2, created Foo at major 2, and one with a malformed version attribute
OUR_MESSAGES = 4
# A bound on the run if a message went missing: the test then fails on what was handled, it does not hang
IDLE_SECONDS = 5.0

RECORDS: list[tuple[str, dict[str, Any]]] = []


@schema
class GreetingV1(PubSubMessageSchema):
    MEDIA_TYPE = GREETING

    message = fields.String(required=True)


@schema
class GreetingV2(PubSubMessageSchema):
    MEDIA_TYPE = GREETING
    VERSION = "2.0"

    message = fields.String(required=True)
    language = fields.String(required=True)


# Major 1 of created Foo is the lifecycle convention's schema (a URI), as the old peer publishes it
@schema
class FooCreatedV2(PubSubMessageSchema):
    MEDIA_TYPE = FOO
    VERSION = "2.0"

    fooId = fields.String(attribute="foo_id", required=True)
    uri = fields.String(required=True)


@upcaster(FOO, from_major=1)
def foo_id_from_uri(content: dict[str, Any]) -> dict[str, Any]:
    return {**content, "foo_id": content["uri"].rsplit("/", 1)[-1]}


class Recording:
    """A handler writing down what it got under its label."""

    label = ""

    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, content: dict[str, Any]) -> bool:
        RECORDS.append((self.label, content))
        return True


@binding("versioning_greeting_v1")
@handles(GreetingV1)
class GreetingV1Handler(Recording):
    label = "greeting 1"


@binding("versioning_greeting_v2")
@handles(GreetingV2)
class GreetingV2Handler(Recording):
    label = "greeting 2"


@binding("versioning_foo_v2")
@handles(FooCreatedV2)
class FooV2Handler(Recording):
    label = "foo 2"


class VersionedDaemon(ConsumerDaemon):
    name = "versioned"

    @property
    def components(self) -> list[str]:
        return [*super().components, "versioning_greeting_v1", "versioning_greeting_v2", "versioning_foo_v2"]


# A mixin, as test_interop's peer tests are: only the two classes below are collected
if TYPE_CHECKING:
    Base = TestCase
else:
    Base = object


class VersionedPeerTests(Base):
    """One daemon, two majors of one media type side by side, one more through an upcaster, an old peer's messages."""

    old_python: ClassVar[str | None]
    variable: ClassVar[str]
    venv: ClassVar[str]
    peer_environment: ClassVar[dict[str, str]] = {}
    # What test_interop's setUp gives: the stack the old service publishes to, its environment
    stack: Stack
    environ: dict[str, str]
    old: str
    out: Path

    @property
    def peer(self) -> PeerTests:
        """This test as test_interop's helpers see it: they read only the attributes declared above."""
        return cast(PeerTests, self)

    def setUp(self) -> None:
        PeerTests.setUp(self.peer)
        RECORDS.clear()

    def test_majors_side_by_side_with_an_old_peer(self) -> None:
        """Majors 1 and 2 each reach their handler; the old peer's unversioned messages are version 1."""
        PeerTests.produce(self.peer, self.old)
        producer_graph = fixtures.make_graph(self.stack)
        self.addCleanup(fixtures.close_clients, producer_graph)
        producer = producer_graph.sns_producer
        producer.produce(GREETING, {"message": "hi"})
        producer.produce(GREETING, {"message": "hallo", "language": "de"}, media_type_version=2)
        producer.produce(FOO, {"foo_id": "foo-2", "uri": "http://example.com/api/v1/foo/2"}, media_type_version=2)
        sqs = producer_graph.sqs_client
        sqs.send_message(
            QueueUrl=self.stack.queue_url, MessageBody=json.dumps({"mediaType": GREETING, "message": "?"}),
            MessageAttributes={
                "media_type": {"DataType": "String", "StringValue": GREETING},
                VERSION_ATTRIBUTE: {"DataType": "String", "StringValue": "two"},
            },
        )

        config = fixtures.graph_config(self.stack, pubsub_runner={
            "max_messages": OLD_PEER_MESSAGES + OUR_MESSAGES, "stop_when_idle_seconds": IDLE_SECONDS,
        })
        daemon = VersionedDaemon.create_for_testing(loader=load_from_dict(config))
        self.addCleanup(fixtures.close_clients, daemon.graph)
        daemon.start()
        assert daemon.runner is not None
        daemon.runner.run()

        assert_that(RECORDS, contains_inanyorder(
            contains_exactly("greeting 1", has_entries(message="hello")),  # the old peer's
            contains_exactly("greeting 1", has_entries(message="hi")),
            contains_exactly("greeting 2", has_entries(message="hallo", language="de")),
            # The old peer's, upcast
            contains_exactly("foo 2", has_entries(foo_id="1", uri="http://example.com/api/v1/foo/1")),
            contains_exactly("foo 2", has_entries(foo_id="foo-2")),
        ))
        # Changed and deleted Foo and the batch message have no handler here: ignored, as before
        assert_that(daemon.runner.counts, is_(equal_to({
            Outcome.SUCCEEDED.value: 5, Outcome.IGNORED.value: 3, Outcome.INVALID.value: 1,
        })))
        assert_that(fixtures.queue_counts(sqs, self.stack.queue_url), is_(equal_to((0, 0))))
        assert self.stack.dead_letter_queue_url is not None
        dead = sqs.receive_message(
            QueueUrl=self.stack.dead_letter_queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1,
        )["Messages"]
        assert_that(len(dead), is_(equal_to(1)))
        assert_that(dead[0]["MessageAttributes"]["pubsub_reason"]["StringValue"],
                    contains_string(f"message attribute {VERSION_ATTRIBUTE} is 'two'"))


class TestVersionsWithOld2303(VersionedPeerTests, TestCase):
    old_python = OLD_PYTHON
    variable = "MICROCOSM_PUBSUB_OLD_PYTHON"
    venv = ".venv-old"


class TestVersionsWithOld300(VersionedPeerTests, TestCase):
    old_python = OLD3_PYTHON
    variable = "MICROCOSM_PUBSUB_OLD3_PYTHON"
    venv = ".venv-old3"
