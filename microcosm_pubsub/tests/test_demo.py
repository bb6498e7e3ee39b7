"""The demo's echo of the daemon's log."""
from __future__ import annotations

import json
import threading
import unittest

from hamcrest import assert_that, contains_exactly, equal_to, is_
from microcosm.api import load_from_dict

from microcosm_pubsub.demo.__main__ import QUEUE_OPTIONS, readable
from microcosm_pubsub.demo.service import DemoDaemon
from microcosm_pubsub.runtime.runner import Runner
from microcosm_pubsub.tests import fixtures


class TestReadableLog(unittest.TestCase):
    def test_configuration_is_a_line_per_binding(self) -> None:
        """The daemon's one-line configuration is shown a binding per line, the default-only ones together."""
        config = {"sqs_consumer": {"concurrency": 4}, "opaque": {}, "sns_producer": {"max_attempts": 3}}
        line = "INFO microcosm_pubsub.daemon demo configuration: " + json.dumps(config)

        assert_that(readable(line), contains_exactly(
            "INFO microcosm_pubsub.daemon demo configuration:",
            '    sns_producer: {"max_attempts": 3}',
            '    sqs_consumer: {"concurrency": 4}',
            "    (defaults only: opaque)",
        ))

    def test_other_lines_unchanged(self) -> None:
        """Any other line, one that merely mentions a configuration included, is shown as it is."""
        line = "WARNING something about the configuration: not JSON"
        assert_that(readable(line), is_(equal_to([line])))


class TestDemoConfiguration(unittest.TestCase):
    def test_daemon_starts_on_the_demos_queue_without_a_warning(self) -> None:
        """The demo's daemon agrees with its queue: no warning at start, and dead letters carry a reason."""
        stack = fixtures.new_stack("demo", **QUEUE_OPTIONS)
        daemon = DemoDaemon.create_for_testing(loader=load_from_dict(fixtures.graph_config(stack)))
        dispatcher = daemon.graph.sqs_message_dispatcher
        runner = Runner(dispatcher, daemon.graph.sqs_consumer, 1, threading.Event())

        with self.assertNoLogs("microcosm_pubsub", level="WARNING"):
            runner.prepare()

        assert_that(dispatcher.dead_letter_queue_url, is_(equal_to(stack.dead_letter_queue_url)))
