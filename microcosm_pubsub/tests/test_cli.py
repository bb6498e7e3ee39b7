"""The `pubsub` console script end to end: help, publish, peek, stats and schemas."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import unittest
from importlib.metadata import version
from typing import Any

import boto3
from hamcrest import (
    assert_that,
    calling,
    contains_inanyorder,
    contains_string,
    equal_to,
    has_entries,
    has_entry,
    has_item,
    has_key,
    is_,
    is_not,
    none,
    raises,
    starts_with,
)
from marshmallow import fields

from microcosm_pubsub.cli import main
from microcosm_pubsub.cli.common import UsageError
from microcosm_pubsub.cli.publish import wire_names
from microcosm_pubsub.cli.queues import check_url_matches_endpoint
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.cli_support import (
    SCHEMAS_MODULE,
    assert_one_line_error,
    drain,
    pubsub,
    pubsub_in_process,
    send,
    visible,
)


SUBCOMMANDS = ["local", "provision", "publish", "peek", "stats", "requeue", "schemas"]
# What cli_schemas registers; spelled out because importing it here would register its schemas in this process
ORDER_CREATED = "application/vnd.acme.pubsub._.created.cli_order"
ORDER_CANCELLED = "application/vnd.acme.pubsub._.cancelled.cli_order"


def in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """`pubsub ARGS` run in this process against the local endpoint: a second less than a console script run.

    Only for runs that import no schemas module (its schemas would be registered in this process).
    """
    with fixtures.environ(AWS_ENDPOINT_URL=fixtures.endpoint().url, AWS_DEFAULT_REGION="us-east-1"):
        status, stdout, stderr = pubsub_in_process(*args)
    return subprocess.CompletedProcess(["pubsub", *args], status, stdout, stderr)


class EndpointTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.sqs = fixtures.endpoint().client("sqs")
        self.addCleanup(self.sqs.close)


class TestHelp(unittest.TestCase):
    def test_help_lists_subcommands_and_exit_codes(self) -> None:
        """`pubsub --help` names every subcommand and documents the exit codes."""
        result = pubsub("--help")
        assert_that(result.returncode, is_(equal_to(0)))
        for name in SUBCOMMANDS:
            assert_that(result.stdout, contains_string(name))
        assert_that(result.stdout, contains_string("exit status"))
        assert_that(result.stdout, contains_string("130"))

    def test_every_subcommand_has_help(self) -> None:
        """Each subcommand's --help exits 0 and ends with the exit codes."""
        for name in SUBCOMMANDS:
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                assert_that(calling(main).with_args([name, "--help"]), raises(SystemExit, "^0$"))
            assert_that(output.getvalue(), contains_string(f"usage: pubsub {name}"))
            assert_that(output.getvalue(), contains_string("exit status"))

    def test_version_is_the_installed_package_version(self) -> None:
        """`pubsub --version` prints the version the package's metadata gives, and exits 0."""
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            assert_that(calling(main).with_args(["--version"]), raises(SystemExit, "^0$"))
        assert_that(output.getvalue().strip(), is_(equal_to(f"pubsub {version('microcosm_pubsub')}")))

    def test_bad_command_line_exits_2(self) -> None:
        """An unknown subcommand is a usage error."""
        result = in_process("frobnicate")
        assert_that(result.returncode, is_(equal_to(2)))


