"""A daemon's start: no declared handler silently inactive, typos in its set-up named, one useful line at INFO."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import unittest
from pathlib import Path
from typing import Any
from unittest.mock import patch

from hamcrest import (
    all_of,
    assert_that,
    contains_string,
    equal_to,
    has_length,
    is_,
    is_not,
)
from microcosm.api import binding, load_each, load_from_dict, load_from_environ
from microcosm.errors import NotBoundError

from microcosm_pubsub.consume.foreign import handles_foreign_event
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.schemas.decorators import handles
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError


ROOT = Path(__file__).resolve().parents[2]
# Unique to this module: rules and standalone handlers declared in code hold in every graph of the process
UPLOAD = "application/vnd.acme.startup-test.upload"
BUCKET = "acme-startup-test-uploads"
ORDER = "application/vnd.acme.startup-test.order"
RECEIVED: list[dict[str, Any]] = []


@handles_foreign_event(UPLOAD, fields={"Records[].s3.bucket.name": BUCKET})
def on_upload(event: dict[str, Any]) -> bool:
    RECEIVED.append(event)
    return True


@binding("startup_test_order_handler")
@handles(ORDER)
class OrderHandler:
    """Declared and bound, but named in no daemon's components below."""

    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, message: dict[str, Any]) -> bool:
        return True


class PlainDaemon(ConsumerDaemon):
    """The base components only: no handler bound."""

    name = "startup_test"


class MisspelledDaemon(ConsumerDaemon):
    name = "startup_test"

    @property
    def components(self) -> list[str]:
        return [*super().components, "startup_test_order_handlr"]


def s3_event(bucket: str, key: str = "a.csv", name: str = "ObjectRemoved:Delete") -> dict[str, Any]:
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
                         "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}


class StartedDaemonTestCase(unittest.TestCase):
    """A daemon on a fresh stack of the local endpoint, started with its start-up lines captured."""

    def daemon(self, daemon_class: type[ConsumerDaemon] = PlainDaemon, **overrides: Any) -> ConsumerDaemon:
        self.stack = fixtures.new_stack("startup")
        config = fixtures.graph_config(self.stack, pubsub_runner={"max_messages": 1}, **overrides)
        daemon = daemon_class.create_for_testing(loader=load_from_dict(config))
        self.addCleanup(fixtures.close_clients, daemon.graph)
        return daemon

    def start(self, daemon: ConsumerDaemon) -> list[logging.LogRecord]:
        with self.assertLogs("microcosm_pubsub.daemon", logging.DEBUG) as captured:
            daemon.start()
        return captured.records

    @staticmethod
    def lines(records: list[logging.LogRecord], level: int) -> list[str]:
        return [record.getMessage() for record in records if record.levelno == level]


class TestForeignHandlerWithoutBinding(StartedDaemonTestCase):
    def test_event_reaches_the_function(self) -> None:
        """A bare function with @handles_foreign_event, no binding and no components entry, gets the S3 event."""
        daemon = self.daemon()
        sqs = daemon.graph.sqs_client
        sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=json.dumps(s3_event(BUCKET, "x.csv")))
        RECEIVED.clear()

        self.start(daemon)
        assert daemon.runner is not None
        daemon.runner.run()

        assert_that([event["Records"][0]["s3"]["object"]["key"] for event in RECEIVED], is_(equal_to(["x.csv"])))
        assert_that(daemon.runner.counts, is_(equal_to({"succeeded": 1})))
        assert_that(fixtures.queue_counts(sqs, self.stack.queue_url), is_(equal_to((0, 0))))

    def test_startup_line_names_it(self) -> None:
        """The start-up line lists the function among the handlers, by media type."""
        [line] = [line for line in self.lines(self.start(self.daemon()), logging.INFO) if " consuming " in line]
        assert_that(line, contains_string(f"{UPLOAD} ({__name__}.on_upload)"))


class TestReadmeExample(unittest.TestCase):
    def test_readme_foreign_event_example_runs_in_a_daemon(self) -> None:
        """The README's foreign-event example, exactly as written, handles an S3 event in a daemon of its own."""
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        section = readme.split("### Events without a media type", 1)[1]
        example = re.search(r"```python\n(.*?)```", section, re.DOTALL)
        assert example is not None
        stack = fixtures.new_stack("startup-readme")
        # Its own process: the example's rule and handler would otherwise hold in every graph of this one
        script = textwrap.dedent("""
            import json, sys
            from microcosm.api import load_from_dict
            from microcosm_pubsub.runtime.daemon import ConsumerDaemon
            exec(compile(sys.argv[1], "README.md", "exec"), {"__name__": "readme_example"})
            config = json.loads(sys.argv[2])
            daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict(config))
            daemon.graph.sqs_client.send_message(
                QueueUrl=config["sqs_consumer"]["sqs_queue_url"], MessageBody=sys.argv[3])
            daemon.start()
            daemon.runner.run()
            print(json.dumps(daemon.runner.counts))
        """)
        config = fixtures.graph_config(stack, pubsub_runner={"max_messages": 1})
        event = s3_event("any-bucket", name="ObjectRemoved:Delete")
        done = subprocess.run(
            [sys.executable, "-c", script, example.group(1), json.dumps(config), json.dumps(event)],
            capture_output=True, text=True, timeout=120, cwd=ROOT, env=os.environ.copy(), check=False,
        )
        assert_that((done.returncode, done.stdout.strip().splitlines()[-1:]),
                    is_(equal_to((0, ['{"succeeded": 1}']))), done.stderr[-2000:])


