"""Structured logs: one record per outcome with every field, the JSON formatter, log switches, redaction."""
from __future__ import annotations

import json
import logging
import sys
import time
import unittest
from typing import Any

from hamcrest import (
    all_of,
    assert_that,
    calling,
    contains_string,
    empty,
    equal_to,
    greater_than_or_equal_to,
    has_entries,
    has_key,
    has_length,
    instance_of,
    is_,
    is_not,
    none,
    raises,
)
from marshmallow import fields
from microcosm.api import load_from_dict

from microcosm_pubsub.consume.logs import (
    MESSAGE_LOGGER,
    REDACTED,
    JsonFormatter,
    configure_daemon_logging,
    log_configuration,
    log_outcome,
    redact,
    seconds_since_published,
)
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import Action, MessageHandlingResult, Outcome
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.codecs import PUBLISHED_KEY, PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError


PREFIX = "application/vnd.microcosm.pubsub._.tests.logs"
SENTINEL = "sentinel-9f3c1e-do-not-log"
# Every field an operator reads off a per-message record
FIELDS = (
    "media_type", "message_id", "outcome", "action", "reason", "receive_count", "handler", "elapsed_ms",
    "since_published_ms",
)


@schema
class NoteSchema(PubSubMessageSchema):
    MEDIA_TYPE = f"{PREFIX}.note"

    text = fields.String(required=True)


def note_handler(message: dict[str, Any]) -> bool:
    return True


class Capture(logging.Handler):
    """Keeps the records it is given, without changing any logger's level (assertLogs would)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def restore_level(name: str) -> None:
    logging.getLogger(name).setLevel(logging.NOTSET)


class OutcomeRecordTestCase(unittest.TestCase):
    """A message produced and consumed on the local endpoint."""

    def given(self, **overrides: Any) -> Any:
        self.graph = fixtures.make_graph(fixtures.new_stack("logs"), **overrides)
        self.addCleanup(fixtures.close_clients, self.graph)
        self.graph.sqs_message_handler_registry.register(NoteSchema.MEDIA_TYPE, note_handler)
        return self.graph

    def test_record_carries_every_field(self) -> None:
        """The outcome record's `pubsub` fields name the message, its outcome, handler and timings."""
        graph = self.given()
        message_id = graph.sns_producer.produce(NoteSchema.MEDIA_TYPE, text="hello")
        with self.assertLogs(MESSAGE_LOGGER, logging.INFO) as captured:
            graph.sqs_message_dispatcher.handle_batch(fixtures.receive(graph))
        assert_that(captured.records, has_length(1))
        assert_that(vars(captured.records[0])["pubsub"], has_entries(
            media_type=NoteSchema.MEDIA_TYPE,
            message_id=message_id,
            outcome="succeeded",
            action="delete",
            reason=none(),
            receive_count=1,
            handler=contains_string("note_handler"),
            elapsed_ms=greater_than_or_equal_to(0),
            since_published_ms=greater_than_or_equal_to(0),
        ))

    def test_record_names_where_it_was_logged(self) -> None:
        """The outcome record names the function that logged it, as a `logger.log` call there would."""
        result = MessageHandlingResult(SQSMessage(None, {}, NoteSchema.MEDIA_TYPE, "m-1", "h-1"), Outcome.SUCCEEDED)

        def settle_here() -> None:
            log_outcome(logging.getLogger(MESSAGE_LOGGER), result, Action.DELETE)

        with self.assertLogs(MESSAGE_LOGGER, logging.INFO) as captured:
            settle_here()
        record = captured.records[0]
        assert_that((record.module, record.funcName), is_(equal_to(("test_logs", "settle_here"))))

    def test_json_line_has_the_fields_at_the_top_level(self) -> None:
        """The JSON formatter turns the outcome record into one object with every field at its top level."""
        graph = self.given()
        graph.sns_producer.produce(NoteSchema.MEDIA_TYPE, text="hello")
        with self.assertLogs(MESSAGE_LOGGER, logging.INFO) as captured:
            graph.sqs_message_dispatcher.handle_batch(fixtures.receive(graph))
        document = json.loads(JsonFormatter().format(captured.records[0]))
        assert_that(document, all_of(
            *(has_key(name) for name in FIELDS),
            has_entries(level="INFO", logger=MESSAGE_LOGGER, outcome="succeeded", message=contains_string("SUCCEEDED")),
        ))

    def test_message_level_drops_success_lines_but_keeps_counts(self) -> None:
        """`logging.message_level=warning` silences per-message INFO lines; the metrics still count them."""
        graph = self.given(logging={"message_level": "warning"}, pubsub_middleware={"components": ["pubsub_metrics"]})
        # The package's loggers at INFO, as a daemon runs them: only message_level can silence the line
        logging.getLogger("microcosm_pubsub").setLevel(logging.INFO)
        self.addCleanup(restore_level, "microcosm_pubsub")
        self.addCleanup(restore_level, MESSAGE_LOGGER)
        configure_daemon_logging(graph, handlers=[])
        captured = Capture()
        logging.getLogger(MESSAGE_LOGGER).addHandler(captured)
        self.addCleanup(logging.getLogger(MESSAGE_LOGGER).removeHandler, captured)
        graph.sns_producer.produce(NoteSchema.MEDIA_TYPE, text="quiet")
        graph.sqs_message_dispatcher.handle_batch(fixtures.receive(graph))
        assert_that(captured.records, is_(empty()))
        assert_that(graph.pubsub_metrics.sink.count("messages_handled", outcome="succeeded"), is_(equal_to(1)))


