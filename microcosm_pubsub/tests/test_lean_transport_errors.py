"""The lean transport against botocore when the answer is an error: same exception class, message and response.

SQS's JSON errors (query-compatible codes or not), SNS's XML ones, bodies that are neither, and botocore's
standard retry mode deciding what to try again (its backoff sleeps cut to nothing; its decisions kept).
"""
from __future__ import annotations

import json
from typing import Any
from unittest import mock

from botocore.retries.standard import ExponentialBackoff
from hamcrest import assert_that, equal_to, has_entries, has_length, instance_of

from microcosm_pubsub.tests.test_lean_transport import (
    NON_ASCII,
    QUEUE_URL,
    REQUEST_ID,
    Canned,
    Differential,
    sent,
    sns_answer,
    sqs_answer,
)
from microcosm_pubsub.tests.test_lean_transport_sns import NAMESPACE, TOPIC_ARN, published


RECEIVE = {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10}
SEND = {"QueueUrl": QUEUE_URL, "MessageBody": "m"}
PUBLISH = {"TopicArn": TOPIC_ARN, "Message": "m"}
PROXY_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"


def sqs_error(kind: str, message: str | None = "The specified queue does not exist.", status: int = 400,
              query: str | None = None, message_key: str = "message", content_type: str | None = None) -> Canned:
    """An SQS JSON error: `__type` `kind`, optionally the query-compatible code header SQS adds."""
    payload: dict[str, Any] = {"__type": kind}
    if message is not None:
        payload[message_key] = message
    headers = (("x-amzn-query-error", query),) if query else ()
    canned = sqs_answer(payload, status=status, headers=headers)
    if content_type is not None:
        canned = Canned(canned.status, tuple((name, content_type) if name == "Content-Type" else (name, value)
                                             for name, value in canned.headers), canned.body)
    return canned


def sns_error(code: str, message: str, status: int = 400, kind: str = "Sender") -> Canned:
    return sns_answer(f'<ErrorResponse xmlns="{NAMESPACE}">\n  <Error>\n    <Type>{kind}</Type>\n'
                      f"    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n"
                      f"  <RequestId>{REQUEST_ID}</RequestId>\n</ErrorResponse>\n", status=status)


