"""Interoperability with the old microcosm-pubsub, 2.30.3 and 3.0.0: one old-style service, run under both packages.

`tests/interop/service.py` is a service written for the old package. These tests run it with an old
package's Python (`MICROCOSM_PUBSUB_OLD_PYTHON` for 2.30.3, `MICROCOSM_PUBSUB_OLD3_PYTHON` for 3.0.0;
`make test` builds `.venv-old` and `.venv-old3` for them) and with ours, as producer and as consumer daemon,
all against the local endpoint, and compare what its handlers saw. Both peers run the exchanges both ways;
what does not depend on the peer (our daemon's old command line, our dotted topics) runs once.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from unittest import TestCase

from hamcrest import assert_that, contains_inanyorder, equal_to, has_entries, has_item, has_length, is_, is_not

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS
from microcosm_pubsub.conventions import changed, created, deleted
from microcosm_pubsub.testing.queues import admin_clients
from microcosm_pubsub.tests.fixtures import endpoint, new_stack, wait_for


SERVICE = Path(__file__).parent / "interop" / "service.py"
OLD_PYTHON = os.environ.get("MICROCOSM_PUBSUB_OLD_PYTHON")
OLD3_PYTHON = os.environ.get("MICROCOSM_PUBSUB_OLD3_PYTHON")
NEW_PYTHON = sys.executable
GREETING = "application/vnd.globality.pubsub._.interop.greeting"
DOTTED = created("interop.dotted_thing")
# Four single messages and the follow-up to created Foo, plus the three of the batch message
EXPECTED_RECORDS = 8
# Keys a handler's opaque context carries under both packages, whoever published
SHARED_OPAQUE_KEYS = ("x-request-id", "x-interop-tenant", "x-request-ttl", "uri")


# What new -> new gives the handlers: the same for every peer, so worked out once per run
_NEW_TO_NEW: list[list[str]] = []

# The peer tests are a mixin, so that only the two classes below are collected; to mypy it is a TestCase
if TYPE_CHECKING:
    PeerBase = TestCase
else:
    PeerBase = object


class PeerTests(PeerBase):
    """The same service and the same messages give the same handler inputs under ours and an old peer's."""

    old_python: ClassVar[str | None]
    variable: ClassVar[str]
    venv: ClassVar[str]
    # Configuration the service runs with under both packages, for this peer
    peer_environment: ClassVar[dict[str, str]] = {}

    def setUp(self) -> None:
        if not self.old_python:
            self.skipTest(f"{self.variable} is not set (make test builds {self.venv} and sets it)")
        self.old = self.old_python or ""
        self.stack = new_stack("interop")
        self.dotted = new_stack("interop-dotted")
        self.out = Path(tempfile.mkdtemp()) / "handled.jsonl"
        self.environ = {
            **os.environ,
            **DUMMY_CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "INTEROP_OUT": str(self.out),
            "INTEROP__SNS_PRODUCER__ENDPOINT_URL": endpoint().url,
            "INTEROP__SQS_CONSUMER__ENDPOINT_URL": endpoint().url,
            "INTEROP__SQS_CONSUMER__WAIT_SECONDS": "1",
            "INTEROP__SNS_TOPIC_ARNS__DEFAULT": self.stack.topic_arn,
            "INTEROP__SNS_TOPIC_ARNS__CREATED__BATCH_MESSAGE": self.stack.topic_arn,
            "INTEROP__SNS_TOPIC_ARNS__CREATED__INTEROP__DOTTED_THING": self.dotted.topic_arn,
            **self.peer_environment,
        }

    def produce(self, python: str) -> None:
        completed = subprocess.run(
            [python, "-I", str(SERVICE), "produce"],
            env=self.environ, capture_output=True, text=True, timeout=120, check=False,
        )
        assert_that(completed.returncode, is_(equal_to(0)), completed.stderr[-3000:])

    def consume(
        self, python: str, *arguments: str, while_running: Callable[[], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Run the service's daemon until it has handled everything, then SIGTERM it; returns the records."""
        daemon = subprocess.Popen(
            [python, "-I", str(SERVICE), "consume", "--sqs-queue-url", self.stack.queue_url, *arguments],
            env=self.environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            wait_for(lambda: len(self.records()) >= EXPECTED_RECORDS or daemon.poll() is not None, timeout=90)
            if while_running is not None:
                while_running()
            # Anything extra (a duplicate, a stray message) would arrive now
            time.sleep(1.5)
        finally:
            daemon.send_signal(signal.SIGTERM)
            output, _ = daemon.communicate(timeout=60)
        assert_that(daemon.returncode, is_(equal_to(0)), output[-3000:])
        return self.records()

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]

    def waiting_media_types(self, queue_url: str) -> list[str]:
        """Media types of the messages waiting on a queue (SNS-wrapped), left there."""
        _, sqs = admin_clients(endpoint())
        media_types: list[str] = []
        while True:
            response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = response.get("Messages", [])
            if not messages:
                return media_types
            media_types.extend(json.loads(json.loads(message["Body"])["Message"])["mediaType"] for message in messages)

    def assert_handled_everything(self, records: list[dict[str, Any]]) -> None:
        assert_that(
            [record["content"]["media_type"] for record in records],
            contains_inanyorder(
                created("Foo"), changed("Foo"), deleted("Foo"), GREETING, created("FooFollowUp"),
                created("InteropItem"), created("InteropItem"), created("InteropItem"),
            ),
        )
        by_type = {record["content"]["media_type"]: record for record in records}
        assert_that(by_type[changed("Foo")]["content"], has_entries(field_name="state", new_value="done"))
        assert_that(by_type[deleted("Foo")]["content"], has_entries(id="foo-1"))
        assert_that(by_type[GREETING]["content"], has_entries(message="hello"))
        custom = {"x-request-id": "interop-request-1", "x-interop-tenant": "tenant-7"}
        for record in records:
            assert_that(record["opaque"], has_entries(custom))
        # The follow-up was published from a handler: one hop further down the TTL
        assert_that(by_type[created("Foo")]["opaque"], has_entries({"x-request-ttl": "31"}))
        assert_that(by_type[created("FooFollowUp")]["opaque"], has_entries({"x-request-ttl": "30"}))

    def test_old_producer_to_new_daemon(self) -> None:
        """Messages an old service publishes are handled by the same service on this package."""
        self.produce(self.old)
        self.assert_handled_everything(self.consume(NEW_PYTHON))

    def test_new_producer_to_old_daemon(self) -> None:
        """Messages published on this package are handled by a daemon still on the old package."""
        self.produce(NEW_PYTHON)
        self.assert_handled_everything(self.consume(self.old))

    def test_same_handler_inputs_as_the_old_package(self) -> None:
        """old -> old and new -> new give the handlers the same content and shared opaque keys."""
        self.produce(self.old)
        old = normalized(self.consume(self.old))
        if not _NEW_TO_NEW:
            self.out.unlink()
            self.produce(NEW_PYTHON)
            _NEW_TO_NEW.append(normalized(self.consume(NEW_PYTHON)))
        new = _NEW_TO_NEW[0]
        assert_that(new, has_length(EXPECTED_RECORDS))
        assert_that(new, is_(equal_to(old)))


class TestWithOld2303(PeerTests, TestCase):
    """The old 2.30.3 as the peer; also what does not depend on the peer."""

    old_python = OLD_PYTHON
    variable = "MICROCOSM_PUBSUB_OLD_PYTHON"
    venv = ".venv-old"

    def test_old_command_line_with_processes_and_health_check(self) -> None:
        """The old deployment's command line (`--processes 2 --healthcheck-port P`) runs unchanged."""
        port = free_port()
        health: list[int] = []

        def check_health() -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as response:
                health.append(response.status)

        self.produce(self.old)
        records = self.consume(
            NEW_PYTHON, "--processes", "2", "--healthcheck-host", "127.0.0.1", "--healthcheck-port", str(port),
            while_running=check_health,
        )
        self.assert_handled_everything(records)
        assert_that(health, is_(equal_to([200])))

    def test_dotted_lifecycle_topic_from_the_environment(self) -> None:
        """A dotted lifecycle name mapped from the environment goes to its own topic, as under the old package."""
        self.produce(NEW_PYTHON)
        assert_that(self.waiting_media_types(self.dotted.queue_url), is_(equal_to([DOTTED])))
        assert_that(self.waiting_media_types(self.stack.queue_url), is_not(has_item(DOTTED)))



class TestWithOld300(PeerTests, TestCase):
    """The old 3.0.0, its last release, as the peer; the service configured with 3.0.0's own backoff policy,
    which both packages read from the same environment variable."""

    old_python = OLD3_PYTHON
    variable = "MICROCOSM_PUBSUB_OLD3_PYTHON"
    venv = ".venv-old3"
    peer_environment: ClassVar[dict[str, str]] = {
        "INTEROP__SQS_CONSUMER__BACKOFF_POLICY": "ExponentialBackoffBaseJitterPolicy",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def normalized(records: list[dict[str, Any]]) -> list[str]:
    """Records without what differs on every run (publish times, ids, receipt handles), comparable as text."""
    result = []
    for record in records:
        content = dict(record["content"])
        content.pop("opaque_data", None)
        opaque = {key: record["opaque"].get(key) for key in SHARED_OPAQUE_KEYS}
        result.append(json.dumps({"content": content, "opaque": opaque}, sort_keys=True))
    return sorted(result)