class TestPublish(EndpointTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.stack = fixtures.new_stack("cli-publish", raw=True)

    def test_publish_prints_the_message_id_and_sends_the_wire_format(self) -> None:
        """Without schemas, the data goes out as given, with mediaType, opaqueData and the media_type attribute."""
        result = in_process("publish", "--topic-arn", self.stack.topic_arn, "--media-type", "a.b.c",
                        "--data", '{"orderId": "1"}')
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        [message] = drain(self.sqs, self.stack.queue_url)
        body = json.loads(message["Body"])
        assert_that(body, has_entries(orderId="1", mediaType="a.b.c", opaqueData=has_key("x-request-published")))
        assert_that(message["MessageAttributes"], has_entry("media_type", has_entry("StringValue", "a.b.c")))
        assert_that(result.stdout.strip(), is_not(equal_to("")))

    def test_publish_validates_and_encodes_through_the_schema(self) -> None:
        """With --schemas, valid data is published as the schema dumps it."""
        result = pubsub("publish", "--topic-arn", self.stack.topic_arn, "--media-type", ORDER_CREATED,
                        "--schemas", SCHEMAS_MODULE, "--data", '{"orderId": "7", "quantity": 2}')
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        [message] = drain(self.sqs, self.stack.queue_url)
        assert_that(json.loads(message["Body"]), has_entries(orderId="7", quantity=2, mediaType=ORDER_CREATED))

    def test_data_that_does_not_fit_the_schema_is_not_sent(self) -> None:
        """Schema errors exit 2 naming the fields, and nothing is published."""
        result = pubsub("publish", "--topic-arn", self.stack.topic_arn, "--media-type", ORDER_CREATED,
                        "--schemas", SCHEMAS_MODULE, "--data", '{"orderId": ""}')
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, "quantity")
        assert_that(drain(self.sqs, self.stack.queue_url), is_(equal_to([])))

    def test_invalid_json_data_exits_2(self) -> None:
        """--data that is not JSON is a one-line input error."""
        status, _, stderr = pubsub_in_process(
            "publish", "--topic-arn", self.stack.topic_arn, "--media-type", "a.b", "--data", "{nope"
        )
        assert_that(status, is_(equal_to(2)))
        assert_one_line_error(stderr, "not valid JSON")

    def test_unknown_media_type_with_schemas_exits_2(self) -> None:
        """A media type the schemas module does not register is an input error listing the known ones."""
        result = pubsub("publish", "--topic-arn", self.stack.topic_arn, "--media-type", "application/vnd.x.unknown",
                        "--schemas", SCHEMAS_MODULE, "--data", "{}")
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, ORDER_CANCELLED)

    def test_publish_to_a_missing_topic_says_the_topic_does_not_exist(self) -> None:
        """A topic that does not exist is an operation failure saying so, in one line."""
        result = in_process("publish", "--topic-arn", self.stack.topic_arn + "-missing", "--media-type", "a.b",
                        "--data", "{}")
        assert_that(result.returncode, is_(equal_to(1)))
        assert_one_line_error(result.stderr, f"publishing to {self.stack.topic_arn}-missing: topic does not exist")

    def test_publish_names_the_topic_by_name(self) -> None:
        """TOPIC may be the topic's name, as queues are named in the other subcommands."""
        name = self.stack.topic_arn.rsplit(":", 1)[-1]
        status, stdout, stderr = pubsub_in_process(
            "publish", name, "--media-type", "a.b.c", "--data", '{"orderId": "2"}', *self.endpoint_options(),
        )
        assert_that(status, is_(equal_to(0)), stderr)
        [message] = drain(self.sqs, self.stack.queue_url)
        assert_that(json.loads(message["Body"]), has_entries(orderId="2", mediaType="a.b.c"))
        assert_that(stdout.strip(), is_not(equal_to("")))

    def test_publish_to_a_topic_name_that_does_not_exist_fails_with_1(self) -> None:
        """A topic name the endpoint does not know is an operation failure saying so, and nothing is sent."""
        status, _, stderr = pubsub_in_process(
            "publish", "no-such-topic-here", "--media-type", "a.b", "--data", "{}", *self.endpoint_options(),
        )
        assert_that(status, is_(equal_to(1)))
        assert_one_line_error(stderr, "topic 'no-such-topic-here' does not exist")

    def test_topic_named_twice_or_not_at_all_is_a_usage_error(self) -> None:
        """TOPIC and --topic-arn together, or neither, exit 2 before any call."""
        for topic in ([self.stack.topic_arn, "--topic-arn", self.stack.topic_arn], []):
            status, _, stderr = pubsub_in_process("publish", *topic, "--media-type", "a.b", "--data", "{}")
            assert_that(status, is_(equal_to(2)))
            assert_one_line_error(stderr, "name the topic once")

    def test_data_may_name_fields_as_in_python(self) -> None:
        """With --schemas, --data takes attribute names (order_id) too, and sends them by their wire names."""
        result = pubsub("publish", self.stack.topic_arn, "--media-type", ORDER_CREATED,
                        "--schemas", SCHEMAS_MODULE, "--data", '{"order_id": "8", "quantity": 1}')
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        [message] = drain(self.sqs, self.stack.queue_url)
        body = json.loads(message["Body"])
        assert_that(body, has_entries(orderId="8", quantity=1))
        assert_that(body, is_not(has_key("order_id")))

    def endpoint_options(self) -> list[str]:
        return ["--endpoint-url", fixtures.endpoint().url, "--region", "us-east-1"]

    def test_malformed_topic_arn_is_a_usage_error(self) -> None:
        """--topic-arn that is not a topic ARN exits 2 saying what an ARN looks like, before any call."""
        status, _, stderr = pubsub_in_process(
            "publish", "--topic-arn", "not-an-arn", "--media-type", "a.b", "--data", "{}"
        )
        assert_that(status, is_(equal_to(2)))
        assert_that(stderr, contains_string(
            "argument --topic-arn: not an SNS topic ARN: expected arn:aws:sns:<region>:<account>:<name>"
        ))
        assert_that(stderr, is_not(contains_string("unpack")))


