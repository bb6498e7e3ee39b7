"""Faults no retry heals stop the daemon at once: no credentials, refused credentials, access denied, no such region.

Each daemon runs as a subprocess against 127.0.0.1 only: the local endpoint, a local endpoint that checks
credentials (moto's IAM), or, for the region, no endpoint at all with every request sent to a closed
loopback port as its proxy, so that nothing could leave the machine even if the check failed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Any

import boto3
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    equal_to,
    has_length,
    is_,
    is_not,
    less_than,
    none,
    starts_with,
)

from microcosm_pubsub.aws.faults import lasting_fault
from microcosm_pubsub.aws.local import LocalEndpoint
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.reliability.harness import DAEMON_MODULE, ROOT, daemon_config
from microcosm_pubsub.tests.test_daemon import closed_port


# Time a daemon gets to fail; a daemon retrying instead would be killed at this bound and fail the test
FAIL_WITHIN_SECONDS = 20.0
QUEUE_URL = "http://127.0.0.1:1/123456789012/unused"


def clean_environ(**variables: str) -> dict[str, str]:
    """This process's environment without any AWS setting, plus `variables`."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    kept.pop("RELIABILITY_RECORD_FILE", None)
    return {**kept, "PYTHONPATH": str(ROOT), "AWS_EC2_METADATA_DISABLED": "true", **variables}


def run_daemon(environ: dict[str, str]) -> tuple[int | None, list[str], float]:
    """Run the reliability daemon until it exits on its own: its status, its log lines, and the seconds it took."""
    with tempfile.NamedTemporaryFile(prefix="lasting-faults-") as record:
        began = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", DAEMON_MODULE], env={**environ, "RELIABILITY_RECORD_FILE": record.name},
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=FAIL_WITHIN_SECONDS, cwd=ROOT,
            )
        except subprocess.TimeoutExpired as expired:
            output = expired.stderr or b""
            text = output.decode(errors="replace") if isinstance(output, bytes) else output
            return None, text.splitlines(), time.monotonic() - began
        return done.returncode, (done.stdout + done.stderr).splitlines(), time.monotonic() - began


def errors(lines: list[str]) -> list[str]:
    return [line for line in lines if " ERROR " in line]


