"""The demo's echo of the daemon's log."""
from __future__ import annotations

import json
import unittest

from hamcrest import assert_that, contains_exactly, equal_to, is_

from microcosm_pubsub.demo.__main__ import readable


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
