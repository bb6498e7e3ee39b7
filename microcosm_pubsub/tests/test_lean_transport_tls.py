"""The lean transport over TLS, as it talks to AWS: the same requests and answers as botocore, the same refusals.

The server's certificate is made for the test by the `openssl` command; both clients verify it against itself
as their CA bundle, as `AWS_CA_BUNDLE` would have them.
"""
from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from botocore.exceptions import SSLError
from hamcrest import assert_that, equal_to, has_entries, instance_of

from microcosm_pubsub.aws.clients import make_client
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.test_lean_transport import (
    ACCESS_KEY,
    LARGE,
    QUEUE_URL,
    SECRET_KEY,
    Differential,
    message,
    sent,
    sqs_answer,
)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A key and a certificate for localhost and 127.0.0.1, valid for a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise AssertionError("these tests need the openssl command (Debian's openssl package)")
    key, certificate = folder / "key.pem", folder / "certificate.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )
    return key, certificate


class Tls(Differential):
    folder: tempfile.TemporaryDirectory[str]

    @classmethod
    def setUpClass(cls) -> None:
        cls.folder = tempfile.TemporaryDirectory(prefix="lean-tls-")
        key, certificate = self_signed(Path(cls.folder.name))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate, key)
        cls.tls = context
        cls.verify = str(certificate)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.folder.cleanup()


class TlsTests(Tls):
    """Verified against the test's CA bundle, requests and answers are botocore's."""

    def test_send_message(self) -> None:
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "over TLS"}, sqs_answer(sent(1)))

    def test_large_answer(self) -> None:
        """Ten messages of 250 KB: the answer arrives in many TLS records and is read whole."""
        answer = sqs_answer({"Messages": [message(index, LARGE) for index in range(10)]})
        self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10}, answer)

    def test_connections_are_kept_alive(self) -> None:
        for index in range(3):
            self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": str(index)}, sqs_answer(sent(index)))
        assert_that(self.fast.lean_sent["SendMessage"], equal_to(3))

    def test_ca_bundle_from_the_environment(self) -> None:
        """A client the package makes verifies with AWS_CA_BUNDLE, as botocore does."""
        self.server.answer(sqs_answer(sent(1)))
        config = {"endpoint_url": self.server.url, "region_name": "us-east-1"}
        with fixtures.environ(AWS_CA_BUNDLE=self.verify, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                              AWS_SECRET_ACCESS_KEY=SECRET_KEY):
            client: Any = make_client("sqs", config, "sqs_consumer", 5.0)
        self.addCleanup(client.close)
        result = client.send_message(QueueUrl=QUEUE_URL, MessageBody="m")
        assert_that(result, has_entries(MessageId=instance_of(str)))
        assert_that(client.lean_sent["SendMessage"], equal_to(1))


class UntrustedCertificateTests(Tls):
    """A certificate outside the CA bundle: both refuse the connection with botocore's SSLError."""

    verify = None

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        # Verified against the default bundle, which does not hold the test's certificate
        cls.verify = None

    def test_refused(self) -> None:
        self.server.answer(sqs_answer(sent(1)))
        outcomes = [self.call(client, "send_message", {"QueueUrl": QUEUE_URL, "MessageBody": "m"})
                    for client in (self.plain, self.fast)]
        assert_that([type(outcome.error) for outcome in outcomes], equal_to([SSLError, SSLError]))
        assert_that(self.server.take(), equal_to([]))
