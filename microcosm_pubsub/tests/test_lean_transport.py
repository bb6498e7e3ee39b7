"""The lean transport against botocore, request for request: SQS calls recorded by a loopback server, byte for byte.

Both clients come from one session (so they share exception classes) and sign with the same fixed clock; each
call goes through botocore, then through the lean client, against the same canned answers. The requests must be
the same bytes (but for the three headers botocore leaves out of the signature too) and the results equal.
The harness here (`RecordingServer`, `Differential`) serves the other `test_lean_transport_*` modules too.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import ssl
import sys
import threading
import unittest
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

from botocore.compat import HAS_CRT
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError
from botocore.retries.standard import ExponentialBackoff
from hamcrest import (
    assert_that,
    contains_string,
    equal_to,
    has_entries,
    has_key,
    has_length,
    instance_of,
    is_,
    is_not,
    matches_regexp,
    same_instance,
)

from microcosm_pubsub.aws.clients import new_session
from microcosm_pubsub.aws.lean import lean_client


# The instant both clients sign at: botocore's clock is naive UTC, the lean client's aware
FIXED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ACCESS_KEY, SECRET_KEY = "AKIDLEANTRANSPORT", "lean-transport-secret-key"
# Outside the signature in botocore too: only their presence is compared
UNSIGNED = ("user-agent", "amz-sdk-invocation-id", "amz-sdk-request")
ACCOUNT = "123456789012"
REQUEST_ID = "5c4b6bd2-3f07-5bb8-9d1c-2f6a0ad1e1a7"
DATE = "Fri, 02 Jan 2026 03:04:05 GMT"


def fixed_now(remove_tzinfo: bool = True) -> datetime:
    """botocore's clock (`botocore.compat.get_current_datetime`), stopped at FIXED."""
    return FIXED.replace(tzinfo=None) if remove_tzinfo else FIXED


_BOTOCORE_BACKOFF = ExponentialBackoff.delay_amount


def quick_backoff(self: ExponentialBackoff, context: Any) -> float:
    """botocore's backoff delay in milliseconds where it says seconds (at most 20 ms, not 20 s)."""
    delay: float = _BOTOCORE_BACKOFF(self, context) / 1000
    return delay


# Where botocore's signers read the clock: its own SigV4 signer, and awscrt's where awscrt is installed
CLOCK_READERS = ["botocore.auth"] + (["botocore.crt.auth"] if HAS_CRT else [])


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived: method, raw path, header lines in order (names as sent), body bytes."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # The client's port: which connection the request came on
    port: int = 0

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name]

    def signed_headers(self) -> list[tuple[str, str]]:
        """Every header but the three outside the signature: lower-cased names, values as sent, sorted."""
        return sorted((key.lower(), value) for key, value in self.headers if key.lower() not in UNSIGNED)