class TestInactiveHandlers(StartedDaemonTestCase):
    def test_declared_but_unbound_is_warned_with_the_fix(self) -> None:
        """A handler bound but left out of the daemon's components is named at start, with the line to add."""
        warnings = self.lines(self.start(self.daemon()), logging.WARNING)
        assert_that(
            [line for line in warnings if "not active" in line],
            has_length(1),
        )
        [line] = [line for line in warnings if "not active" in line]
        assert_that(line, contains_string(
            f"{__name__}.OrderHandler for {ORDER}: add 'startup_test_order_handler' to components",
        ))

    def test_active_handler_is_not_warned(self) -> None:
        """With its binding among the components, the handler is active and not named as inactive."""
        class OrderDaemon(ConsumerDaemon):
            name = "startup_test"

            @property
            def components(self) -> list[str]:
                return [*super().components, "startup_test_order_handler"]

        warnings = " ".join(self.lines(self.start(self.daemon(OrderDaemon)), logging.WARNING))
        # Other modules of the suite declare handlers of their own (OrderHandler among them): this one's full name
        assert_that(warnings, is_not(contains_string(f"{__name__}.OrderHandler")))


class TestTypos(StartedDaemonTestCase):
    def test_unbound_component_is_one_line_with_a_hint(self) -> None:
        """A misspelled component name fails the start with one line: the name, the close binding, the causes."""
        daemon = MisspelledDaemon()
        args = daemon.parse_args(["--sqs-queue-url", "http://127.0.0.1:9/queue"])
        with self.assertLogs("microcosm_pubsub.daemon", logging.ERROR) as captured:
            status = daemon.run_parsed(args)
        [record] = captured.records
        assert_that((status, record.exc_info), is_(equal_to((2, None))))
        assert_that(record.getMessage(), all_of(
            contains_string("no binding named 'startup_test_order_handlr'"),
            contains_string("did you mean 'startup_test_order_handler'?"),
            contains_string("not imported"),
        ))

    def test_unbound_component_error_is_still_not_bound_error(self) -> None:
        """Code that caught microcosm's NotBoundError still does; it is a ConfigurationError too."""
        error = None
        try:
            MisspelledDaemon.create_for_testing(loader=load_from_dict(fixtures.graph_config()))
        except NotBoundError as raised:
            error = raised
        assert_that(isinstance(error, ConfigurationError), is_(True))

    def test_misspelled_section_is_warned(self) -> None:
        """An environment variable whose section names no binding is warned about, with the close binding."""
        stack = fixtures.new_stack("startup")
        config = fixtures.graph_config(stack, pubsub_runner={"max_messages": 1})
        with patch.dict(os.environ, {"STARTUP_TEST__SQS_CONSUMR__WAIT_SECONDS": "1"}):
            daemon = PlainDaemon.create_for_testing(loader=load_each(load_from_dict(config), load_from_environ))
            self.addCleanup(fixtures.close_clients, daemon.graph)
            warnings = self.lines(self.start(daemon), logging.WARNING)
        assert_that([line for line in warnings if "sqs_consumr" in line], is_(equal_to([
            "startup_test: configuration section sqs_consumr (from environment variable "
            "STARTUP_TEST__SQS_CONSUMR__WAIT_SECONDS) names no binding and is ignored; did you mean 'sqs_consumer'?",
        ])))


class TestQuietStart(StartedDaemonTestCase):
    def test_one_info_line_says_what_the_daemon_does(self) -> None:
        """At INFO, one line: queue, concurrency, handlers, middleware, dead letters, large payloads, FIFO."""
        daemon = self.daemon(sqs_message_dispatcher={"dead_letter_queue_url": "http://127.0.0.1:9/dlq"})
        info = self.lines(self.start(daemon), logging.INFO)
        [line] = [line for line in info if "startup_test" in line]
        assert_that(line, all_of(
            contains_string(f"consuming {self.stack.queue_url} with concurrency 1"),
            contains_string("middleware: none"),
            contains_string("dead letters: http://127.0.0.1:9/dlq"),
            contains_string("large payloads: in from any bucket"),
            contains_string("FIFO: no"),
        ))

    def test_configuration_at_debug_only_what_is_used_and_no_secret(self) -> None:
        """The configuration is logged at DEBUG, without unused bindings, secrets, or mock_sns while publishing."""
        daemon = self.daemon(pubsub_signing={"keys": {"k1": "s3cr3t-value"}, "signing_key_id": "k1"})
        records = self.start(daemon)
        [dump] = [record for record in records if " configuration: " in record.getMessage()]
        text = dump.getMessage()
        sections = json.loads(text.split(" configuration: ", 1)[1])
        assert_that(dump.levelno, is_(equal_to(logging.DEBUG)))
        assert_that(sections["pubsub_signing"]["keys"], is_(equal_to("***")))
        assert_that(
            sorted(set(sections) & {"hello_world", "resource_cache", "sentry_logging_pubsub", "pubsub_dynatrace"}),
            is_(equal_to([])),
        )
        for leak in ("s3cr3t", '"mock_sns": true'):
            assert_that(text, is_not(contains_string(leak)))

    def test_handler_registered_directly_is_not_warned(self) -> None:
        """A handler registered on the registry (tests, scripts) is what the runner uses: named, not warned."""
        daemon = self.daemon()

        def on_order(message: dict[str, Any]) -> bool:
            return True

        daemon.graph.sqs_message_handler_registry.register(ORDER, on_order)
        records = self.start(daemon)
        warnings = " ".join(self.lines(records, logging.WARNING))
        [started] = [line for line in self.lines(records, logging.INFO) if "consuming" in line]
        assert_that(
            ("on_order" in warnings, f"{ORDER} (" in started and "on_order)" in started),
            is_(equal_to((False, True))),
        )
