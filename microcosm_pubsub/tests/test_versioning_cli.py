"""`pubsub schemas` lists every major of a media type; `pubsub publish --media-type-version N` publishes major N.

Run in this process with this module as the schemas module (its schemas are registered here anyway).
"""
from __future__ import annotations

import json
import subprocess
import unittest
from typing import Any

from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    equal_to,
    has_entries,
    has_entry,
    has_item,
    has_key,
    is_,
    is_not,
)
from marshmallow import fields

from microcosm_pubsub.api import PubSubMessageSchema, schema
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.testing import dispatch_sqs_message, testing_graph
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.cli_support import assert_one_line_error, drain, pubsub_in_process
from microcosm_pubsub.wire.outgoing import VERSION_ATTRIBUTE


MODULE = __name__
PREFIX = "application/vnd.microcosm.pubsub._.tests.versioned_cli"
SHIPMENT = f"{PREFIX}.shipment"
# Declared in major 3 only
LATE = f"{PREFIX}.late"


@schema
class ShipmentV1(PubSubMessageSchema):
    MEDIA_TYPE = SHIPMENT

    weight = fields.Integer(required=True)


@schema
class ShipmentV2(PubSubMessageSchema):
    MEDIA_TYPE = SHIPMENT
    VERSION = "2.1"

    grams = fields.Integer(required=True)


@schema
class LateV3(PubSubMessageSchema):
    MEDIA_TYPE = LATE
    VERSION = "3.0"

    text = fields.String(required=True)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    with fixtures.environ(AWS_ENDPOINT_URL=fixtures.endpoint().url, AWS_DEFAULT_REGION="us-east-1"):
        status, stdout, stderr = pubsub_in_process(*args)
    return subprocess.CompletedProcess(["pubsub", *args], status, stdout, stderr)


def name(schema_class: type[Any]) -> str:
    return f"{MODULE}.{schema_class.__qualname__}"


class TestSchemasExport(unittest.TestCase):
    def test_the_catalogue_lists_every_version(self) -> None:
        """`versions` has an entry per media type and version; `mediaTypes` keeps the version-1 entries as they were."""
        result = run("schemas", "--schemas", MODULE)
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        catalogue = json.loads(result.stdout)
        # Exactly the shape from before versions: the schema's name and its JSON Schema
        assert_that(catalogue["mediaTypes"][SHIPMENT], is_(equal_to({
            "schema": name(ShipmentV1), "jsonSchema": catalogue["mediaTypes"][SHIPMENT]["jsonSchema"],
        })))
        assert_that(catalogue["mediaTypes"][SHIPMENT]["jsonSchema"]["required"], has_item("weight"))
        # A media type without a version-1 schema is not among them (their readers take each entry as version 1)
        assert_that(catalogue["mediaTypes"], is_not(has_key(LATE)))
        ours = [entry for entry in catalogue["versions"] if entry["mediaType"].startswith(PREFIX)]
        assert_that([(entry["mediaType"], entry["version"], entry["schema"]) for entry in ours], contains_exactly(
            (LATE, "3.0", name(LateV3)), (SHIPMENT, "1.0", name(ShipmentV1)), (SHIPMENT, "2.1", name(ShipmentV2)),
        ))
        assert_that(ours[2]["jsonSchema"]["required"], has_item("grams"))
        assert_that(ours[2]["jsonSchema"]["properties"]["mediaType"], has_entry("const", SHIPMENT))

    def test_the_text_table_has_a_version_column(self) -> None:
        """--format text prints a row per media type and version."""
        result = run("schemas", "--schemas", MODULE, "--format", "text")
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        lines = result.stdout.splitlines()
        assert_that(lines[0].split(), is_(equal_to(["MEDIA", "TYPE", "VERSION", "SCHEMA"])))
        rows = [line.split() for line in lines[1:] if line.startswith(PREFIX)]
        assert_that(rows, contains_exactly(
            [LATE, "3.0", name(LateV3)], [SHIPMENT, "1.0", name(ShipmentV1)], [SHIPMENT, "2.1", name(ShipmentV2)],
        ))

    def test_one_media_type_with_its_majors(self) -> None:
        """--media-type exports that media type's versions, also when it has no version-1 schema."""
        result = run("schemas", "--schemas", MODULE, "--media-type", SHIPMENT)
        catalogue = json.loads(result.stdout)
        assert_that([entry["version"] for entry in catalogue["versions"]], is_(equal_to(["1.0", "2.1"])))
        assert_that(list(catalogue["mediaTypes"]), is_(equal_to([SHIPMENT])))
        late = json.loads(run("schemas", "--schemas", MODULE, "--media-type", LATE).stdout)
        assert_that(late, has_entries(mediaTypes={}, versions=contains_exactly(has_entries(version="3.0"))))

    def test_an_unknown_media_type_lists_those_of_every_major(self) -> None:
        """The refusal names the registered media types, those declared only in later majors included."""
        result = run("schemas", "--schemas", MODULE, "--media-type", f"{PREFIX}.unknown")
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, LATE)