@dataclass(frozen=True)
class Canned:
    """An answer: status, headers (Content-Length is added), body; `hang` never answers (until the server stops)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    hang: bool = False
    # Read the request, then close the connection without a word
    drop: bool = False
    # How the body's end is told: "length" (Content-Length), "chunked", or "close" (the end of the connection)
    framing: str = "length"
    # Answer as usual (keep-alive), then close the connection, as a server whose idle timeout has passed
    then_close: bool = False


@dataclass
class RecordingServer:
    """A loopback HTTP/1.1 server (keep-alive) that records every request and answers from a script of `Canned`.

    The script's last answer repeats once the others are used, so "always 503" is one entry.
    """

    requests: list[Recorded] = field(default_factory=list)
    script: deque[Canned] = field(default_factory=deque)
    # Serve HTTPS with this context (the URL then names localhost, which its certificate names)
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._connections: set[socket.socket] = set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with owner._lock:
                    owner._connections.add(self.connection)

            def finish(self) -> None:
                with owner._lock:
                    owner._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                owner._answer(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
            self.url = f"https://localhost:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="recording server", daemon=True,
        )
        self._thread.start()

    def answer(self, *answers: Canned) -> None:
        """Answer the next requests with these, the last one repeating; forgets the requests recorded so far."""
        with self._lock:
            self.script = deque(answers)
            self.requests = []

    def take(self) -> list[Recorded]:
        """The requests recorded since the last `answer` or `take`."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        # Keep-alive connections a client left idle would hold their handler threads in a read
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        if "chunked" in (handler.headers.get("Transfer-Encoding") or ""):
            raise AssertionError("a chunked request: both clients are expected to send Content-Length")
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            self.requests.append(Recorded(handler.command, handler.path, tuple(handler.headers.items()), body,
                                          handler.client_address[1]))
            canned = self.script.popleft() if len(self.script) > 1 else self.script[0]
        if canned.hang:
            self._released.wait(30)
        if canned.hang or canned.drop:
            handler.close_connection = True
            return
        # No Server or Date of http.server's own: the answer is exactly the canned one (both clients get the same),
        # in one write (a head and a body written apart would wait out the client's delayed ACK)
        reason = HTTPStatus(canned.status).phrase if canned.status in HTTPStatus._value2member_map_ else "Status"
        framing = {"length": [f"Content-Length: {len(canned.body)}"], "chunked": ["Transfer-Encoding: chunked"],
                   "close": ["Connection: close"]}[canned.framing]
        head = [f"HTTP/1.1 {canned.status} {reason}", *(f"{name}: {value}" for name, value in canned.headers),
                *framing, "", ""]
        body = canned.body
        if canned.framing == "chunked":
            pieces = [body[start:start + 1000] for start in range(0, len(body), 1000)] + [b""]
            body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
        handler.wfile.write("\r\n".join(head).encode("utf-8") + body)
        handler.wfile.flush()
        if canned.framing == "close" or canned.then_close:
            handler.close_connection = True


