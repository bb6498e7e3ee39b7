"""`pubsub asyncapi`: AsyncAPI 3.0 documents that the official JSON Schema (vendored, with its bindings) accepts."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import unittest
from functools import cache
from pathlib import Path
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_string,
    empty,
    equal_to,
    has_entries,
    has_key,
    has_length,
    is_,
    is_not,
    raises,
)
from jsonschema import Draft7Validator  # type: ignore[import-untyped]  # (it ships no type hints)
from marshmallow import fields
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from microcosm_pubsub.cli.jsonschema import json_schema
from microcosm_pubsub.cli.stack import parse_stack
from microcosm_pubsub.contracts.asyncapi import ContractError, Message, Service, asyncapi_document, payload_schema
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.tests.cli_support import (
    RUN_TIMEOUT_SECONDS,
    assert_one_line_error,
    pubsub_command,
    pubsub_in_process,
)


DATA = Path(__file__).resolve().parent / "data" / "asyncapi"
ROOT = Path(__file__).resolve().parents[2]
ORDER_CREATED = "application/vnd.acme.pubsub._.created.asyncapi_order"
# examples/sample_service's
INVOICE_CREATED = "application/vnd.globality.pubsub._.created.sample_invoice"
THUMBNAIL = "application/vnd.acme.pubsub._.created.thumbnail"
LEDGER_ENTRY = "application/vnd.acme.pubsub._.created.ledger_entry"
# A schemas module the command-line tests write out and import in a process of their own (this one's registry stays
# as it is): two majors of a media type
LEDGER_MODULE = f'''
from marshmallow import fields
from microcosm_pubsub.api import PubSubMessageSchema, schema

@schema
class EntrySchema(PubSubMessageSchema):
    """An entry of the ledger."""

    MEDIA_TYPE = "{LEDGER_ENTRY}"
    amount = fields.Integer(required=True)

@schema
class EntryV2Schema(PubSubMessageSchema):
    MEDIA_TYPE = "{LEDGER_ENTRY}"
    VERSION = "2.0"
    amount = fields.Integer(required=True)
    currency = fields.String(required=True)
'''

# A FIFO topic and queue, a queue that is a destination, filters exact and by prefix, a raw delivery
FIFO_STACK = {
    "topics": ["orders", "ledger.fifo"],
    "queues": [
        {"name": "billing", "visibilityTimeout": 60, "deadLetter": {"name": "billing-dlq", "maxReceiveCount": 5}},
        {"name": "audit", "deadLetter": False},
        {"name": "books.fifo"},
        {"name": "thumbnails", "mediaTypes": [THUMBNAIL]},
    ],
    "subscriptions": [
        {"topic": "orders", "queue": "billing", "mediaTypes": [ORDER_CREATED]},
        {"topic": "orders", "queue": "audit", "raw": True, "mediaTypes": ["application/vnd.acme.pubsub._.cancelled.*"]},
        {"topic": "ledger.fifo", "queue": "books.fifo"},
    ],
}


# The builder's tests hand it these schemas themselves: none is declared with @schema, so the suite's registry
# stays as it is
class OrderCreatedSchema(PubSubMessageSchema):
    """An order was placed."""

    MEDIA_TYPE = ORDER_CREATED

    order_id = fields.String(data_key="orderId", required=True)
    quantity = fields.Integer(required=True)


class ThumbnailSchema(PubSubMessageSchema):
    """A thumbnail to make."""

    MEDIA_TYPE = THUMBNAIL

    url = fields.Url(required=True)


class LedgerEntrySchema(PubSubMessageSchema):
    MEDIA_TYPE = LEDGER_ENTRY

    amount = fields.Integer(required=True)
    pair = fields.Tuple((fields.String(), fields.Integer()))


class LedgerEntryV2Schema(LedgerEntrySchema):
    VERSION = "2.1"

    currency = fields.String(required=True)


def message(schema_class: type[PubSubMessageSchema], version: str = "1.0") -> Message:
    media_type = str(schema_class.MEDIA_TYPE)
    return Message(media_type, version, json_schema(schema_class(), media_type), schema_class.__qualname__)


MESSAGES = [
    message(OrderCreatedSchema), message(ThumbnailSchema), message(LedgerEntrySchema),
    message(LedgerEntryV2Schema, "2.1"),
]
SERVICE = Service("orders", "1.4.0")


def fifo_document(**service: Any) -> dict[str, Any]:
    return asyncapi_document(Service("orders", "1.4.0", **service), MESSAGES, parse_stack(FIFO_STACK))


@cache
def validator() -> Draft7Validator:
    """AsyncAPI 3.0.0's own schema (draft 07), its bundled definitions found by their `$id`s."""
    path = DATA / "asyncapi-3.0.0.json"
    if not path.is_file():
        raise unittest.SkipTest(f"{path} is not installed (the repository has it)")
    schema = json.loads(path.read_text(encoding="utf-8"))
    # Crawled, the bundle's definitions are found by their `$id`s; the validator adds JSON Schema's own meta-schemas
    registry = (Resource.from_contents(schema, default_specification=DRAFT7) @ Registry()).crawl()
    validator: Draft7Validator = Draft7Validator(schema, registry=registry)
    return validator