class TestPublishVersion(unittest.TestCase):
    def setUp(self) -> None:
        self.sqs = fixtures.endpoint().client("sqs")
        self.addCleanup(self.sqs.close)
        self.stack = fixtures.new_stack("cli-versioning", raw=True)

    def publish(self, media_type: str, data: str, *options: str) -> subprocess.CompletedProcess[str]:
        return run("publish", "--topic-arn", self.stack.topic_arn, "--media-type", media_type, "--data", data, *options)

    def received(self) -> dict[str, Any]:
        [message] = drain(self.sqs, self.stack.queue_url)
        return message

    def test_publish_a_major_through_its_schema(self) -> None:
        """--media-type-version 2 validates with the major-2 schema and sends its version; a consumer routes it."""
        result = self.publish(SHIPMENT, '{"grams": 70}', "--schemas", MODULE, "--media-type-version", "2")
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        message = self.received()
        assert_that(json.loads(message["Body"]), has_entries(grams=70, mediaType=SHIPMENT))
        assert_that(message["MessageAttributes"], has_entry(VERSION_ATTRIBUTE, has_entry("StringValue", "2.1")))
        graph = testing_graph()
        calls: list[dict[str, Any]] = []

        def handler(content: dict[str, Any]) -> bool:
            calls.append(content)
            return True

        graph.sqs_message_handler_registry.register(SHIPMENT, handler, version=2)
        assert_that(dispatch_sqs_message(graph, message).outcome, is_(Outcome.SUCCEEDED))
        assert_that(calls, contains_exactly(has_entries(grams=70)))

    def test_data_not_fitting_the_major_is_not_sent(self) -> None:
        """Version-1 data published as major 2 exits 2 naming the major-2 schema; nothing is sent."""
        result = self.publish(SHIPMENT, '{"weight": 3}', "--schemas", MODULE, "--media-type-version", "2")
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, "--data does not fit ShipmentV2")
        assert_that(drain(self.sqs, self.stack.queue_url), is_(equal_to([])))

    def test_an_unknown_major_names_the_registered_ones(self) -> None:
        result = self.publish(SHIPMENT, '{"grams": 1}', "--schemas", MODULE, "--media-type-version", "4")
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, "no schema of major version 4")
        assert_that(result.stderr, contains_string("registered majors: 1, 2"))

    def test_without_a_version_as_produce_does(self) -> None:
        """No version: version 1 (no attribute); a media type declared only in major 3 publishes 3.0."""
        assert_that(self.publish(SHIPMENT, '{"weight": 3}', "--schemas", MODULE).returncode, is_(equal_to(0)))
        assert_that(self.received()["MessageAttributes"], is_not(has_key(VERSION_ATTRIBUTE)))
        assert_that(self.publish(LATE, '{"text": "x"}', "--schemas", MODULE).returncode, is_(equal_to(0)))
        assert_that(self.received()["MessageAttributes"], has_entry(VERSION_ATTRIBUTE, has_entry("StringValue", "3.0")))

    def test_without_schemas_the_version_goes_as_given(self) -> None:
        """Without --schemas nothing is checked: 3 is sent as 3.0, 2.4 as 2.4, and 1 as no attribute."""
        for given, sent in (("3", "3.0"), ("2.4", "2.4"), ("1", None)):
            result = self.publish("a.b.c", '{"x": 1}', "--media-type-version", given)
            assert_that(result.returncode, is_(equal_to(0)), result.stderr)
            attributes = self.received()["MessageAttributes"]
            if sent is None:
                assert_that(attributes, is_not(has_key(VERSION_ATTRIBUTE)))
            else:
                assert_that(attributes, has_entry(VERSION_ATTRIBUTE, has_entry("StringValue", sent)))

    def test_a_malformed_version_is_a_usage_error(self) -> None:
        """A version that is neither a major nor "major.minor" exits 2 before any call, saying what is accepted."""
        for given in ("two", "0", "2.0.1", "v2"):
            result = self.publish("a.b.c", "{}", "--media-type-version", given)
            assert_that(result.returncode, is_(equal_to(2)))
            assert_that(result.stderr, contains_string(f"not a major version (2) or a \"major.minor\" version (2.1): "
                                                       f"{given!r}"))
