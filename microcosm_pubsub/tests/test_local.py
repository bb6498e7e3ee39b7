"""The local endpoint and provisioning, exercised over HTTP against moto's server."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import unittest
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import patch
from urllib.parse import urlparse
from uuid import uuid4

from hamcrest import (
    assert_that,
    calling,
    contains_string,
    empty,
    equal_to,
    greater_than,
    has_entries,
    has_length,
    is_,
    is_not,
    none,
    raises,
    starts_with,
)

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS, LocalEndpoint, _make_server
from microcosm_pubsub.aws.local_speedups import MOTO_REQUIREMENT, moto_tested
from microcosm_pubsub.wire.errors import LocalEndpointError


if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef
    from mypy_boto3_sqs.type_defs import MessageTypeDef


ENDPOINT = LocalEndpoint()


def setUpModule() -> None:
    ENDPOINT.start()


def tearDownModule() -> None:
    ENDPOINT.stop()


def call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """`calling(func).with_args(...)`, typed as the callable that PyHamcrest's `raises` matches."""
    return calling(partial(func, *args, **kwargs))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:12]}"


def attribute(media_type: str) -> dict[str, MessageAttributeValueTypeDef]:
    return {"media_type": {"DataType": "String", "StringValue": media_type}}


class ClientsTestCase(unittest.TestCase):
    """A test case with SNS and SQS clients for the module's endpoint."""

    def setUp(self) -> None:
        self.sns = ENDPOINT.client("sns")
        self.sqs = ENDPOINT.client("sqs")
        self.addCleanup(self.sns.close)
        self.addCleanup(self.sqs.close)

    def receive(self, queue_url: str | None) -> list[MessageTypeDef]:
        assert queue_url is not None
        response = self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        return response.get("Messages", [])

    def queue_attributes(self, queue_url: str) -> dict[str, str]:
        return dict(self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"].items())


class TestEndpoint(unittest.TestCase):
    def test_url_is_loopback_with_a_port(self) -> None:
        """The endpoint binds 127.0.0.1 on the free port it was given."""
        url = urlparse(ENDPOINT.url)
        assert_that(url.scheme, is_(equal_to("http")))
        assert_that(url.hostname, is_(equal_to("127.0.0.1")))
        assert_that(url.port, is_(greater_than(0)))

    def test_environ_points_at_the_endpoint(self) -> None:
        """environ() carries the endpoint URL and the dummy credentials."""
        assert_that(ENDPOINT.environ(), is_(equal_to({"AWS_ENDPOINT_URL": ENDPOINT.url, **DUMMY_CREDENTIALS})))

    def test_client_talks_to_the_endpoint(self) -> None:
        """client() speaks to this endpoint in us-east-1."""
        sqs = ENDPOINT.client("sqs")
        self.addCleanup(sqs.close)
        queue_url = sqs.create_queue(QueueName=unique("client"))["QueueUrl"]
        assert_that(queue_url, starts_with(ENDPOINT.url))
        assert_that(sqs.meta.region_name, is_(equal_to("us-east-1")))

    def test_stop_is_idempotent(self) -> None:
        """stop() may be called before start and again after stopping."""
        endpoint = LocalEndpoint()
        endpoint.stop()
        endpoint.start()
        port = urlparse(endpoint.url).port
        endpoint.stop()
        endpoint.stop()
        # Nothing is left listening on the port
        with socket.socket() as sock:
            assert_that(sock.connect_ex(("127.0.0.1", port)), is_not(equal_to(0)))

    def test_rejects_an_unknown_mode(self) -> None:
        """Only "thread" and "process" are modes."""
        assert_that(call(LocalEndpoint, mode="fork"), raises(ValueError))


class TestProvision(ClientsTestCase):
    def test_publish_arrives_enveloped(self) -> None:
        """A message published to the topic arrives wrapped in an SNS notification."""
        stack = ENDPOINT.provision(unique("enveloped"))
        self.sns.publish(TopicArn=stack.topic_arn, Message="hello", MessageAttributes=attribute("test.created"))
        [message] = self.receive(stack.queue_url)
        body = json.loads(message["Body"])
        assert_that(body, has_entries(
            Type="Notification",
            Message="hello",
            TopicArn=stack.topic_arn,
            MessageAttributes={"media_type": {"Type": "String", "Value": "test.created"}},
        ))

    def test_publish_arrives_raw(self) -> None:
        """With raw=True the queue gets the bare message and its attributes."""
        stack = ENDPOINT.provision(unique("raw"), raw=True)
        self.sns.publish(TopicArn=stack.topic_arn, Message="hello", MessageAttributes=attribute("test.created"))
        [message] = self.receive(stack.queue_url)
        assert_that(message["Body"], is_(equal_to("hello")))
        assert_that(message["MessageAttributes"]["media_type"]["StringValue"], is_(equal_to("test.created")))

    def test_redrive_to_dead_letter_queue(self) -> None:
        """A message received max_receive_count times moves to the dead-letter queue."""
        stack = ENDPOINT.provision(unique("redrive"), max_receive_count=2, visibility_timeout=0)
        self.sns.publish(TopicArn=stack.topic_arn, Message="poison")
        # Visibility timeout 0 returns the message at once, standing in for a handler that fails
        for _ in range(2):
            assert_that(self.receive(stack.queue_url), has_length(1))
        assert_that(self.receive(stack.queue_url), is_(empty()))
        [dead] = self.receive(stack.dead_letter_queue_url)
        assert_that(json.loads(dead["Body"])["Message"], is_(equal_to("poison")))

    def test_filter_policy_drops_other_media_types(self) -> None:
        """Only the media types named in filter_media_types reach the queue."""
        stack = ENDPOINT.provision(unique("filtered"), filter_media_types=["wanted"], raw=True)
        self.sns.publish(TopicArn=stack.topic_arn, Message="no", MessageAttributes=attribute("unwanted"))
        self.sns.publish(TopicArn=stack.topic_arn, Message="yes", MessageAttributes=attribute("wanted"))
        messages = self.receive(stack.queue_url)
        assert_that([message["Body"] for message in messages], is_(equal_to(["yes"])))

    def test_filter_entry_ending_in_a_wildcard_matches_a_prefix(self) -> None:
        """A filter entry `x.*` lets through every media type starting with `x.`, as in a stack file."""
        stack = ENDPOINT.provision(unique("prefix"), filter_media_types=["acme.changed.*"], raw=True)
        for media_type in ("acme.created.order", "acme.changed.order", "acme.changed.invoice"):
            self.sns.publish(TopicArn=stack.topic_arn, Message=media_type, MessageAttributes=attribute(media_type))
        messages = self.receive(stack.queue_url)
        assert_that(sorted(message["Body"] for message in messages), is_(equal_to(
            ["acme.changed.invoice", "acme.changed.order"]
        )))

    def test_provision_is_idempotent(self) -> None:
        """Provisioning the same name twice returns the same stack."""
        name = unique("twice")
        first = ENDPOINT.provision(name, raw=True, filter_media_types=["a"])
        second = ENDPOINT.provision(name, raw=True, filter_media_types=["a"])
        assert_that(second, is_(equal_to(first)))

    def test_provision_converges_on_new_arguments(self) -> None:
        """Provisioning again with other arguments updates the existing resources."""
        name = unique("changed")
        first = ENDPOINT.provision(name, raw=True, filter_media_types=["a"])
        second = ENDPOINT.provision(name, dead_letter=False, visibility_timeout=5)
        assert_that(second.subscription_arn, is_(equal_to(first.subscription_arn)))
        assert_that(second.dead_letter_queue_url, is_(none()))
        queue = self.queue_attributes(second.queue_url)
        assert_that(queue, has_entries(VisibilityTimeout="5"))
        assert_that(queue.get("RedrivePolicy"), is_(none()))
        subscription = self.sns.get_subscription_attributes(SubscriptionArn=second.subscription_arn)["Attributes"]
        assert_that(subscription, has_entries(RawMessageDelivery="false", FilterPolicy="{}"))

    def test_queue_attributes(self) -> None:
        """The queue gets its visibility timeout, redrive policy and a policy letting the topic send."""
        stack = ENDPOINT.provision(unique("attributes"), max_receive_count=4, visibility_timeout=7)
        attributes = self.queue_attributes(stack.queue_url)
        assert_that(attributes, has_entries(VisibilityTimeout="7", QueueArn=stack.queue_arn))
        assert_that(json.loads(attributes["RedrivePolicy"]), is_(equal_to(
            {"deadLetterTargetArn": stack.dead_letter_queue_arn, "maxReceiveCount": 4}
        )))
        [statement] = json.loads(attributes["Policy"])["Statement"]
        assert_that(statement, has_entries(
            Effect="Allow",
            Action="sqs:SendMessage",
            Resource=stack.queue_arn,
            Condition={"ArnEquals": {"aws:SourceArn": [stack.topic_arn]}},
        ))


class TestProcessMode(unittest.TestCase):
    def test_serves_and_stops(self) -> None:
        """A process-mode endpoint serves requests and stop() ends its child."""
        endpoint = LocalEndpoint(mode="process").start()
        self.addCleanup(endpoint.stop)
        process = endpoint.process
        assert process is not None
        sqs = endpoint.client("sqs")
        self.addCleanup(sqs.close)
        queue_url = sqs.create_queue(QueueName=unique("process"))["QueueUrl"]
        assert_that(queue_url, starts_with(endpoint.url))

        endpoint.stop()
        endpoint.stop()
        assert_that(process.returncode, is_(equal_to(0)))
        assert_that(call(os.kill, process.pid, 0), raises(ProcessLookupError))

    def test_child_failure_is_reported(self) -> None:
        """A child that cannot bind its port fails start() with the child's stderr."""
        busy_port = urlparse(ENDPOINT.url).port
        assert busy_port is not None
        endpoint = LocalEndpoint(port=busy_port, mode="process")
        self.addCleanup(endpoint.stop)
        assert_that(
            call(endpoint.start),
            raises(LocalEndpointError, "exited with status 1(.|\n)*Address already in use"),
        )
        assert_that(endpoint.process, is_(none()))

    def test_child_exits_zero_on_sigint(self) -> None:
        """The child serves until SIGINT too, then exits 0."""
        endpoint = LocalEndpoint(mode="process").start()
        self.addCleanup(endpoint.stop)
        process = endpoint.process
        assert process is not None
        process.send_signal(signal.SIGINT)
        assert_that(process.wait(10), is_(equal_to(0)))

    def test_reset_forgets_queues(self) -> None:
        """reset() drops every queue the endpoint knows."""
        # A process-mode endpoint has state of its own, so the reset cannot touch the module's endpoint
        endpoint = LocalEndpoint(mode="process").start()
        self.addCleanup(endpoint.stop)
        name = unique("reset")
        endpoint.provision(name)
        endpoint.reset()
        sqs = endpoint.client("sqs")
        self.addCleanup(sqs.close)
        assert_that(sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", []), is_(empty()))


class TestMotoVersion(unittest.TestCase):
    def test_tested_range_is_read_as_major_minor(self) -> None:
        """5.0.x to 5.2.x count as tested; 4.2, 5.3 and 6.0 do not, whatever their patch level."""
        versions = ["4.2.14", "5.0.0", "5.1.9", "5.2.5", "5.3.0", "5.3.0.dev1", "6.0.0", "nonsense"]
        assert_that([moto_tested(version) for version in versions], is_(equal_to(
            [False, True, True, True, False, False, False, False]
        )))

    def test_setup_pins_moto_to_the_tested_range(self) -> None:
        """Every moto requirement in setup.py is the tested range, so pip cannot install an untested moto."""
        setup = (Path(__file__).resolve().parents[2] / "setup.py").read_text(encoding="utf-8")
        pins = re.findall(r'"(moto\[server\][^"]*)"', setup)
        assert_that((len(pins), set(pins)), is_(equal_to((3, {MOTO_REQUIREMENT}))))

    def test_untested_moto_is_named_with_the_tested_range(self) -> None:
        """A moto outside the tested range gets a warning naming the range and what to install."""
        import moto

        with patch.object(moto, "__version__", "5.3.0"), self.assertLogs("microcosm_pubsub.local", "WARNING") as logs:
            server = _make_server(0)
        server.server_close()
        assert_that(logs.output[0], contains_string("outside the range the local endpoint is tested with (5.0 to 5.2)"))