class WireNamedSchema(PubSubMessageSchema):
    """Fields named in Python (`order_id`) and on the wire (`orderId`), both ways marshmallow allows."""

    order_id = fields.String(data_key="orderId")
    placedAt = fields.String(attribute="placed_at")
    quantity = fields.Integer()


class TestDataNames(unittest.TestCase):
    def test_python_names_become_wire_names(self) -> None:
        """--data's attribute names are renamed to the wire's (data_key or field name); wire names stay."""
        renamed = wire_names(WireNamedSchema(), {"order_id": "1", "placed_at": "today", "quantity": 2})
        assert_that(renamed, is_(equal_to({"orderId": "1", "placedAt": "today", "quantity": 2})))
        assert_that(wire_names(WireNamedSchema(), renamed), is_(equal_to(renamed)))

    def test_one_field_under_both_names_is_a_usage_error(self) -> None:
        """A field given as order_id and as orderId is refused, naming both."""
        assert_that(
            calling(wire_names).with_args(WireNamedSchema(), {"orderId": "1", "order_id": "2"}),
            raises(UsageError, "'orderId' twice: as 'orderId' and as 'order_id'"),
        )


class TestPeek(EndpointTestCase):
    def test_peek_shows_messages_and_leaves_them_visible(self) -> None:
        """Peeked messages are shown and visible again at once."""
        stack = fixtures.new_stack("cli-peek")
        for number in range(3):
            send(self.sqs, stack.queue_url, json.dumps({"mediaType": "a.b.c", "n": number}))
        result = in_process("peek", stack.queue_url, "-n", "5")
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        assert_that(result.stdout.count("--- "), is_(equal_to(3)))
        assert_that(result.stdout, contains_string("a.b.c"))
        assert_that(visible(self.sqs, stack.queue_url), is_(equal_to(3)))

    def test_peek_json_gives_media_type_receive_count_and_reason(self) -> None:
        """--json prints one object per message, with the dead-letter reason when there is one."""
        stack = fixtures.new_stack("cli-peek")
        send(self.sqs, stack.queue_url, '{"n": 1}', media_type="a.b.c", pubsub_reason="handler timed out")
        result = in_process("peek", stack.queue_url, "--json")
        [line] = result.stdout.splitlines()
        assert_that(json.loads(line), has_entries(
            media_type="a.b.c", receive_count=1, reason="handler timed out", content={"n": 1},
        ))

    def receive(self, queue_url: str, times: int) -> None:
        """Receive the queue's one message `times` times, as a failing consumer would, leaving it visible."""
        for _ in range(times):
            self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0)

    def test_peek_says_it_counts_as_a_receive_and_warns_of_a_spent_message(self) -> None:
        """A peek that takes a message to maxReceiveCount says so for the message and on stderr."""
        stack = fixtures.new_stack("cli-peek", max_receive_count=3)
        send(self.sqs, stack.queue_url, '{"n": 1}', media_type="a.b.c")
        self.receive(stack.queue_url, 2)
        result = in_process("peek", stack.queue_url)
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        dead_letter = str(stack.dead_letter_queue_url).rsplit("/", 1)[-1]
        assert_that(result.stdout, contains_string("receives=3/3"))
        assert_that(result.stdout, contains_string(
            f"warning: this peek was receive 3 of 3: no consumer will get it again; SQS moves it to {dead_letter}"
        ))
        assert_that(result.stderr, contains_string("peeking counts as a receive"))
        assert_that(result.stderr, contains_string("1 message reached maxReceiveCount 3 with this peek"))

    def test_peek_json_warns_of_the_last_try(self) -> None:
        """--json gives maxReceiveCount and a warning for a message left with one receive."""
        stack = fixtures.new_stack("cli-peek", max_receive_count=3)
        send(self.sqs, stack.queue_url, '{"n": 1}', media_type="a.b.c")
        self.receive(stack.queue_url, 1)
        result = in_process("peek", stack.queue_url, "--json")
        [line] = result.stdout.splitlines()
        assert_that(json.loads(line), has_entries(
            receive_count=2, max_receive_count=3, warning=contains_string("a consumer gets one more try"),
        ))

    def test_peek_refuses_a_queue_with_a_low_max_receive_count_unless_forced(self) -> None:
        """maxReceiveCount 2 is refused with exit 2 and nothing received; --force peeks anyway."""
        stack = fixtures.new_stack("cli-peek", max_receive_count=2)
        send(self.sqs, stack.queue_url, '{"n": 1}', media_type="a.b.c")
        refused = in_process("peek", stack.queue_url)
        assert_that(refused.returncode, is_(equal_to(2)))
        assert_one_line_error(refused.stderr, "pass --force to peek anyway")
        forced = in_process("peek", stack.queue_url, "--force")
        assert_that(forced.returncode, is_(equal_to(0)), forced.stderr)
        assert_that(forced.stdout, contains_string("receives=1/2"))

    def test_peek_refuses_an_aws_url_on_the_local_endpoint(self) -> None:
        """An AWS queue URL is refused (exit 2) rather than read as the local queue of the same name."""
        stack = fixtures.new_stack("cli-peek")
        send(self.sqs, stack.queue_url, '{"n": 1}', media_type="a.b.c")
        name = stack.queue_url.rsplit("/", 1)[-1]
        result = in_process("peek", f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}")
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, "is a queue on AWS, but the endpoint is http://127.0.0.1:")
        assert_that(result.stdout, is_(equal_to("")))

    def test_peek_missing_queue_fails_with_1(self) -> None:
        """A queue that does not exist is reported in one line, without a traceback."""
        result = in_process("peek", fixtures.unique_name("missing"))
        assert_that(result.returncode, is_(equal_to(1)))
        assert_one_line_error(result.stderr, "does not exist")