def sqs_answer(payload: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Canned:
    """An SQS (AWS JSON 1.0) answer; `payload` a JSON value, or bytes as they are."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    base = (("x-amzn-RequestId", REQUEST_ID), ("Content-Type", "application/x-amz-json-1.0"), ("Date", DATE))
    return Canned(status, base + headers, body)


def sns_answer(xml: str, status: int = 200, content_type: str = "text/xml") -> Canned:
    """An SNS (query protocol) answer."""
    return Canned(status, (("x-amzn-RequestId", REQUEST_ID), ("Content-Type", content_type), ("Date", DATE)),
                  xml.encode("utf-8"))


def md5(text: str | bytes) -> str:
    return hashlib.md5(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


@dataclass
class Outcome:
    """What one call gave: its result, or the exception it raised."""

    result: Any = None
    error: BaseException | None = None


def difference(plain: bytes, lean: bytes) -> str:
    """Where two bodies first differ, with a little context, so a 250 KB mismatch reads in one line."""
    pairs = enumerate(zip(plain, lean, strict=False))
    at = next((index for index, (a, b) in pairs if a != b), min(len(plain), len(lean)))
    return (f"lengths {len(plain)} (botocore) and {len(lean)} (lean), first difference at byte {at}: "
            f"botocore {plain[max(0, at - 40):at + 60]!r} lean {lean[max(0, at - 40):at + 60]!r}")


class Differential(unittest.TestCase):
    """Two clients of `service` on a recording server; `same(...)` calls both and compares everything."""

    service = "sqs"
    read_timeout = 5.0
    region = "us-east-1"
    retries: dict[str, Any] = {"max_attempts": 3, "mode": "standard"}
    # Appended to the server's URL to make the clients' endpoint_url
    endpoint_path = ""
    # Temporary credentials add a signed X-Amz-Security-Token header
    session_token: str | None = None
    # An HTTPS server, and the CA bundle both clients verify it with
    tls: ssl.SSLContext | None = None
    verify: str | None = None

    def setUp(self) -> None:
        # The server's threads share the GIL with the test: hand it over sooner than every 5 ms
        interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0002)
        self.addCleanup(sys.setswitchinterval, interval)
        self.server = RecordingServer(tls=self.tls)
        self.addCleanup(self.server.stop)
        self.plain, self.fast = self.clients(self.server.url + self.endpoint_path)
        # botocore's signer reads the time here; the lean client is handed the same instant
        for module in CLOCK_READERS:
            clock = mock.patch(f"{module}.get_current_datetime", fixed_now)
            clock.start()
            self.addCleanup(clock.stop)
        # botocore's backoff a thousand times shorter (its decisions unchanged): both clients use its classes
        backoff = mock.patch.object(ExponentialBackoff, "delay_amount", quick_backoff)
        backoff.start()
        self.addCleanup(backoff.stop)

    def clients(self, url: str, **config: Any) -> tuple[Any, Any]:
        session: Any = new_session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                   aws_session_token=self.session_token, region_name=self.region)
        retries: Any = self.retries
        settings = Config(retries=retries, proxies={}, read_timeout=self.read_timeout, connect_timeout=2, **config)
        plain = session.client(self.service, endpoint_url=url, config=settings, verify=self.verify)
        self.addCleanup(plain.close)
        wrapped = session.client(self.service, endpoint_url=url, config=settings, verify=self.verify)
        fast = lean_client(wrapped, clock=lambda: FIXED, verify=self.verify or True)
        # The lean client's close closes its own connections, then the botocore client's
        self.addCleanup(fast.close)
        return plain, fast

    def call(self, client: Any, method: str, kwargs: dict[str, Any]) -> Outcome:
        try:
            return Outcome(result=getattr(client, method)(**kwargs))
        except Exception as error:
            return Outcome(error=error)

    def same(self, operation: str, kwargs: dict[str, Any], *answers: Canned) -> tuple[Outcome, list[Recorded]]:
        """Call `operation` through both clients against the same answers; assert same requests and outcome."""
        method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        self.server.answer(*answers)
        plain = self.call(self.plain, method, kwargs)
        plain_requests = self.server.take()
        self.server.answer(*answers)
        sent_before = self.fast.lean_sent[operation]
        lean = self.call(self.fast, method, kwargs)
        lean_requests = self.server.take()
        self.assert_same_requests(plain_requests, lean_requests)
        self.assert_same_outcome(plain, lean)
        # Each request the server saw was the lean client's own: a silent hand-over to botocore cannot pass
        assert_that(self.fast.fallbacks[operation], equal_to(0))
        assert_that(self.fast.lean_sent[operation] - sent_before, is_(equal_to(max(1, len(lean_requests)))))
        return plain, plain_requests

    def assert_same_requests(self, plain: list[Recorded], lean: list[Recorded]) -> None:
        assert_that(len(lean), equal_to(len(plain)))
        for attempt, (ours, theirs) in enumerate(zip(plain, lean, strict=True), start=1):
            for request in (ours, theirs):
                for name in UNSIGNED:
                    assert_that(request.header(name), has_length(1))
                assert_that(request.header("amz-sdk-request")[0], matches_regexp(rf"\battempt={attempt};"))
            assert_that(theirs.header("amz-sdk-invocation-id")[0], matches_regexp(r"^[0-9a-f-]{36}$"))
            assert_that((theirs.method, theirs.path), equal_to((ours.method, ours.path)))
            assert_that(theirs.header("authorization"), equal_to(ours.header("authorization")))
            assert_that(theirs.signed_headers(), equal_to(ours.signed_headers()))
            if theirs.body != ours.body:
                raise AssertionError(f"attempt {attempt}: bodies differ: {difference(ours.body, theirs.body)}")
        # One call is one invocation: its retries repeat the id
        if lean:
            assert_that(len({request.header("amz-sdk-invocation-id")[0] for request in lean}), equal_to(1))

    def assert_same_outcome(self, plain: Outcome, lean: Outcome) -> None:
        if plain.error is None:
            if lean.error is not None:
                raise AssertionError(f"botocore returned {plain.result!r}; the lean client raised {lean.error!r}")
            assert_that(lean.result, equal_to(plain.result))
            return
        if lean.error is None:
            raise AssertionError(f"botocore raised {plain.error!r}; the lean client returned {lean.result!r}")
        assert_that(type(lean.error), same_instance(type(plain.error)))
        assert_that(str(lean.error), equal_to(str(plain.error)))
        if isinstance(plain.error, ClientError):
            assert_that(lean.error.response, equal_to(plain.error.response))  # type: ignore[attr-defined]
            assert_that(lean.error.operation_name, equal_to(plain.error.operation_name))  # type: ignore[attr-defined]


QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/lean-queue"
FIFO_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/lean-queue.fifo"
NON_ASCII = "é, ü, ß; emoji 😀🎉👩‍👩‍👧; CJK 漢字かなカナ한국어; RTL שלום; combining é; tab\tnewline\ncarriage\r"
# About 250 KB once encoded (a few bytes under SQS's 256 KiB with the attributes)
LARGE = ("0123456789abcdef" * 16_000)[:250_000]
LARGE_UNICODE = ("é😀漢" * 25_000)


def attributes() -> dict[str, dict[str, Any]]:
    """Ten message attributes of every data type, custom ones included."""
    return {
        "text": {"DataType": "String", "StringValue": "plain"},
        "unicode": {"DataType": "String", "StringValue": NON_ASCII},
        "number": {"DataType": "Number", "StringValue": "-12.5e3"},
        "count": {"DataType": "Number.int", "StringValue": "42"},
        "blob": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
        "empty.blob": {"DataType": "Binary", "BinaryValue": b"\x00"},
        "image": {"DataType": "Binary.png", "BinaryValue": b"\x89PNG\r\n\x1a\n"},
        "media_type": {"DataType": "String.media-type", "StringValue": "application/vnd.example+json"},
        "Trace-Id": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"},
        "x": {"DataType": "String.é", "StringValue": "x"},
    }


TRACE = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"}}


def wire_attributes(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Attributes as SQS's JSON carries them: binaries in base64."""
    wired: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        wired[name] = {
            key: base64.b64encode(item).decode("ascii") if isinstance(item, bytes) else
            [base64.b64encode(part).decode("ascii") for part in item] if key == "BinaryListValues" else item
            for key, item in value.items()
        }
    return wired


def message(index: int, body: str, **extra: Any) -> dict[str, Any]:
    return {"MessageId": str(uuid.UUID(int=index)), "ReceiptHandle": f"handle-{index}-" + "A" * 120,
            "MD5OfBody": md5(body), "Body": body, **extra}


def sent(index: int) -> dict[str, Any]:
    return {"MessageId": str(uuid.UUID(int=index)), "MD5OfMessageBody": md5(str(index))}


class SqsSuccessTests(Differential):
    """Every SQS operation the lean transport sends, answered with success, compared with botocore."""

    def test_receive_message_nothing(self) -> None:
        """An empty queue: SQS answers `{}`, and both give ResponseMetadata only."""
        plain, _ = self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10}, sqs_answer({}))
        assert_that(plain.result, has_entries(ResponseMetadata=has_entries(RequestId=REQUEST_ID, RetryAttempts=0)))
        assert_that(plain.result, is_not(has_key("Messages")))

    def test_receive_message_empty_list(self) -> None:
        """An explicit empty list of messages."""
        self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL}, sqs_answer({"Messages": []}))

    def test_receive_message_every_parameter(self) -> None:
        """Attribute names, system attribute names, message attribute names, wait, visibility, attempt id."""
        kwargs = {
            "QueueUrl": FIFO_URL, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 20, "VisibilityTimeout": 45,
            "AttributeNames": ["All", "ApproximateReceiveCount"],
            "MessageSystemAttributeNames": ["SenderId", "SentTimestamp", "AWSTraceHeader", "MessageGroupId"],
            "MessageAttributeNames": ["All", "trace.*", "é"], "ReceiveRequestAttemptId": "attempt-é-1",
        }
        system = {"SenderId": "AIDAEXAMPLE", "SentTimestamp": "1767323045000", "ApproximateReceiveCount": "2",
                  "AWSTraceHeader": TRACE["AWSTraceHeader"]["StringValue"], "MessageGroupId": "group-1",
                  "SequenceNumber": "18849496460467696128", "MessageDeduplicationId": "dedup"}
        listed = {"list": {"DataType": "String", "StringListValues": ["a", "é"], "BinaryListValues": [b"\x01\x02"]}}
        body = message(1, NON_ASCII, Attributes=system, MD5OfMessageAttributes=md5("x"),
                       MessageAttributes=wire_attributes({**attributes(), **listed}))
        plain, requests = self.same("ReceiveMessage", kwargs, sqs_answer({"Messages": [body]}))
        received = plain.result["Messages"][0]
        assert_that(received["MessageAttributes"]["blob"]["BinaryValue"], equal_to(bytes(range(256))))
        assert_that(received["MessageAttributes"]["list"]["BinaryListValues"], equal_to([b"\x01\x02"]))
        assert_that(requests[0].header("x-amzn-query-mode"), equal_to(["true"]))

    def test_receive_message_ten(self) -> None:
        """Ten messages, non-ASCII bodies, ~25 KB each (a 250 KB answer), one of every attribute kind."""
        bodies = [f"{index}: {NON_ASCII} " + "漢😀" * 6000 for index in range(10)]
        messages = [message(index, body, Attributes={"SentTimestamp": str(1767323045000 + index)},
                            MessageAttributes=wire_attributes(attributes()), MD5OfMessageAttributes=md5(str(index)))
                    for index, body in enumerate(bodies)]
        plain, _ = self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10},
                             sqs_answer({"Messages": messages}))
        assert_that([item["Body"] for item in plain.result["Messages"]], equal_to(bodies))

    def test_receive_message_answer_oddities(self) -> None:
        """Members the model does not have, nulls, escapes, an ASCII-escaped body: parsed as botocore parses them."""
        raw = (b'{"Messages":[{"MessageId":"m","ReceiptHandle":"r","MD5OfBody":null,'
               b'"Body":"\\u00e9\\ud83d\\ude00\\n\\"","Unknown":{"a":1},"Attributes":{},"MessageAttributes":{"n":{"DataType":"Number","StringValue":"1",'
               b'"BinaryListValues":[],"StringListValues":[]}}}],"NextToken":"ignored"}')
        self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL}, sqs_answer(raw))

    def test_send_message_plain(self) -> None:
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "{}"}, sqs_answer(sent(1)))

    def test_send_message_non_ascii(self) -> None:
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": NON_ASCII, "DelaySeconds": 0},
                  sqs_answer(sent(2)))

    def test_send_message_large(self) -> None:
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": LARGE}, sqs_answer(sent(3)))
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": LARGE_UNICODE[:80_000]}, sqs_answer(sent(4)))

    def test_send_message_attributes(self) -> None:
        """Ten attributes of every kind and the X-Ray trace header as a system attribute."""
        answer = {**sent(5), "MD5OfMessageAttributes": md5("a"), "MD5OfMessageSystemAttributes": md5("s")}
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "body", "DelaySeconds": 5,
                                  "MessageAttributes": attributes(), "MessageSystemAttributes": TRACE},
                  sqs_answer(answer))

    def test_send_message_fifo(self) -> None:
        answer = {**sent(6), "SequenceNumber": "18849496460467696128"}
        self.same("SendMessage", {"QueueUrl": FIFO_URL, "MessageBody": "body", "MessageGroupId": "group-é",
                                  "MessageDeduplicationId": "dedup-1"}, sqs_answer(answer))

    def test_send_message_batch(self) -> None:
        """Ten entries of every kind; the answer fails some, sender's fault and not."""
        entries: list[dict[str, Any]] = [
            {"Id": "plain", "MessageBody": "{}"},
            {"Id": "unicode", "MessageBody": NON_ASCII, "DelaySeconds": 3},
            {"Id": "attributes", "MessageBody": "a", "MessageAttributes": attributes(),
             "MessageSystemAttributes": TRACE},
            {"Id": "fifo", "MessageBody": "f", "MessageGroupId": "g", "MessageDeduplicationId": "d"},
            *({"Id": f"n{index}", "MessageBody": str(index) * 1000} for index in range(6)),
        ]
        answer = {
            "Successful": [{"Id": entry["Id"], "MessageId": str(uuid.UUID(int=index)), "MD5OfMessageBody": md5("x"),
                            "SequenceNumber": "1"} for index, entry in enumerate(entries[:7])],
            "Failed": [{"Id": "n4", "SenderFault": True, "Code": "InvalidParameterValue", "Message": "bad é"},
                       {"Id": "n5", "SenderFault": False, "Code": "InternalError"}],
        }
        plain, _ = self.same("SendMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": entries}, sqs_answer(answer))
        assert_that(plain.result["Failed"], has_length(2))

    def test_send_message_batch_large(self) -> None:
        entries = [{"Id": str(index), "MessageBody": LARGE[:25_000]} for index in range(10)]
        self.same("SendMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": entries}, sqs_answer({"Successful": []}))

    def test_delete_message(self) -> None:
        """An empty JSON object, and an empty body, as answers."""
        kwargs = {"QueueUrl": QUEUE_URL, "ReceiptHandle": "handle-é+/=" + "A" * 300}
        self.same("DeleteMessage", kwargs, sqs_answer({}))
        self.same("DeleteMessage", kwargs, sqs_answer(b""))

    def test_delete_message_batch(self) -> None:
        entries = [{"Id": str(index), "ReceiptHandle": f"handle-{index}"} for index in range(10)]
        answer = {"Successful": [{"Id": str(index)} for index in range(8)],
                  "Failed": [{"Id": "8", "SenderFault": True, "Code": "ReceiptHandleIsInvalid", "Message": "no"},
                             {"Id": "9", "SenderFault": False, "Code": "InternalError", "Message": "later"}]}
        plain, _ = self.same("DeleteMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": entries}, sqs_answer(answer))
        assert_that(plain.result["Failed"][0], has_entries(SenderFault=True))

    def test_change_message_visibility(self) -> None:
        kwargs = {"QueueUrl": QUEUE_URL, "ReceiptHandle": "handle", "VisibilityTimeout": 0}
        self.same("ChangeMessageVisibility", kwargs, sqs_answer({}))
        self.same("ChangeMessageVisibility", {**kwargs, "VisibilityTimeout": 43200}, sqs_answer(b""))

    def test_change_message_visibility_batch(self) -> None:
        entries = [{"Id": str(index), "ReceiptHandle": f"handle-{index}", "VisibilityTimeout": index * 30}
                   for index in range(10)]
        entries[0].pop("VisibilityTimeout")
        answer = {"Successful": [{"Id": str(index)} for index in range(1, 10)],
                  "Failed": [{"Id": "0", "SenderFault": True, "Code": "MessageNotInflight"}]}
        self.same("ChangeMessageVisibilityBatch", {"QueueUrl": QUEUE_URL, "Entries": entries}, sqs_answer(answer))

    def test_connections_are_kept_alive(self) -> None:
        """Calls in a row all succeed over the server's keep-alive connections, the lean path each time."""
        for index in range(5):
            self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": str(index)}, sqs_answer(sent(index)))
        assert_that(self.fast.lean_sent["SendMessage"], equal_to(5))