class JsonFormatterTestCase(unittest.TestCase):
    def record(self, exc_info: Any = None) -> logging.LogRecord:
        return logging.LogRecord("some.logger", logging.WARNING, __file__, 1, "hello %s", ("world",), exc_info)

    def test_plain_record_is_one_json_object(self) -> None:
        """A record without pubsub fields still becomes time, level, logger and message."""
        document = json.loads(JsonFormatter().format(self.record()))
        assert_that(document, has_entries(level="WARNING", logger="some.logger", message="hello world"))

    def test_exception_is_included(self) -> None:
        """A record with exc_info carries the formatted traceback."""
        try:
            raise ValueError("broken on purpose")
        except ValueError:
            record = self.record(exc_info=sys.exc_info())
        document = json.loads(JsonFormatter().format(record))
        assert_that(document["exception"], contains_string("broken on purpose"))


class LogSwitchTestCase(unittest.TestCase):
    def graph(self, **config: Any) -> Any:
        return fixtures.make_graph(**config)

    def test_config_format_json_sets_the_json_formatter(self) -> None:
        """`<NAME>__LOGGING__FORMAT=json` (config logging.format) gives the handlers the JSON formatter."""
        handler = logging.NullHandler()
        configure_daemon_logging(self.graph(logging={"format": "json"}), handlers=[handler])
        assert_that(handler.formatter, is_(instance_of(JsonFormatter)))

    def test_command_line_wins_over_config(self) -> None:
        """`--log-format text` overrides logging.format=json."""
        handler = logging.NullHandler()
        configure_daemon_logging(self.graph(logging={"format": "json"}), "text", handlers=[handler])
        assert_that(handler.formatter, is_not(instance_of(JsonFormatter)))

    def test_unknown_format_is_a_configuration_error(self) -> None:
        """A format other than text or json stops the daemon with a ConfigurationError."""
        graph = self.graph(logging={"format": "xml"})
        assert_that(calling(configure_daemon_logging).with_args(graph, handlers=[]), raises(ConfigurationError))

    def test_daemon_accepts_log_format(self) -> None:
        """The daemon's command line takes `--log-format json`."""
        args = ConsumerDaemon().parse_args(["--log-format", "json"])
        assert_that(args.log_format, is_(equal_to("json")))