class SqsErrorTests(Differential):
    """SQS's error answers, each raised as botocore raises it."""

    def test_queue_does_not_exist_with_query_code(self) -> None:
        """The query-compatible code names the modeled error: QueueDoesNotExist, from the client's own classes."""
        answer = sqs_error("com.amazonaws.sqs#QueueDoesNotExist",
                           query="AWS.SimpleQueueService.NonExistentQueue;Sender")
        plain, _ = self.same("ReceiveMessage", RECEIVE, answer)
        assert_that(plain.error, instance_of(self.plain.exceptions.QueueDoesNotExist))
        self.same("SendMessage", SEND, answer)
        self.same("DeleteMessage", {"QueueUrl": QUEUE_URL, "ReceiptHandle": "r"}, answer)

    def test_queue_does_not_exist_without_query_code(self) -> None:
        plain, _ = self.same("ReceiveMessage", RECEIVE, sqs_error("com.amazonaws.sqs#QueueDoesNotExist"))
        assert_that(plain.error, instance_of(self.plain.exceptions.ClientError))

    def test_capitalised_message(self) -> None:
        """`Message` where SQS usually writes `message`; and neither."""
        self.same("ReceiveMessage", RECEIVE, sqs_error(
            "com.amazonaws.sqs#QueueDoesNotExist", message_key="Message",
            query="AWS.SimpleQueueService.NonExistentQueue;Sender"))
        self.same("ReceiveMessage", RECEIVE, sqs_error("com.amazonaws.sqs#InvalidAddress", message=None))

    def test_modeled_errors_of_each_operation(self) -> None:
        """Codes SQS gives these operations, query-compatible or not, non-ASCII messages included."""
        cases: list[tuple[str, dict[str, Any], Canned]] = [
            ("ReceiveMessage", RECEIVE, sqs_error("com.amazonaws.sqs#OverLimit", NON_ASCII, query="OverLimit;Sender",
                                                  status=403)),
            ("SendMessage", SEND, sqs_error("com.amazonaws.sqs#InvalidMessageContents", "bad é",
                                            query="InvalidMessageContents;Sender")),
            ("DeleteMessage", {"QueueUrl": QUEUE_URL, "ReceiptHandle": "r"},
             sqs_error("com.amazonaws.sqs#ReceiptHandleIsInvalid", "gone", query="ReceiptHandleIsInvalid;Sender")),
            ("ChangeMessageVisibility", {"QueueUrl": QUEUE_URL, "ReceiptHandle": "r", "VisibilityTimeout": 1},
             sqs_error("com.amazonaws.sqs#MessageNotInflight", "no",
                       query="AWS.SimpleQueueService.MessageNotInflight;Sender")),
            ("SendMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "1", "MessageBody": "m"}] * 2},
             sqs_error("com.amazonaws.sqs#BatchEntryIdsNotDistinct", "twice",
                       query="AWS.SimpleQueueService.BatchEntryIdsNotDistinct;Sender")),
            ("DeleteMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "1", "ReceiptHandle": "r"}]},
             sqs_error("com.amazonaws.sqs#TooManyEntriesInBatchRequest", "many",
                       query="AWS.SimpleQueueService.TooManyEntriesInBatchRequest;Sender")),
            ("ChangeMessageVisibilityBatch", {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "1", "ReceiptHandle": "r"}]},
             sqs_error("com.amazonaws.sqs#EmptyBatchRequest", "none",
                       query="AWS.SimpleQueueService.EmptyBatchRequest;Sender")),
            ("SendMessage", SEND, sqs_error("com.amazonaws.sqs#KmsThrottled", "slow",
                                            query="KMS.ThrottlingException;Sender")),
            ("SendMessage", SEND, sqs_error("com.amazon.coral.service#AccessDeniedException", "denied", status=403,
                                            message_key="Message")),
            ("SendMessage", SEND, sqs_error("com.amazon.coral.service#UnrecognizedClientException", "who?",
                                            query="InvalidClientTokenId;Sender", status=403)),
            ("SendMessage", SEND, sqs_error("com.amazonaws.sqs#InvalidParameterValue", "odd",
                                            content_type="application/json")),
        ]
        for operation, kwargs, answer in cases:
            with self.subTest(operation=operation, answer=answer.body):
                self.same(operation, kwargs, answer)

    def test_error_type_in_a_header(self) -> None:
        """A code in `x-amzn-ErrorType` (no `__type`), as some front ends send it."""
        answer = sqs_answer({"message": "no"}, status=400, headers=(
            ("x-amzn-ErrorType", "AWS.SimpleQueueService.NonExistentQueue:http://internal.amazon.com/"),))
        self.same("ReceiveMessage", RECEIVE, answer)

    def test_bodies_that_are_not_json(self) -> None:
        """A proxy's HTML page (a 502, retried until the attempts run out), an empty 4xx, a 413 in text."""
        proxy = Canned(502, (("Content-Type", "text/html"),), PROXY_PAGE)
        plain, requests = self.same("ReceiveMessage", RECEIVE, proxy)
        assert_that(plain.error.response["ResponseMetadata"], has_entries(MaxAttemptsReached=True))  # type: ignore[union-attr]
        assert_that(len(requests), equal_to(plain.error.response["ResponseMetadata"]["RetryAttempts"] + 1))  # type: ignore[union-attr]
        self.same("ReceiveMessage", RECEIVE, Canned(403))
        self.same("SendMessage", SEND, Canned(413, (("Content-Type", "text/plain"),), b"Request Entity Too Large"))
        self.same("SendMessage", SEND, sqs_answer(b'{"__type": "com.amazonaws.sqs#Trunc', status=400))

    def test_success_status_with_a_body_that_is_not_json(self) -> None:
        self.same("ReceiveMessage", RECEIVE, Canned(200, (("Content-Type", "text/html"),), PROXY_PAGE))
        self.same("SendMessage", SEND, sqs_answer(b"[1, 2]"))