class ForkTests(Differential):
    """A forked child (`--processes`) opens connections of its own: sharing the parent's would mix their answers."""

    def test_child_does_not_use_the_parents_connections(self) -> None:
        self.server.answer(sqs_answer(sent(1)))
        self.fast.send_message(QueueUrl=QUEUE_URL, MessageBody="parent")
        child = os.fork()
        if child == 0:
            try:
                self.fast.send_message(QueueUrl=QUEUE_URL, MessageBody="child")
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        self.fast.send_message(QueueUrl=QUEUE_URL, MessageBody="parent again")
        parent, child_request, again = self.server.take()
        assert_that(child_request.body.decode(), contains_string("\"child\""))
        assert_that(child_request.port, is_not(equal_to(parent.port)))
        # The parent's connection is still its own, kept alive
        assert_that(again.port, equal_to(parent.port))


class SqsInputOddityTests(Differential):
    """Input botocore takes though it is not the usual type: the lean client sends the same for it."""

    def test_binary_given_as_text_or_bytearray(self) -> None:
        values = {"text": {"DataType": "Binary", "BinaryValue": "é as text"},
                  "array": {"DataType": "Binary", "BinaryValue": bytearray(b"\x00\xff")}}
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "m", "MessageAttributes": values},
                  sqs_answer(sent(1)))

    def test_tuples_for_lists(self) -> None:
        self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL, "MessageAttributeNames": ("All",)}, sqs_answer({}))
        entries = ({"Id": "1", "ReceiptHandle": "r"},)
        self.same("DeleteMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": entries}, sqs_answer({"Successful": []}))

    def test_empty_body(self) -> None:
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": ""}, sqs_answer(sent(1)))

    def test_empty_collections(self) -> None:
        """Empty maps and lists are sent as botocore sends them (SQS, not the client, refuses what it must)."""
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "m", "MessageAttributes": {}},
                  sqs_answer(sent(1)))
        self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL, "AttributeNames": [], "MessageAttributeNames": []},
                  sqs_answer({}))

    def test_integers_the_model_does_not_bound(self) -> None:
        self.same("ChangeMessageVisibility", {"QueueUrl": QUEUE_URL, "ReceiptHandle": "r", "VisibilityTimeout": -1},
                  sqs_answer({}))
        self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 2**40}, sqs_answer({}))

    def test_list_attribute_values(self) -> None:
        """StringListValues and BinaryListValues, which the model has (SQS reserves them)."""
        values = {"list": {"DataType": "String", "StringListValues": ["a", "é"], "BinaryListValues": [b"\x00", b"z"]}}
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "m", "MessageAttributes": values},
                  sqs_answer(sent(1)))


