"""What the reliability test modules share: the scale, a per-test lab case, dead-letter markers, an in-memory graph.

Each fault test prints one `RELIABILITY FIGURES` line (messages in, handled, lost, duplicated,
dead-lettered); `scripts/soak.py` collects them into docs/reliability-figures.json and the report.
`PUBSUB_RELIABILITY_SCALE=soak` (make soak) runs the long versions.
"""
from __future__ import annotations

import json
import unittest
from typing import Any

from hamcrest import assert_that, is_
from microcosm.api import create_object_graph, load_from_dict

from microcosm_pubsub.tests.reliability.daemon import PREFIX, ChildSchema, WorkSchema
from microcosm_pubsub.tests.reliability.harness import DaemonProcess, Lab, scale


SOAK = scale() == "soak"
UNKNOWN_MEDIA_TYPE = f"{PREFIX}.unknown"


def marker_of(body: str) -> str:
    """Which poison message a dead-lettered body is: its `marker` or `name`, or its own text."""
    try:
        document = json.loads(body)
        if isinstance(document, dict) and document.get("Type") == "Notification":
            body = document["Message"]
            document = json.loads(body)
    except ValueError:
        return body.lstrip("{")
    if isinstance(document, list):
        return str(document[0])
    if isinstance(document, dict):
        return str(document.get("marker") or document.get("name"))
    return body


class ReliabilityTestCase(unittest.TestCase):
    """A lab per test: its stacks, graphs, daemons and records are reaped after it."""

    def setUp(self) -> None:
        self.lab = Lab()
        self.addCleanup(self.lab.close)
        self.records = self.lab.records

    def wait_handled(self, daemon: DaemonProcess, names: list[str], timeout: float) -> None:
        handled = self.lab.wait_handled(daemon, names, timeout)
        missing = len(set(names) - self.records.handled())
        assert_that(handled, is_(True), f"{missing} of {len(names)} not handled; daemon log:\n{daemon.tail()}")


def fuzz_graph(**overrides: Any) -> Any:
    """A graph for in-memory messages: no endpoint, nothing that can reach the network."""
    config = {
        "sqs_consumer": {"region_name": "us-east-1", "sqs_queue_url": "http://127.0.0.1:1/queue/fuzz"},
        "sns_producer": {"region_name": "us-east-1"},
        "sqs_message_dispatcher": {
            "dead_letter_queue_url": "http://127.0.0.1:1/queue/fuzz-dlq", "message_max_processing_attempts": 500,
        },
        **overrides,
    }
    graph: Any = create_object_graph("fuzz", testing=True, loader=load_from_dict(config))

    def fail(content: dict[str, Any]) -> bool:
        raise RuntimeError(f"fuzzed handler failure for {content!r}")

    graph.sqs_message_handler_registry.register(WorkSchema.MEDIA_TYPE, lambda content: content.get("name"))
    graph.sqs_message_handler_registry.register(ChildSchema.MEDIA_TYPE, fail)
    return graph