class SqsRetryTests(Differential):
    """botocore's standard retry mode, decision for decision."""

    def test_server_error_then_success(self) -> None:
        plain, requests = self.same("ReceiveMessage", RECEIVE, sqs_error("InternalError", "later", status=500),
                                    sqs_answer({}))
        assert_that(requests, has_length(2))
        assert_that(plain.result["ResponseMetadata"], has_entries(RetryAttempts=1))

    def test_throttling_then_success(self) -> None:
        _, requests = self.same("SendMessage", SEND, sqs_error("ThrottlingException", "slow down"),
                                sqs_answer(sent(1)))
        assert_that(requests, has_length(2))
        self.same("SendMessage", SEND, sqs_error("com.amazonaws.sqs#RequestThrottled", "slow",
                                                 query="RequestThrottled;Sender"), sqs_answer(sent(1)))

    def test_unavailable_every_time(self) -> None:
        """503s until the attempts run out: the same error, `MaxAttemptsReached` and `RetryAttempts` alike."""
        plain, requests = self.same("DeleteMessageBatch", {"QueueUrl": QUEUE_URL,
                                                           "Entries": [{"Id": "1", "ReceiptHandle": "r"}]},
                                    sqs_answer(b"", status=503))
        assert_that(plain.error.response["ResponseMetadata"],  # type: ignore[union-attr]
                    has_entries(MaxAttemptsReached=True, RetryAttempts=len(requests) - 1))
        assert_that(len(requests), equal_to(self.plain.meta.config.retries["total_max_attempts"]))

    def test_retry_then_an_error_that_is_not_retried(self) -> None:
        plain, _ = self.same("ReceiveMessage", RECEIVE, Canned(500, (), b"oops"), sqs_error(
            "com.amazonaws.sqs#QueueDoesNotExist", query="AWS.SimpleQueueService.NonExistentQueue;Sender"))
        assert_that(plain.error.response["ResponseMetadata"], has_entries(RetryAttempts=1))  # type: ignore[union-attr]

    def test_retry_after_header(self) -> None:
        """A 503 with `x-amz-retry-after`, then success."""
        self.same("SendMessage", SEND, Canned(503, (("x-amz-retry-after", "10"),), b""), sqs_answer(sent(2)))

    def test_dropped_connection(self) -> None:
        """The server reads a request and closes the connection without answering; the retry succeeds."""
        self.same("SendMessage", SEND, Canned(200, drop=True), sqs_answer(sent(3)))

    def test_dropped_kept_alive_connection(self) -> None:
        """The same on a connection a call before kept alive: botocore retries it as any dropped connection."""
        self.same("SendMessage", SEND, sqs_answer(sent(4)))
        self.same("SendMessage", SEND, Canned(200, drop=True), sqs_answer(sent(5)))

    def test_dropped_every_time(self) -> None:
        """Dropped until the attempts run out: botocore's ConnectionClosedError from both."""
        _, requests = self.same("SendMessage", SEND, Canned(200, drop=True))
        assert_that(len(requests), equal_to(self.plain.meta.config.retries["total_max_attempts"]))


class DefaultAttemptsTests(Differential):
    """Standard mode with no attempts configured: botocore's default number, the same for both."""

    retries = {"mode": "standard"}

    def test_unavailable_every_time(self) -> None:
        plain, _ = self.same("SendMessage", SEND, sqs_answer(b"", status=503))
        assert_that(plain.error.response["ResponseMetadata"], has_entries(MaxAttemptsReached=True))  # type: ignore[union-attr]


class TotalAttemptsTests(DefaultAttemptsTests):
    retries = {"mode": "standard", "total_max_attempts": 2}


class NoRetryTests(DefaultAttemptsTests):
    retries = {"mode": "standard", "max_attempts": 0}


class RetryQuotaTests(Differential):
    """botocore's retry quota: once failures have spent it, neither client retries any more."""

    def test_quota_runs_out_alike(self) -> None:
        unavailable = sqs_answer(b"", status=503)
        counts = []
        for _ in range(40):
            _, requests = self.same("ReceiveMessage", RECEIVE, unavailable)
            counts.append(len(requests))
        # Retries while the quota lasted, then single tries: the same sequence for both (compared call by call)
        assert_that(counts[-1], equal_to(1))
        assert_that(counts[0], equal_to(self.plain.meta.config.retries["total_max_attempts"]))