class SqsFramingTests(Differential):
    """The answer's framing and headers as a server or proxy may send them: parsed as botocore parses them."""

    def test_chunked(self) -> None:
        bodies = [message(index, "漢😀" * 800) for index in range(5)]
        answer = sqs_answer({"Messages": bodies})
        chunked = Canned(200, answer.headers, answer.body, framing="chunked")
        self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL}, chunked)

    def test_ended_by_closing(self) -> None:
        answer = sqs_answer(sent(1))
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "m"},
                  Canned(200, answer.headers, answer.body, framing="close"))
        # The next call needs a new connection: both make one
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "m"}, answer)

    def test_server_closes_an_idle_connection(self) -> None:
        """A kept-alive connection the server has since closed: the next call goes out once, on a new one."""
        answer = sqs_answer(sent(1))
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "m"},
                  Canned(200, answer.headers, answer.body, then_close=True))
        # Both clients have seen the close by now (a connection's end comes before the next call)
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "m"}, answer)

    def test_repeated_header(self) -> None:
        answer = sqs_answer(sent(1), headers=(("x-amzn-RequestId", "second"), ("Set-Cookie", "a=1"),
                                              ("Set-Cookie", "b=2"), ("X-Mixed-Case", "Value")))
        self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "m"}, answer)


class SessionTokenTests(Differential):
    """Temporary credentials: the session token is sent and signed as botocore sends and signs it."""

    session_token = "FwoGZXIvYXdzEJr//////////wEaDLean+Token/With=Characters"

    def test_token_is_signed(self) -> None:
        _, requests = self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL}, sqs_answer({}))
        assert_that(requests[0].header("x-amz-security-token"), equal_to([self.session_token]))


