"""The outbox with the rest of the producer, over the local endpoint: signing, tracing and large payloads through S3."""
from __future__ import annotations

import shutil
import tempfile
import unittest
from typing import Any

import boto3
from botocore.config import Config
from hamcrest import all_of, assert_that, empty, equal_to, has_key, has_length, is_, only_contains
from marshmallow import fields

from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.effects import outbox
from microcosm_pubsub.effects.database import create_engine, create_tables
from microcosm_pubsub.effects.outbox import OUTBOX_TABLE
from microcosm_pubsub.middleware.signing import SIGNATURE_ATTRIBUTE
from microcosm_pubsub.middleware.tracing import TRACEPARENT
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.outgoing import MESSAGE_ID_ATTRIBUTE


@schema
class ManifestSchema(PubSubMessageSchema):
    MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.outbox-compose.manifest"

    name = fields.String(required=True)
    text = fields.String(required=True)


MEDIA_TYPE = ManifestSchema.MEDIA_TYPE
SIGNING = {"keys": {"current": "outbox-compose-secret-0123456789"}, "signing_key_id": "current"}
# Over SNS's 256 KiB: its body goes to S3
LARGE_TEXT = "manifest line " * 20_000


class ComposeTests(unittest.TestCase):
    def setUp(self) -> None:
        self.s3 = boto3.client("s3", endpoint_url=fixtures.endpoint().url, region_name="us-east-1",
                               config=Config(proxies={}))
        self.addCleanup(self.s3.close)
        self.bucket = fixtures.unique_name("outbox-payloads")
        self.s3.create_bucket(Bucket=self.bucket)
        directory = tempfile.mkdtemp(prefix="outbox-compose-")
        self.addCleanup(shutil.rmtree, directory, True)
        self.engine = create_engine(f"sqlite:///{directory}/service.db")
        self.addCleanup(self.engine.dispose)
        create_tables(self.engine, [OUTBOX_TABLE])
        self.stack = fixtures.new_stack("outbox-compose", dead_letter=False)
        self.graph = fixtures.make_graph(
            self.stack, sns_producer={"large_payload_bucket": self.bucket},
            pubsub_middleware={"components": ["pubsub_signing", "pubsub_tracing"]},
            pubsub_signing=SIGNING, pubsub_tracing={"opentelemetry": False},
        )
        self.addCleanup(fixtures.close_clients, self.graph)
        self.graph.pubsub_database.use(self.engine)
        self.handled: list[dict[str, Any]] = []
        self.graph.sqs_message_handler_registry.register(MEDIA_TYPE, self.handle)

    def handle(self, message: dict[str, Any]) -> bool:
        self.handled.append(message)
        return True

    def stored(self) -> list[str]:
        return [item["Key"] for item in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])]

    def test_signed_traced_and_large_messages_go_out_as_produced(self) -> None:
        """A large, signed, traced message: its S3 object written by the relay, not in the transaction; the
        consumer verifies the signature, reads the body back from S3 and sees the producer's message id."""
        with self.engine.begin() as connection, outbox.within(connection):
            small_id = self.graph.sns_producer.produce(MEDIA_TYPE, name="small", text="short")
            large_id = self.graph.sns_producer.produce(MEDIA_TYPE, name="large", text=LARGE_TEXT)
        assert_that(self.stored(), is_(empty()))
        relay = self.graph.pubsub_outbox
        self.addCleanup(relay.close)
        relay.drain()
        assert_that(self.stored(), has_length(1))
        received = fixtures.receive(self.graph, 2)
        results = self.graph.sqs_message_dispatcher.handle_batch(received)
        assert_that([result.outcome for result in results], only_contains(Outcome.SUCCEEDED))
        assert_that(sorted(message["name"] for message in self.handled), is_(equal_to(["large", "small"])))
        assert_that(
            [message.opened.attributes for message in received],
            only_contains(all_of(has_key(SIGNATURE_ATTRIBUTE), has_key(TRACEPARENT), has_key(MESSAGE_ID_ATTRIBUTE))),
        )
        assert_that(
            sorted(message.opened.attributes[MESSAGE_ID_ATTRIBUTE] for message in received),
            is_(equal_to(sorted([small_id, large_id]))),
        )
        large = next(message for message in self.handled if message["name"] == "large")
        assert_that(large["text"], is_(equal_to(LARGE_TEXT)))
        assert_that([message.opened.payload_object is not None for message in received], is_(equal_to(
            [message.opened.attributes[MESSAGE_ID_ATTRIBUTE] == large_id for message in received],
        )))