def problems(document: Any) -> list[str]:
    """Where the document breaks the AsyncAPI 3.0.0 schema (the deepest cause of each), empty when it is valid."""
    found = []
    for error in validator().iter_errors(document):
        # A oneOf or if/then failure says little; its innermost error says which keyword failed
        while error.context:
            error = min(error.context, key=lambda inner: len(inner.relative_path))
        found.append(f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}")
    return found


def dangling(document: Any) -> list[str]:
    """The document's local `$ref`s that point at nothing (a JSON Schema cannot check those)."""
    found: list[str] = []

    def resolve(pointer: str) -> bool:
        node: Any = document
        for part in pointer.removeprefix("#/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/") and not resolve(reference):
                found.append(reference)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found


def run_pubsub(*args: str, cwd: Path, hash_seed: str = "0") -> subprocess.CompletedProcess[str]:
    """`pubsub` in a fresh process, so the registry holds what the module declares and nothing of this suite's."""
    environ = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run([*pubsub_command(), *args], cwd=cwd, capture_output=True, text=True, env=environ,
                          timeout=RUN_TIMEOUT_SECONDS, check=False)


def messages_by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in document["components"]["messages"].values()}


def resolved(document: dict[str, Any], reference: str) -> Any:
    node: Any = document
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


class TestTheValidatorValidates(unittest.TestCase):
    """A validator that accepted everything would make every other test here pass: it must refuse these."""

    def test_a_document_broken_in_the_document_or_a_binding_fails(self) -> None:
        """An unknown action, a misspelt FIFO ordering, an SQS limit, a filter policy SNS's binding refuses."""
        document = fifo_document()
        assert_that(problems(document), is_(empty()))
        breaks = {
            "action": lambda doc: doc["operations"]["send.topic.orders"].update(action="publish"),
            "ordering": lambda doc: doc["channels"]["topic.ledger.fifo"]["bindings"]["sns"]["ordering"].update(
                type="fifo"),
            "visibility": lambda doc: doc["channels"]["queue.billing"]["bindings"]["sqs"]["queue"].update(
                visibilityTimeout=50_000),
            "filter": lambda doc: doc["operations"]["send.topic.orders"]["bindings"]["sns"]["consumers"][0].update(
                filterPolicy={"media_type": [{"prefix": "application/"}]}),
            "version": lambda doc: doc.update(asyncapi="3.0"),
        }
        for name, damage in breaks.items():
            broken = copy.deepcopy(document)
            damage(broken)
            assert_that(problems(broken), is_not(empty()), name)


