"""The lean transport against botocore for SNS's Publish and PublishBatch (query protocol, XML answers)."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ParamValidationError
from hamcrest import assert_that, equal_to, has_entries, has_length

from microcosm_pubsub.tests.test_lean_transport import (
    LARGE,
    LARGE_UNICODE,
    NON_ASCII,
    REQUEST_ID,
    Differential,
    attributes,
    sns_answer,
)


TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:lean-topic"
FIFO_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:lean-topic.fifo"
NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"


def published(message_id: str = "94f20ce6-13c5-43a0-9a9e-ca52d816e90b", sequence: str | None = None) -> str:
    number = f"<SequenceNumber>{sequence}</SequenceNumber>" if sequence else ""
    return (f'<PublishResponse xmlns="{NAMESPACE}">\n  <PublishResult>\n'
            f"    <MessageId>{message_id}</MessageId>{number}\n  </PublishResult>\n"
            f"  <ResponseMetadata>\n    <RequestId>{REQUEST_ID}</RequestId>\n  </ResponseMetadata>\n"
            "</PublishResponse>\n")


def batch_published(successful: list[str], failed: list[tuple[str, str, str | None, bool]]) -> str:
    good = "".join(f"<member><Id>{item}</Id><MessageId>id-{item}</MessageId></member>" for item in successful)
    bad = "".join(
        f"<member><Id>{item}</Id><Code>{code}</Code>" + (f"<Message>{text}</Message>" if text is not None else "")
        + f"<SenderFault>{str(fault).lower()}</SenderFault></member>" for item, code, text, fault in failed)
    return (f'<PublishBatchResponse xmlns="{NAMESPACE}"><PublishBatchResult><Successful>{good}</Successful>'
            f"<Failed>{bad}</Failed></PublishBatchResult><ResponseMetadata><RequestId>{REQUEST_ID}</RequestId>"
            "</ResponseMetadata></PublishBatchResponse>")


class SnsSuccessTests(Differential):
    """Publish and PublishBatch, answered with success, compared with botocore."""

    service = "sns"

    def test_publish_plain(self) -> None:
        plain, _ = self.same("Publish", {"TopicArn": TOPIC_ARN, "Message": "{}"}, sns_answer(published()))
        assert_that(plain.result, has_entries(MessageId="94f20ce6-13c5-43a0-9a9e-ca52d816e90b"))

    def test_publish_every_parameter(self) -> None:
        """Subject, structure, and the query encoding of characters it must escape."""
        kwargs = {"TopicArn": TOPIC_ARN, "Message": '{"default": "a&b=c+d %20 ~*\'()!"}', "Subject": "Subject é ✓",
                  "MessageStructure": "json"}
        self.same("Publish", kwargs, sns_answer(published()))

    def test_publish_target_and_phone(self) -> None:
        self.same("Publish", {"TargetArn": TOPIC_ARN + ":endpoint", "Message": "m"}, sns_answer(published()))
        self.same("Publish", {"PhoneNumber": "+15555550100", "Message": "m"}, sns_answer(published()))

    def test_publish_non_ascii(self) -> None:
        self.same("Publish", {"TopicArn": TOPIC_ARN, "Message": NON_ASCII}, sns_answer(published()))

    def test_publish_large(self) -> None:
        self.same("Publish", {"TopicArn": TOPIC_ARN, "Message": LARGE}, sns_answer(published()))
        self.same("Publish", {"TopicArn": TOPIC_ARN, "Message": LARGE_UNICODE[:80_000]}, sns_answer(published()))

    def test_publish_attributes(self) -> None:
        self.same("Publish", {"TopicArn": TOPIC_ARN, "Message": "m", "MessageAttributes": attributes()},
                  sns_answer(published()))

    def test_publish_fifo(self) -> None:
        kwargs = {"TopicArn": FIFO_TOPIC_ARN, "Message": "m", "MessageGroupId": "group-é",
                  "MessageDeduplicationId": "dedup-1"}
        plain, _ = self.same("Publish", kwargs, sns_answer(published(sequence="10000000000000003000")))
        assert_that(plain.result, has_entries(SequenceNumber="10000000000000003000"))

    def test_publish_answer_oddities(self) -> None:
        """Entities, character references, CDATA, no namespace, no ResponseMetadata: parsed as botocore parses them."""
        self.same("Publish", {"TopicArn": TOPIC_ARN, "Message": "m"}, sns_answer(
            "<?xml version='1.0' encoding='UTF-8'?><PublishResponse><PublishResult>"
            "<MessageId>a&amp;b&#x1F600;<![CDATA[<c>]]>é</MessageId><Other>x</Other></PublishResult></PublishResponse>"))

    def test_publish_answer_text_oddities(self) -> None:
        """Empty elements, padded text, a capitalised boolean, a prefixed namespace."""
        self.same("Publish", {"TopicArn": TOPIC_ARN, "Message": "m"}, sns_answer(
            f'<PublishResponse xmlns="{NAMESPACE}"><PublishResult><MessageId/><SequenceNumber>\n  7 \n'
            "</SequenceNumber></PublishResult></PublishResponse>"))
        self.same("Publish", {"TopicArn": TOPIC_ARN, "Message": "m"}, sns_answer(
            f'<sns:PublishResponse xmlns:sns="{NAMESPACE}"><sns:PublishResult><sns:MessageId>x</sns:MessageId>'
            "</sns:PublishResult></sns:PublishResponse>"))
        batch = (f'<PublishBatchResponse xmlns="{NAMESPACE}"><PublishBatchResult><Successful/><Failed><member>'
                 "<Id>1</Id><Code>C</Code><SenderFault>True</SenderFault></member><member><Id>2</Id><Code>C</Code>"
                 "<SenderFault> true </SenderFault></member></Failed></PublishBatchResult></PublishBatchResponse>")
        self.same("PublishBatch", {"TopicArn": TOPIC_ARN, "PublishBatchRequestEntries": [
            {"Id": "1", "Message": "m"}, {"Id": "2", "Message": "m"}]}, sns_answer(batch))

    def test_publish_empty_values(self) -> None:
        self.same("Publish", {"TopicArn": TOPIC_ARN, "Message": "", "Subject": "", "MessageAttributes": {}},
                  sns_answer(published()))
        self.same("PublishBatch", {"TopicArn": TOPIC_ARN, "PublishBatchRequestEntries": []},
                  sns_answer(batch_published([], [])))

    def test_publish_batch(self) -> None:
        """Ten entries of every kind; the answer fails some, the sender's fault and not."""
        entries: list[dict[str, Any]] = [
            {"Id": "plain", "Message": "{}"},
            {"Id": "unicode", "Message": NON_ASCII, "Subject": "é"},
            {"Id": "attributes", "Message": "a", "MessageAttributes": attributes()},
            {"Id": "fifo", "Message": "f", "MessageGroupId": "g", "MessageDeduplicationId": "d"},
            {"Id": "structure", "Message": '{"default": "x"}', "MessageStructure": "json"},
            *({"Id": f"n{index}", "Message": str(index) * 1000} for index in range(5)),
        ]
        answer = batch_published(
            ["plain", "unicode", "attributes", "fifo", "structure", "n0", "n1"],
            [("n2", "InvalidParameter", "bad é &amp; worse", True), ("n3", "InternalError", None, False),
             ("n4", "KMSThrottling", "", False)])
        plain, _ = self.same("PublishBatch", {"TopicArn": TOPIC_ARN, "PublishBatchRequestEntries": entries},
                             sns_answer(answer))
        assert_that(plain.result["Failed"], has_length(3))
        assert_that(plain.result["Failed"][0], has_entries(SenderFault=True, Message="bad é & worse"))

    def test_publish_batch_large(self) -> None:
        entries = [{"Id": str(index), "Message": LARGE[:25_000]} for index in range(10)]
        self.same("PublishBatch", {"TopicArn": TOPIC_ARN, "PublishBatchRequestEntries": entries},
                  sns_answer(batch_published([str(index) for index in range(10)], [])))

    def test_publish_batch_empty_lists(self) -> None:
        """An answer with self-closing (empty) Successful and Failed."""
        answer = (f'<PublishBatchResponse xmlns="{NAMESPACE}"><PublishBatchResult><Successful/><Failed/>'
                  f"</PublishBatchResult><ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata>"
                  "</PublishBatchResponse>")
        plain, _ = self.same("PublishBatch", {"TopicArn": TOPIC_ARN,
                                              "PublishBatchRequestEntries": [{"Id": "1", "Message": "m"}]},
                             sns_answer(answer))
        assert_that(plain.result["Successful"], equal_to([]))


class SnsFallbackTests(Differential):
    """Input the lean serializer does not take: botocore's validation error, counted as a fallback."""

    service = "sns"

    def test_wrong_types(self) -> None:
        wrong_attribute = {"a": {"DataType": "String", "StringValue": 1}}
        cases: list[tuple[str, dict[str, Any]]] = [
            ("publish", {"TopicArn": TOPIC_ARN, "Message": 5}),
            ("publish", {"TopicArn": TOPIC_ARN, "Message": "m", "Unknown": "x"}),
            ("publish_batch", {"TopicArn": TOPIC_ARN, "PublishBatchRequestEntries": [
                {"Id": "1", "Message": "m", "MessageAttributes": wrong_attribute}]}),
        ]
        for method, kwargs in cases:
            errors = []
            for client in (self.plain, self.fast):
                try:
                    getattr(client, method)(**kwargs)
                except ParamValidationError as error:
                    errors.append(str(error))
            assert_that(errors, has_length(2))
            assert_that(errors[1], equal_to(errors[0]))
        assert_that(dict(self.fast.fallbacks), equal_to({"Publish": 2, "PublishBatch": 1}))
        assert_that(dict(self.fast.lean_sent), equal_to({}))
        assert_that(self.server.take(), has_length(0))