class LastingFaultDaemonTestCase(unittest.TestCase):

    def assert_one_line_exit_2(self, status: int | None, lines: list[str], *texts: str) -> None:
        log = "\n".join(lines)
        assert_that(status, is_(equal_to(2)), log)
        assert_that(errors(lines), has_length(1), log)
        for text in texts:
            assert_that(errors(lines)[0], contains_string(text))
        # It never claimed to be consuming
        assert_that(log, is_not(contains_string(" consuming ")))

    def test_missing_credentials_exit_2_at_start(self) -> None:
        """No credentials anywhere: exit 2 within seconds, one line saying how to provide them."""
        stack = fixtures.new_stack("no-credentials", dead_letter=False)
        with tempfile.NamedTemporaryFile(prefix="aws-empty-") as empty:
            status, lines, took = run_daemon(clean_environ(
                AWS_SHARED_CREDENTIALS_FILE=empty.name, AWS_CONFIG_FILE=empty.name,
                **daemon_config(sqs_consumer={
                    "endpoint_url": fixtures.endpoint().url, "region_name": "us-east-1",
                    "sqs_queue_url": stack.queue_url,
                }),
            ))
        self.assert_one_line_exit_2(
            status, lines, "reliability cannot start: no AWS credentials",
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
        assert_that(took, is_(less_than(FAIL_WITHIN_SECONDS / 2)))

    def test_unknown_region_exit_2_before_any_request(self) -> None:
        """A region AWS does not have, on AWS's endpoints: exit 2 naming the region, before any request."""
        proxy = f"http://127.0.0.1:{closed_port()}"
        status, lines, _ = run_daemon(clean_environ(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
            # Had a request gone out, it would have gone here, and been refused
            HTTPS_PROXY=proxy, HTTP_PROXY=proxy, https_proxy=proxy, http_proxy=proxy, NO_PROXY="", no_proxy="",
            **daemon_config(sqs_consumer={
                "region_name": "xx-nowhere-1", "sqs_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
            }),
        ))
        self.assert_one_line_exit_2(
            status, lines, "unknown AWS region 'xx-nowhere-1'", "set AWS_DEFAULT_REGION or sqs_consumer.region_name",
        )


class AccessDeniedTestCase(unittest.TestCase):
    """Against a local endpoint of its own that checks every request's credentials and permissions (moto's IAM)."""

    endpoint: LocalEndpoint
    queue_url: str
    key: dict[str, Any]

    @classmethod
    def setUpClass(cls) -> None:
        # The first three requests (the queue, the user, its key) are let through; every later one is checked
        with fixtures.environ(INITIAL_NO_AUTH_ACTION_COUNT="3"):
            cls.endpoint = LocalEndpoint(mode="process").start()
        sqs = cls.endpoint.client("sqs")
        cls.queue_url = sqs.create_queue(QueueName=fixtures.unique_name("denied"))["QueueUrl"]
        sqs.close()
        iam = boto3.client(
            "iam", endpoint_url=cls.endpoint.url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        iam.create_user(UserName="consumer")
        cls.key = iam.create_access_key(UserName="consumer")["AccessKey"]
        iam.close()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.endpoint.stop()

    def run_with_key(self, key_id: str, secret: str) -> tuple[int | None, list[str]]:
        status, lines, _ = run_daemon(clean_environ(
            AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret,
            **daemon_config(sqs_consumer={
                "endpoint_url": self.endpoint.url, "region_name": "us-east-1", "sqs_queue_url": self.queue_url,
            }),
        ))
        return status, lines

    def test_a_user_without_permission_exits_2_on_the_first_receive(self) -> None:
        """Valid credentials without sqs:ReceiveMessage: exit 2, one line naming the permissions; no secret logged."""
        status, lines = self.run_with_key(self.key["AccessKeyId"], self.key["SecretAccessKey"])
        log = "\n".join(lines)
        assert_that(status, is_(equal_to(2)), log)
        [line] = errors(lines)
        assert_that(line, contains_string(f"reliability cannot consume: access denied to {self.queue_url}"))
        assert_that(line, contains_string("allow the daemon's identity sqs:ReceiveMessage"))
        assert_that(log, is_not(contains_string(self.key["SecretAccessKey"])))

    def test_credentials_aws_does_not_know_exit_2_at_start(self) -> None:
        """An access key the endpoint does not know: exit 2 at start with one line, before claiming to consume."""
        status, lines = self.run_with_key("AKIAUNKNOWN000000000", "not-a-secret")
        log = "\n".join(lines)
        assert_that(status, is_(equal_to(2)), log)
        [line] = errors(lines)
        assert_that(line, contains_string(
            "reliability cannot start: AWS rejected the credentials (InvalidClientTokenId",
        ))
        assert_that(log, is_not(contains_string(" consuming ")))


def client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "ReceiveMessage")


class LastingFaultTestCase(unittest.TestCase):
    """Which failures stop the daemon and which are retried (plain objects, no request)."""

    def test_network_throttling_and_server_errors_are_retried(self) -> None:
        """Connection errors, throttling and 5xx answers are left to the receive loop's retries."""
        retried = [
            EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
            ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
            client_error("ThrottlingException", 400), client_error("RequestThrottled", 400),
            client_error("InternalError", 500), client_error("ServiceUnavailable", 503),
        ]
        assert_that([lasting_fault(error, QUEUE_URL) for error in retried], is_(equal_to([None] * len(retried))))

    def test_lasting_faults_are_named(self) -> None:
        """Missing, refused and expired credentials and a refused permission each get their own line."""
        found = [
            lasting_fault(error, QUEUE_URL) for error in (
                NoCredentialsError(), client_error("SignatureDoesNotMatch", 403),
                client_error("ExpiredToken", 400), client_error("AccessDenied", 403),
            )
        ]
        assert_that(found, contains_exactly(
            starts_with("no AWS credentials (NoCredentialsError): set AWS_PROFILE"),
            starts_with("AWS rejected the credentials (SignatureDoesNotMatch: m): set AWS_PROFILE"),
            starts_with("the AWS credentials have expired (ExpiredToken: m): refresh them"),
            starts_with(f"access denied to {QUEUE_URL} (AccessDenied: m): allow"),
        ))

    def test_a_permission_refused_on_the_queue_attributes_is_not_fatal(self) -> None:
        """AccessDenied reading the queue's attributes is not fatal: policies written for the old package lack it."""
        assert_that(lasting_fault(client_error("AccessDenied", 403), QUEUE_URL, denied_heals=True), is_(none()))