class TestSampleService(unittest.TestCase):
    """examples/sample_service's schemas on a stack written here (the sample has none of its own)."""

    stack = {
        "topics": ["orders", "invoices"],
        "queues": [{"name": "sample_service", "deadLetter": {"maxReceiveCount": 4}}],
        "subscriptions": [{"topic": "orders", "queue": "sample_service"}],
    }
    documents: list[str]

    @classmethod
    def setUpClass(cls) -> None:
        if not (ROOT / "examples" / "sample_service" / "schemas.py").is_file():
            raise unittest.SkipTest("the examples are in the repository, not in the installed package")
        folder = tempfile.TemporaryDirectory(prefix="asyncapi-")
        cls.addClassCleanup(folder.cleanup)
        stack = Path(folder.name) / "stack.json"
        stack.write_text(json.dumps(cls.stack), encoding="utf-8")
        cls.documents = []
        # Two hash seeds: no set or dict order leaks into the document
        for seed in ("1", "2"):
            result = run_pubsub("asyncapi", "--schemas", "examples.sample_service.schemas", "--stack", str(stack),
                                "--publishes", f"invoices={INVOICE_CREATED}", "--title", "Sample service",
                                "--api-version", "2.3.0",
                                "--description", "Bills orders.", cwd=ROOT, hash_seed=seed)
            assert result.returncode == 0, result.stderr
            cls.documents.append(result.stdout)

    def document(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.documents[0])
        return result

    def test_the_document_is_valid_asyncapi_3(self) -> None:
        """AsyncAPI 3.0.0's JSON Schema accepts it, and every `$ref` in it points at something."""
        document = self.document()
        assert_that(document["asyncapi"], is_(equal_to("3.0.0")))
        assert_that(document["info"], is_(equal_to({"title": "Sample service", "version": "2.3.0",
                                                    "description": "Bills orders."})))
        assert_that(problems(document), is_(empty()))
        assert_that(dangling(document), is_(empty()))

    def test_output_is_the_same_every_run(self) -> None:
        """Byte for byte, whatever the process's hash seed."""
        assert_that(self.documents[1], is_(equal_to(self.documents[0])))

    def test_each_registered_media_type_is_a_message_with_its_payload_schema(self) -> None:
        """Each schema of the module is a message: its media type, version, content type and body schema."""
        from examples.sample_service.schemas import InvoiceCreatedSchema, OrderCreatedSchema

        document = self.document()
        by_name = messages_by_name(document)
        for schema_class in (OrderCreatedSchema, InvoiceCreatedSchema):
            media_type = str(schema_class.MEDIA_TYPE)
            assert_that(by_name, has_key(media_type))
            item = by_name[media_type]
            assert_that(item, has_entries(contentType="application/json", title=schema_class.__name__,
                                          **{"x-pubsub-media-type": media_type, "x-pubsub-version": "1.0"}))
            assert_that(resolved(document, item["payload"]["$ref"]),
                        is_(equal_to(payload_schema(json_schema(schema_class(), media_type)))))
        assert_that(sorted(by_name), is_(equal_to(sorted([OrderCreatedSchema.MEDIA_TYPE,
                                                          InvoiceCreatedSchema.MEDIA_TYPE]))))

    def test_the_service_sends_to_its_topic_and_receives_from_its_queue(self) -> None:
        """--publishes names the topic and media type sent; the stack's queue is received from, with its redrive
        policy."""
        document = self.document()
        invoice = next(key for key, item in document["components"]["messages"].items()
                       if item["name"] == INVOICE_CREATED)
        assert_that(document["operations"]["send.topic.invoices"]["messages"], is_(equal_to([
            {"$ref": f"#/channels/topic.invoices/messages/{invoice}"}])))
        assert_that(sorted(document["operations"]), is_(equal_to(["receive.queue.sample_service",
                                                                  "send.topic.invoices"])))
        assert_that(document["operations"]["receive.queue.sample_service"], has_entries(
            action="receive", channel={"$ref": "#/channels/queue.sample_service"}))
        queue = document["channels"]["queue.sample_service"]["bindings"]["sqs"]["queue"]
        assert_that(queue["redrivePolicy"], is_(equal_to({"deadLetterQueue": {"name": "sample_service-dlq"},
                                                          "maxReceiveCount": 4})))