class RedactionTestCase(unittest.TestCase):
    def test_secret_keys_are_redacted(self) -> None:
        """Values under secret, password, token, key and credential keys become ***, however deep."""
        config = {
            "db": {"password": SENTINEL, "host": "db.local"},
            "signing": {"secret_key": SENTINEL, "keys": {"one": SENTINEL}},
            "auth": [{"api_token": SENTINEL}],
            "credentials": SENTINEL,
        }
        text = json.dumps(redact(config))
        assert_that(text, is_not(contains_string(SENTINEL)))
        assert_that(redact(config)["db"], has_entries(password=REDACTED, host="db.local"))

    def test_credentials_inside_urls_are_redacted(self) -> None:
        """user:password@ in a URL value is replaced, the rest of the URL kept."""
        redacted = redact({"proxy": f"http://user:{SENTINEL}@proxy.local:3128"})
        assert_that(redacted["proxy"], is_(equal_to(f"http://{REDACTED}@proxy.local:3128")))

    def test_propagated_keys_stay_readable(self) -> None:
        """`sqs_message_context.propagated_keys` names headers, not secrets: it is kept."""
        redacted = redact({"sqs_message_context": {"propagated_keys": ["x-request-id"]}})
        assert_that(redacted["sqs_message_context"]["propagated_keys"], is_(equal_to(["x-request-id"])))

    def test_daemon_start_logs_configuration_without_secrets(self) -> None:
        """Start-up logs handlers, queue, concurrency and (at DEBUG) the configuration, with the secret redacted."""
        stack = fixtures.new_stack("logs-start")
        config = fixtures.graph_config(stack, my_service={"client_secret": SENTINEL, "region": "here"})
        daemon = ConsumerDaemon.create_for_testing(load_from_dict(config))
        self.addCleanup(fixtures.close_clients, daemon.graph)
        with self.assertLogs("microcosm_pubsub.daemon", logging.DEBUG) as captured:
            daemon.start()
        text = "\n".join(record.getMessage() for record in captured.records)
        assert_that(text, all_of(
            is_not(contains_string(SENTINEL)), contains_string(REDACTED), contains_string(stack.queue_url),
            contains_string("concurrency 1"), contains_string('"region": "here"'),
        ))

    def test_configuration_not_at_info(self) -> None:
        """At INFO the configuration stays out of the log: it is the DEBUG level's."""
        logger = logging.getLogger("microcosm_pubsub.tests.configuration")
        with self.assertLogs(logger, logging.INFO) as captured:
            log_configuration(logger, "svc", {"sqs_consumer": {"limit": 10}})
            logger.info("marker")
        assert_that([record.getMessage() for record in captured.records], is_(equal_to(["marker"])))

    def test_configuration_keeps_to_the_sections_given(self) -> None:
        """Given the sections in use, the DEBUG dump shows those and no other binding's."""
        logger = logging.getLogger("microcosm_pubsub.tests.configuration")
        config = {"sqs_consumer": {"limit": 10}, "hello_world": {"message": "hi"}}
        with self.assertLogs(logger, logging.DEBUG) as captured:
            log_configuration(logger, "svc", config, ["sqs_consumer"])
        [record] = captured.records
        assert_that(record.getMessage(), is_(equal_to('svc configuration: {"sqs_consumer": {"limit": 10}}')))


class SincePublishedTestCase(unittest.TestCase):
    def test_absent_stamp_is_none(self) -> None:
        """No x-request-published (an old peer): no age."""
        assert_that(seconds_since_published({}), is_(none()))

    def test_unreadable_stamp_is_none(self) -> None:
        """A stamp that is not a number: no age, no error."""
        assert_that(seconds_since_published({PUBLISHED_KEY: "yesterday"}), is_(none()))

    def test_clock_skew_is_not_negative(self) -> None:
        """A stamp from a producer whose clock runs ahead counts as zero."""
        now = time.time()
        assert_that(seconds_since_published({PUBLISHED_KEY: str(now + 5)}, now=now), is_(equal_to(0.0)))

    def test_age_is_now_minus_stamp(self) -> None:
        """The age is the time since the stamp."""
        assert_that(seconds_since_published({PUBLISHED_KEY: "100.5"}, now=103.0), is_(equal_to(2.5)))