class TestStats(EndpointTestCase):
    def test_stats_counts_visible_in_flight_and_dead_letters(self) -> None:
        """Each row has the queue's depths and its dead-letter queue's depth; the oldest age is n/a locally."""
        stack = fixtures.new_stack("cli-stats")
        for number in range(3):
            send(self.sqs, stack.queue_url, f'{{"n": {number}}}')
        send(self.sqs, str(stack.dead_letter_queue_url), '{"dead": true}')
        self.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=60)
        result = in_process("stats", stack.queue_url, "--json")
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        [row] = json.loads(result.stdout)
        assert_that(row, has_entries(
            visible=2, in_flight=1, delayed=0, oldest_age_seconds=none(),
            dead_letter_queue=str(stack.dead_letter_queue_url).rsplit("/", 1)[-1], dead_letter_visible=1,
        ))

    def test_stats_table_keeps_going_past_a_missing_queue(self) -> None:
        """A missing queue is reported on stderr and exits 1; the other queues still get their row."""
        stack = fixtures.new_stack("cli-stats")
        missing = fixtures.unique_name("missing")
        result = in_process("stats", stack.queue_url, missing)
        assert_that(result.returncode, is_(equal_to(1)))
        [header, row] = result.stdout.splitlines()
        assert_that(header, starts_with("QUEUE"))
        assert_that(row, contains_string("n/a"))
        assert_one_line_error(result.stderr, missing)