class TestStackBindings(unittest.TestCase):
    """What the stack file says, where AsyncAPI's SNS and SQS bindings say it."""

    def test_the_document_is_valid_asyncapi_3(self) -> None:
        """FIFO topic and queue, a destination queue, prefix filters: still what AsyncAPI 3.0.0 accepts."""
        document = fifo_document()
        assert_that(problems(document), is_(empty()))
        assert_that(dangling(document), is_(empty()))

    def test_a_fifo_topics_binding_says_fifo(self) -> None:
        """A `.fifo` topic is FIFO with content-based deduplication, as provisioning makes it; others standard."""
        channels = fifo_document()["channels"]
        assert_that(channels["topic.ledger.fifo"]["bindings"]["sns"], has_entries(
            name="ledger.fifo", ordering={"type": "FIFO", "contentBasedDeduplication": True}))
        assert_that(channels["topic.orders"]["bindings"]["sns"]["ordering"], is_(equal_to({"type": "standard"})))
        binding = channels["queue.books.fifo"]["bindings"]["sqs"]
        assert_that(binding["queue"], has_entries(name="books.fifo", fifoQueue=True))
        assert_that(binding["deadLetterQueue"], has_entries(name="books-dlq.fifo", fifoQueue=True))

    def test_a_queues_sqs_binding_carries_its_redrive_policy(self) -> None:
        """Visibility timeout, delay, the dead-letter queue and maxReceiveCount; none for `deadLetter: false`."""
        channels = fifo_document()["channels"]
        binding = channels["queue.billing"]["bindings"]["sqs"]
        assert_that(binding["queue"], has_entries(
            name="billing", fifoQueue=False, visibilityTimeout=60, deliveryDelay=0,
            redrivePolicy={"deadLetterQueue": {"name": "billing-dlq"}, "maxReceiveCount": 5},
        ))
        assert_that(binding["deadLetterQueue"], has_entries(name="billing-dlq", messageRetentionPeriod=1_209_600))
        assert_that(channels["queue.audit"]["bindings"]["sqs"]["queue"], is_not(has_key("redrivePolicy")))
        assert_that(channels["queue.audit"]["bindings"]["sqs"], is_not(has_key("deadLetterQueue")))

    def test_subscriptions_are_the_topics_consumers_with_their_filter_policy(self) -> None:
        """The SNS binding of the send to a topic lists each subscribed queue: raw delivery and the SNS filter
        policy provisioning sets (a prefix match, which the binding's schema cannot hold, in `x-filterPolicy`);
        the SQS binding beside it defines the queues and dead-letter queues those consumers name."""
        bindings = fifo_document()["operations"]["send.topic.orders"]["bindings"]
        billing, audit = bindings["sns"]["consumers"]
        assert_that(billing, is_(equal_to({
            "protocol": "sqs", "endpoint": {"name": "billing"}, "rawMessageDelivery": False,
            "filterPolicy": {"media_type": [ORDER_CREATED]}, "filterPolicyScope": "MessageAttributes",
        })))
        assert_that(audit, has_entries(
            endpoint={"name": "audit"}, rawMessageDelivery=True,
            **{"x-filterPolicy": {"media_type": [{"prefix": "application/vnd.acme.pubsub._.cancelled."}]}},
        ))
        assert_that([queue["name"] for queue in bindings["sqs"]["queues"]],
                    contains_exactly("billing", "audit", "billing-dlq"))

    def test_queues_carry_what_their_filters_let_through(self) -> None:
        """A filtered queue's channel has the messages its filter admits; an unfiltered one every topic message."""
        document = fifo_document()
        names = {key: item["name"] for key, item in document["components"]["messages"].items()}
        carried = {name: [names[key] for key in channel["messages"]] for name, channel in document["channels"].items()}
        assert_that(carried["queue.billing"], is_(equal_to([ORDER_CREATED])))
        assert_that(carried["queue.audit"], is_(empty()))  # no cancelled schema among these messages
        # Every message on the topic but the one sent straight to a queue, in the order of media type and version
        assert_that(carried["queue.books.fifo"], is_(equal_to([ORDER_CREATED, LEDGER_ENTRY, LEDGER_ENTRY])))
        assert_that(carried["topic.ledger.fifo"], is_(equal_to(carried["queue.books.fifo"])))

    def test_a_destination_queue_is_sent_to_and_its_media_types_skip_the_topics(self) -> None:
        """A media type a queue lists is sent straight to it: a send to that queue, and on no topic's channel."""
        document = fifo_document()
        key = next(key for key, item in document["components"]["messages"].items() if item["name"] == THUMBNAIL)
        assert_that(document["operations"]["send.queue.thumbnails"], has_entries(
            action="send", messages=[{"$ref": f"#/channels/queue.thumbnails/messages/{key}"}]))
        assert_that(document["channels"]["topic.orders"]["messages"], is_not(has_key(key)))
        assert_that(document["operations"]["receive.queue.thumbnails"]["action"], is_(equal_to("receive")))

    def test_one_message_per_media_type_and_version(self) -> None:
        """Two versions of a media type are two messages, each with its own payload."""
        document = fifo_document()
        ledger = [item for item in document["components"]["messages"].values() if item["name"] == LEDGER_ENTRY]
        assert_that([item["x-pubsub-version"] for item in ledger], is_(equal_to(["1.0", "2.1"])))
        payloads = [resolved(document, item["payload"]["$ref"]) for item in ledger]
        assert_that(payloads[0]["properties"], is_not(has_key("currency")))
        assert_that(payloads[1]["properties"], has_key("currency"))
        # The tuple field in draft 07's form, which AsyncAPI's Schema Object is a superset of
        assert_that(payloads[0]["properties"]["pair"], has_entries(items=[{"type": "string"}, {"type": "integer"}],
                                                                   maxItems=2))
        assert_that(payloads[0], is_not(has_key("$schema")))

    def test_publishes_and_consumes_choose_the_operations(self) -> None:
        """--publishes and --consumes narrow the sends to topics and the receives; queue destinations stay sent to."""
        operations = fifo_document(publishes={"ledger.fifo": ()}, consumes=("billing",))["operations"]
        assert_that(sorted(operations), is_(equal_to([
            "receive.queue.billing", "send.queue.thumbnails", "send.topic.ledger.fifo",
        ])))
        assert_that(operations["send.topic.ledger.fifo"]["messages"], has_length(3))

    def test_the_media_types_published_to_a_topic_are_its_sends(self) -> None:
        """Media types named for a topic (exact or `prefix.*`) are what the send lists; the channel keeps them all."""
        document = fifo_document(publishes={"orders": (ORDER_CREATED,), "ledger.fifo": ("application/vnd.acme.*",)})
        names = {key: item["name"] for key, item in document["components"]["messages"].items()}
        sent = {
            key: [names[reference["$ref"].rsplit("/", 1)[-1]] for reference in operation["messages"]]
            for key, operation in document["operations"].items() if key.startswith("send.topic.")
        }
        assert_that(sent, is_(equal_to({
            "send.topic.orders": [ORDER_CREATED],
            "send.topic.ledger.fifo": [ORDER_CREATED, LEDGER_ENTRY, LEDGER_ENTRY],
        })))
        assert_that(document["channels"]["topic.orders"]["messages"], has_length(3))
        assert_that(problems(document), is_(empty()))

    def test_a_media_type_the_stack_names_without_a_schema_is_kept(self) -> None:
        """A destination media type no schema is registered for is a message without payload, not dropped."""
        document = asyncapi_document(SERVICE, [message(OrderCreatedSchema)], parse_stack(FIFO_STACK))
        item = messages_by_name(document)[THUMBNAIL]
        assert_that(item, is_not(has_key("payload")))
        assert_that(item["description"], contains_string("No schema is registered"))
        assert_that(problems(document), is_(empty()))

    def test_what_cannot_make_one_document_is_refused(self) -> None:
        """A media type and version given twice, a topic to publish the stack lacks, a media type published to a
        topic that has no schema or that the stack sends straight to a queue: ContractError."""
        stack = parse_stack(FIFO_STACK)
        assert_that(calling(asyncapi_document).with_args(SERVICE, [*MESSAGES, MESSAGES[0]], stack),
                    raises(ContractError, f"media type '{ORDER_CREATED}' version '1.0' is given twice"))
        assert_that(calling(asyncapi_document).with_args(Service("x", "1", publishes={"order": ()}), MESSAGES, stack),
                    raises(ContractError, "topic 'order' is published but the stack declares no such topic"))
        unknown = Service("x", "1", publishes={"orders": ("application/vnd.acme.pubsub._.created.nothing",)})
        assert_that(calling(asyncapi_document).with_args(unknown, MESSAGES, stack), raises(
            ContractError, "media type 'application/vnd.acme.pubsub._.created.nothing' is published to topic "
            "'orders' but no schema is registered for it"))
        destination = Service("x", "1", publishes={"orders": (THUMBNAIL,)})
        assert_that(calling(asyncapi_document).with_args(destination, MESSAGES, stack), raises(
            ContractError, f"media type '{THUMBNAIL}' is published to topic 'orders' but the stack sends it straight "
            "to a queue"))