class SnsErrorTests(Differential):
    """SNS's XML error answers, and answers that are not XML."""

    service = "sns"

    def test_modeled_errors(self) -> None:
        cases = [
            ("NotFound", "Topic does not exist", 404), ("InvalidParameter", "Invalid parameter: Message é", 400),
            ("AuthorizationError", "User is not authorized", 403), ("KMSNotFound", "no key", 400),
            ("EndpointDisabled", "off", 400), ("InvalidParameterValue", "a &amp; b &lt;c&gt;", 400),
        ]
        for code, message, status in cases:
            with self.subTest(code=code):
                plain, _ = self.same("Publish", PUBLISH, sns_error(code, message, status))
                assert_that(plain.error, instance_of(self.plain.exceptions.ClientError))
        plain, _ = self.same("Publish", PUBLISH, sns_error("NotFound", "Topic does not exist", 404))
        assert_that(plain.error, instance_of(self.plain.exceptions.NotFoundException))

    def test_batch_errors(self) -> None:
        entries = {"TopicArn": TOPIC_ARN, "PublishBatchRequestEntries": [{"Id": "1", "Message": "m"}]}
        for code in ("BatchEntryIdsNotDistinct", "TooManyEntriesInBatchRequest", "EmptyBatchRequest",
                     "BatchRequestTooLong", "InvalidBatchEntryId", "NotFound"):
            with self.subTest(code=code):
                self.same("PublishBatch", entries, sns_error(code, "no"))

    def test_unknown_code(self) -> None:
        self.same("Publish", PUBLISH, sns_error("SomethingNew", "new", 400))
        self.same("Publish", PUBLISH, sns_error("InternalFailure", "ours", 500, kind="Receiver"))

    def test_throttling_then_success(self) -> None:
        plain, requests = self.same("Publish", PUBLISH, sns_error("Throttling", "Rate exceeded"),
                                    sns_answer(published()))
        assert_that(requests, has_length(2))
        assert_that(plain.result["ResponseMetadata"], has_entries(RetryAttempts=1))

    def test_throttling_every_time(self) -> None:
        plain, _ = self.same("PublishBatch", {"TopicArn": TOPIC_ARN,
                                              "PublishBatchRequestEntries": [{"Id": "1", "Message": "m"}]},
                             sns_error("Throttling", "Rate exceeded"))
        assert_that(plain.error.response["ResponseMetadata"], has_entries(MaxAttemptsReached=True))  # type: ignore[union-attr]

    def test_server_error_then_success(self) -> None:
        self.same("Publish", PUBLISH, sns_error("InternalError", "later", 500, kind="Receiver"),
                  sns_answer(published()))

    def test_answers_that_are_not_xml(self) -> None:
        self.same("Publish", PUBLISH, sns_answer("Forbidden", status=403, content_type="text/plain"))
        self.same("Publish", PUBLISH, Canned(502, (("Content-Type", "text/html"),), PROXY_PAGE))
        self.same("Publish", PUBLISH, sns_answer(json.dumps({"message": "json?"}), status=400,
                                                 content_type="application/json"))
        self.same("Publish", PUBLISH, sns_answer("<ErrorResponse><Error><Code>Trunc", status=400))
        self.same("Publish", PUBLISH, Canned(400))

    def test_success_status_with_a_body_that_is_not_xml(self) -> None:
        self.same("Publish", PUBLISH, Canned(200, (("Content-Type", "text/html"),), PROXY_PAGE))


class ZeroBackoffTests(Differential):
    """A backoff of no time at all (botocore's jitter can draw 0) is still a retry."""

    def test_zero_delay_still_retries(self) -> None:
        with mock.patch.object(ExponentialBackoff, "delay_amount", return_value=0.0):
            plain, requests = self.same("ReceiveMessage", RECEIVE, Canned(500, (), b"oops"), sqs_answer({}))
        assert_that(requests, has_length(2))
        assert_that(plain.result["ResponseMetadata"], has_entries(RetryAttempts=1))