class EndpointPathTests(Differential):
    """An endpoint URL with a path (a gateway's prefix), characters to escape in it, a trailing slash."""

    endpoint_path = "/prefix/with space/é~/"

    def test_path_kept_and_signed(self) -> None:
        _, requests = self.same("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": "m"}, sqs_answer(sent(1)))
        assert_that(requests[0].path, matches_regexp(r"^/prefix(/|$)"))


class EndpointPathWithoutSlashTests(EndpointPathTests):
    endpoint_path = "/prefix"


class EndpointPathEscapedTests(EndpointPathTests):
    endpoint_path = "/prefix/with%20space/"


class EndpointPathPlainTests(EndpointPathTests):
    endpoint_path = "/prefix/plain/"


class OtherRegionTests(Differential):
    """A region other than us-east-1 is in the signature's scope, for both."""

    region = "eu-west-1"

    def test_region_signed(self) -> None:
        _, requests = self.same("ReceiveMessage", {"QueueUrl": QUEUE_URL}, sqs_answer({}))
        assert_that(requests[0].header("authorization")[0], matches_regexp("/eu-west-1/sqs/aws4_request"))


class FallbackTests(Differential):
    """Input the lean serializer does not take goes to botocore, whose error the caller gets, and is counted."""

    def assert_falls_back(self, operation: str, method: str, **kwargs: Any) -> None:
        self.server.answer(sqs_answer({}))
        errors: list[BaseException] = []
        for client in (self.plain, self.fast):
            try:
                getattr(client, method)(**kwargs)
            except ParamValidationError as error:
                errors.append(error)
        assert_that(errors, has_length(2))
        assert_that(str(errors[1]), equal_to(str(errors[0])))
        assert_that(errors[1].kwargs, equal_to(errors[0].kwargs))  # type: ignore[attr-defined]
        assert_that(self.fast.fallbacks[operation], equal_to(1))
        assert_that(self.fast.lean_sent[operation], equal_to(0))
        # Refused before anything was sent
        assert_that(self.server.take(), has_length(0))

    def test_unknown_parameter(self) -> None:
        self.assert_falls_back("ReceiveMessage", "receive_message", QueueUrl=QUEUE_URL, Bogus=1)

    def test_wrong_type(self) -> None:
        self.assert_falls_back("ReceiveMessage", "receive_message", QueueUrl=QUEUE_URL, MaxNumberOfMessages="ten")

    def test_missing_required(self) -> None:
        self.assert_falls_back("SendMessage", "send_message", QueueUrl=QUEUE_URL)

    def test_wrong_type_inside_an_entry(self) -> None:
        entries = [{"Id": "1", "ReceiptHandle": "r", "VisibilityTimeout": "30"}]
        self.assert_falls_back("ChangeMessageVisibilityBatch", "change_message_visibility_batch",
                               QueueUrl=QUEUE_URL, Entries=entries)

    def test_wrong_attribute_value_type(self) -> None:
        self.assert_falls_back("SendMessage", "send_message", QueueUrl=QUEUE_URL, MessageBody="b",
                               MessageAttributes={"a": {"DataType": "Binary", "BinaryValue": 5}})


class WrapperTests(Differential):
    """What is not the lean transport's is the botocore client's own."""

    def test_other_attributes_are_botocore_s(self) -> None:
        assert_that(self.fast.meta.service_model.service_name, equal_to("sqs"))
        assert_that(self.fast.exceptions.QueueDoesNotExist, same_instance(self.plain.exceptions.QueueDoesNotExist))
        self.server.answer(sqs_answer({"QueueUrl": QUEUE_URL}))
        assert_that(self.fast.create_queue(QueueName="lean-queue"), has_entries(QueueUrl=QUEUE_URL))
        assert_that(self.fast.fallbacks, instance_of(type(self.fast.lean_sent)))
        assert_that(dict(self.fast.lean_sent), equal_to({}))