class TestCommandLine(unittest.TestCase):
    """The command run as a user runs it, in a folder holding a stack file and a schemas module."""

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="asyncapi-")
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)
        self.stack = self.folder / "stack.json"
        self.stack.write_text(json.dumps(FIFO_STACK), encoding="utf-8")
        (self.folder / "ledger_schemas.py").write_text(LEDGER_MODULE, encoding="utf-8")

    def test_versioned_schemas_of_a_module_become_messages(self) -> None:
        """Two majors of a media type: two messages, in a valid document written to --output."""
        result = run_pubsub("asyncapi", "--schemas", "ledger_schemas", "--stack", str(self.stack),
                            "--output", "asyncapi.json", cwd=self.folder)
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        assert_that(result.stdout, is_(equal_to("wrote asyncapi.json: 4 messages, 6 channels, 7 operations\n")))
        # The stack's destination and a filter name media types this module has no schema for: said, not dropped
        assert_that(result.stderr.splitlines(), contains_exactly(*(
            f"pubsub asyncapi: warning: the stack names media type {media_type} but ledger_schemas registers no "
            "schema for it: its message has no payload" for media_type in (ORDER_CREATED, THUMBNAIL)
        )))
        document = json.loads((self.folder / "asyncapi.json").read_text(encoding="utf-8"))
        assert_that(problems(document), is_(empty()))
        assert_that(dangling(document), is_(empty()))
        ledger = [item for item in document["components"]["messages"].values() if item["name"] == LEDGER_ENTRY]
        assert_that([(item["x-pubsub-version"], item["x-pubsub-schema"]) for item in ledger], contains_exactly(
            ("1.0", "ledger_schemas.EntrySchema"), ("2.0", "ledger_schemas.EntryV2Schema"),
        ))
        assert_that(ledger[0], has_entries(title="EntrySchema", summary="An entry of the ledger."))

    def test_an_unwritable_output_is_an_input_error(self) -> None:
        """An --output that cannot be written is exit 2, its error line naming it."""
        result = run_pubsub("asyncapi", "--schemas", "ledger_schemas", "--stack", str(self.stack),
                            "--output", "no/such/asyncapi.json", cwd=self.folder)
        assert_that(result.returncode, is_(equal_to(2)))
        # After the warnings about the stack's media types without a schema
        assert_that(result.stderr.splitlines()[-1], is_(equal_to(
            "pubsub asyncapi: error: cannot write no/such/asyncapi.json: No such file or directory")))
        assert_that(result.stderr, is_not(contains_string("Traceback")))

    def test_a_module_that_fails_to_import_is_one_line_exit_2(self) -> None:
        """An exception inside the module, a module that does not exist, one that declares no schema: each a
        one-line input error."""
        (self.folder / "broken_schemas.py").write_text("raise RuntimeError('no database in this shell')\n")
        result = run_pubsub("asyncapi", "--schemas", "broken_schemas", "--stack", str(self.stack), cwd=self.folder)
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, "importing schemas module 'broken_schemas' failed: RuntimeError: "
                                             "no database in this shell")
        status, _, stderr = pubsub_in_process("asyncapi", "--schemas", "microcosm_pubsub.tests.no_such_module",
                                              "--stack", str(self.stack))
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(stderr, "cannot import schemas module 'microcosm_pubsub.tests.no_such_module'")
        (self.folder / "empty_schemas.py").write_text('"""Declares nothing."""\n')
        result = run_pubsub("asyncapi", "--schemas", "empty_schemas", "--stack", str(self.stack), cwd=self.folder)
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, "empty_schemas registers no schemas (decorate them with @schema")

    def test_a_bad_stack_file_says_each_problem(self) -> None:
        """A stack file's problems, one line each naming the file and the field; nothing on stdout."""
        self.stack.write_text(json.dumps({
            "topics": ["orders"], "queues": [{"name": "billing", "visibilityTimeout": -1}],
            "subscriptions": [{"topic": "order", "queue": "billing"}],
        }), encoding="utf-8")
        # The stack is read first: the module is never imported
        status, out, stderr = pubsub_in_process("asyncapi", "--schemas", "no_such_module", "--stack", str(self.stack))
        assert_that(status, is_(equal_to(2)))
        assert_that(out, is_(equal_to("")))
        assert_that(stderr.splitlines(), contains_exactly(
            f"pubsub asyncapi: error: {self.stack}: queues[0].visibilityTimeout: must be an integer from 0 to "
            "43200, not -1",
            f"pubsub asyncapi: error: {self.stack}: subscriptions[0].topic: 'order' is not declared in topics",
        ))
        status, _, stderr = pubsub_in_process("asyncapi", "--schemas", "no_such_module",
                                              "--stack", str(self.folder / "missing.json"))
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(stderr, f"cannot read stack file {self.folder / 'missing.json'}")

    def test_a_topic_or_queue_the_stack_lacks_is_refused(self) -> None:
        """--publishes and --consumes must name what the stack declares (checked before the module is imported)."""
        status, _, stderr = pubsub_in_process("asyncapi", "--schemas", "no_such_module", "--stack", str(self.stack),
                                              "--publishes", "order", "--consumes", "billing", "--consumes", "bill")
        assert_that(status, is_(equal_to(2)))
        assert_that(stderr.splitlines(), contains_exactly(
            f"pubsub asyncapi: error: {self.stack}: --publishes order: the stack declares no topic 'order'",
            f"pubsub asyncapi: error: {self.stack}: --consumes bill: the stack declares no queue 'bill'",
        ))
        status, _, stderr = pubsub_in_process("asyncapi", "--schemas", "no_such_module", "--stack", str(self.stack),
                                              "--publishes", "orders=")
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(stderr, "--publishes orders=: list media types after '='")