class TestSchemas(unittest.TestCase):
    def test_schemas_exports_every_media_type_with_its_json_schema(self) -> None:
        """The catalogue lists each registered media type, its schema class and a JSON Schema."""
        result = pubsub("schemas", "--schemas", SCHEMAS_MODULE)
        assert_that(result.returncode, is_(equal_to(0)), result.stderr)
        catalogue = json.loads(result.stdout)["mediaTypes"]
        assert_that(list(catalogue), contains_inanyorder(ORDER_CREATED, ORDER_CANCELLED))
        document = catalogue[ORDER_CREATED]["jsonSchema"]
        assert_that(document["required"], has_item("orderId"))
        assert_that(document["properties"]["mediaType"], has_entry("const", ORDER_CREATED))
        assert_that(document["properties"]["extra"], is_(equal_to({})))
        # Every version, here version 1 of each, also listed one entry per media type and version
        versions = json.loads(result.stdout)["versions"]
        assert_that([(entry["mediaType"], entry["version"]) for entry in versions],
                    contains_inanyorder((ORDER_CREATED, "1.0"), (ORDER_CANCELLED, "1.0")))
        assert_that(versions, has_item(has_entries(mediaType=ORDER_CREATED, jsonSchema=document)))

    def test_schemas_text_format_is_a_table(self) -> None:
        """--format text prints media types beside their versions and schema classes."""
        result = pubsub("schemas", "--schemas", SCHEMAS_MODULE, "--format", "text")
        assert_that(result.stdout.splitlines()[0].split(), is_(equal_to(["MEDIA", "TYPE", "VERSION", "SCHEMA"])))
        assert_that(result.stdout, contains_string("OrderCreatedSchema"))
        assert_that([line.split()[1] for line in result.stdout.splitlines()[1:]], is_(equal_to(["1.0", "1.0"])))

    def test_unknown_media_type_exits_2(self) -> None:
        """Asking for a media type the module does not register is an input error."""
        result = pubsub("schemas", "--schemas", SCHEMAS_MODULE, "--media-type", "application/vnd.x.unknown")
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, "no schema for media type")

    def test_unimportable_module_exits_2(self) -> None:
        """A module that cannot be imported is an input error."""
        result = pubsub("schemas", "--schemas", "microcosm_pubsub.tests.no_such_module")
        assert_that(result.returncode, is_(equal_to(2)))
        assert_one_line_error(result.stderr, "cannot import")


class TestQueueUrlEndpoint(unittest.TestCase):
    def aws_client(self) -> Any:
        session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
        client = session.client("sqs")
        self.addCleanup(client.close)
        return client

    def test_local_url_is_refused_when_the_endpoint_is_aws(self) -> None:
        """A local queue URL with no endpoint set is refused, naming the --endpoint-url to pass."""
        assert_that(
            calling(check_url_matches_endpoint).with_args(self.aws_client(), "http://127.0.0.1:4566/123456789012/q"),
            raises(UsageError, "pass --endpoint-url http://127.0.0.1:4566"),
        )

    def test_url_of_another_region_is_refused(self) -> None:
        """An AWS queue URL in another region than the client's is refused, naming the --region to pass."""
        assert_that(
            calling(check_url_matches_endpoint).with_args(
                self.aws_client(), "https://sqs.eu-west-1.amazonaws.com/123456789012/q"
            ),
            raises(UsageError, "pass --region eu-west-1"),
        )

    def test_url_of_the_clients_region_is_accepted(self) -> None:
        """An AWS queue URL in the client's region passes the check."""
        assert_that(
            calling(check_url_matches_endpoint).with_args(
                self.aws_client(), "https://sqs.us-east-1.amazonaws.com/123456789012/q"
            ),
            is_not(raises(UsageError)),
        )
