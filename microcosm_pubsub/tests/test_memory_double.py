"""The in-memory SNS/SQS double: boto3's model, and the SQS and SNS behaviours the core relies on."""
from __future__ import annotations

import inspect
import json
import re
import threading
import time
import unittest
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import OperationModel
from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    empty,
    equal_to,
    has_entries,
    has_key,
    has_length,
    is_,
    is_not,
    raises,
)

from microcosm_pubsub.aws.memory import (
    MemoryAWS,
    MemoryClient,
    MemorySNS,
    MemorySQS,
    md5,
)
from microcosm_pubsub.aws.provisioning import Stack, provision


# Where an operation reads a parameter: p["Name"] or p.get("Name"
READS = re.compile(r'\bp(?:\.get\(|\[)"(\w+)"')


def served(client: Any, memory: type[MemoryClient]) -> dict[str, OperationModel]:
    """The operations `memory` serves behind `client` (its methods named as boto3's), with their models."""
    names = client.meta.method_to_api_mapping
    return {name: client.meta.service_model.operation_model(names[name]) for name in set(vars(memory)) & set(names)}


class ModelTests(unittest.TestCase):
    """Each operation the double serves reads only the model's parameters and answers only its output names."""

    def check_methods(self, client: Any, memory: type[MemoryClient]) -> None:
        inputs = [model.input_shape for model in served(client, memory).values()]
        members = {member for shape in inputs if shape is not None for member in shape.members}
        assert_that(set(READS.findall(inspect.getsource(memory))) - members, is_(empty()))

    def test_sqs_methods_read_the_models_parameters(self) -> None:
        """Each parameter the SQS double reads is one of the model's for an operation it serves."""
        self.check_methods(MemoryAWS().sqs, MemorySQS)

    def test_sns_methods_read_the_models_parameters(self) -> None:
        """Each parameter the SNS double reads is one of the model's for an operation it serves."""
        self.check_methods(MemoryAWS().sns, MemorySNS)

    def test_required_parameters_are_the_models(self) -> None:
        """Each operation served refuses a call without the parameters the model requires, as boto3 does."""
        world = MemoryAWS()
        for client, memory in ((world.sns, MemorySNS), (world.sqs, MemorySQS)):
            for name, model in served(client, memory).items():
                if model.input_shape is not None and model.input_shape.required_members:
                    assert_that(calling(getattr(client, name)), raises(ParamValidationError, "Missing required"))

    def test_answers_carry_only_the_models_output_names(self) -> None:
        """Each answer of a round trip through both services names only the model's output members."""
        world = MemoryAWS()
        answers: list[tuple[OperationModel, dict[str, Any]]] = []
        for client in (world.sns, world.sqs):
            client.meta.events.register(
                f"after-call.{client.meta.service_model.service_name}",
                lambda parsed, model, **_: answers.append((model, parsed)),
            )
        round_trip(world)
        for model, answer in answers:
            if "Error" in answer:
                # A refusal, as provisioning meets one asking for a queue before it is made
                continue
            allowed = {"ResponseMetadata", *(model.output_shape.members if model.output_shape else ())}
            assert_that((model.name, set(answer) - allowed), is_(equal_to((model.name, set()))))
        every = {*served(world.sns, MemorySNS), *served(world.sqs, MemorySQS)}
        assert_that({xform_name(model.name) for model, _ in answers}, is_(equal_to(every)))

    def test_an_operation_not_served_answers_metadata_only(self) -> None:
        """An operation of the model the double does not serve answers with metadata and nothing else."""
        answer = MemoryAWS().sqs.list_dead_letter_source_queues(QueueUrl="q")
        assert_that(set(answer), is_(equal_to({"ResponseMetadata"})))

    def test_unknown_parameters_are_refused_as_boto3_does(self) -> None:
        """A parameter the model does not define raises botocore's ParamValidationError."""
        sqs = MemoryAWS().sqs
        assert_that(calling(sqs.receive_message).with_args(QueueUrl="q", Limit=3), raises(ParamValidationError))

    def test_positional_arguments_are_refused(self) -> None:
        """boto3 methods take keyword arguments only; so do the double's."""
        assert_that(calling(MemoryAWS().sqs.get_queue_url).with_args("q"), raises(TypeError, "keyword"))


def stack_on(world: MemoryAWS, name: str, **kwargs: Any) -> Stack:
    return provision(*world.clients(), name, **kwargs)


def round_trip(world: MemoryAWS) -> None:
    """Every operation once: provision a stack, publish, receive, settle, list and tear down."""
    sns, sqs = world.sns, world.sqs
    # Twice: the second run reads what the first made
    stack_on(world, "trip", filter_media_types=["a"])
    stack = stack_on(world, "trip", filter_media_types=["a"])
    sns.publish(TopicArn=stack.topic_arn, Message="{}", MessageAttributes=STRING("a"))
    sns.publish_batch(TopicArn=stack.topic_arn, PublishBatchRequestEntries=[{"Id": "0", "Message": "{}"}])
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="x")
    sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=[{"Id": "0", "MessageBody": "y"}])
    handles = [m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=3)[
        "Messages"]]
    sqs.change_message_visibility(QueueUrl=stack.queue_url, ReceiptHandle=handles[0], VisibilityTimeout=5)
    sqs.change_message_visibility_batch(QueueUrl=stack.queue_url, Entries=[
        {"Id": "0", "ReceiptHandle": handles[1], "VisibilityTimeout": 5}])
    sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=handles[0])
    sqs.delete_message_batch(QueueUrl=stack.queue_url, Entries=[{"Id": "0", "ReceiptHandle": handles[1]}])
    sqs.list_queues(QueueNamePrefix="trip")
    sns.list_subscriptions()
    sns.get_topic_attributes(TopicArn=stack.topic_arn)
    sns.set_subscription_attributes(SubscriptionArn=stack.subscription_arn, AttributeName="FilterPolicy",
                                    AttributeValue="{}")
    sqs.delete_queue(QueueUrl=stack.queue_url)
    sns.delete_topic(TopicArn=stack.topic_arn)


def STRING(value: str) -> dict[str, Any]:
    return {"media_type": {"DataType": "String", "StringValue": value}}


class SQSTests(unittest.TestCase):
    def setUp(self) -> None:
        self.world = MemoryAWS()
        self.sqs: Any = self.world.sqs
        self.url = self.sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]

    def receive(self, **kwargs: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(QueueUrl=self.url, **kwargs)["Messages"]
        return messages

    def test_send_answers_the_bodys_md5(self) -> None:
        """send_message answers the MD5 of the body, and the received message carries it too."""
        sent = self.sqs.send_message(QueueUrl=self.url, MessageBody="hello")
        assert_that(sent["MD5OfMessageBody"], is_(equal_to("5d41402abc4b2a76b9719d911017c592")))
        assert_that(self.receive()[0]["MD5OfBody"], is_(equal_to(md5("hello"))))

    def test_a_received_message_is_hidden_for_its_visibility_timeout(self) -> None:
        """A received message is not received again while its visibility timeout runs."""
        self.sqs.send_message(QueueUrl=self.url, MessageBody="once")
        assert_that(self.receive(), has_length(1))
        assert_that(self.receive(), is_(empty()))

    def test_visibility_zero_makes_it_visible_with_a_higher_receive_count(self) -> None:
        """A message made visible again is received again with ApproximateReceiveCount 2."""
        self.sqs.send_message(QueueUrl=self.url, MessageBody="again")
        handle = self.receive()[0]["ReceiptHandle"]
        self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=handle, VisibilityTimeout=0)
        again = self.receive(AttributeNames=["ApproximateReceiveCount"])
        assert_that(again[0]["Attributes"], is_(equal_to({"ApproximateReceiveCount": "2"})))

    def test_receive_visibility_timeout_overrides_the_queues(self) -> None:
        """VisibilityTimeout on receive hides the message that long, not for the queue's 30 s."""
        self.sqs.send_message(QueueUrl=self.url, MessageBody="short")
        self.receive(VisibilityTimeout=1)
        time.sleep(1.05)
        assert_that(self.receive(), has_length(1))

    def test_long_poll_returns_when_a_message_arrives(self) -> None:
        """WaitTimeSeconds waits for the first message and returns as soon as one is sent."""
        timer = threading.Timer(0.2, lambda: self.sqs.send_message(QueueUrl=self.url, MessageBody="late"))
        timer.start()
        started = time.monotonic()
        messages = self.receive(WaitTimeSeconds=5)
        assert_that((len(messages), time.monotonic() - started < 2), is_(equal_to((1, True))))

    def test_receive_gives_at_most_max_number_of_messages(self) -> None:
        """MaxNumberOfMessages bounds a receive, and more than ten is refused."""
        self.sqs.send_message_batch(QueueUrl=self.url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(5)])
        assert_that(self.receive(MaxNumberOfMessages=3), has_length(3))
        assert_that(calling(self.receive).with_args(MaxNumberOfMessages=11), raises(ClientError, "OverLimit"))

    def test_attributes_are_those_asked_for(self) -> None:
        """Message attributes come back by name, by prefix or all, and not at all unless asked."""
        self.sqs.send_message(QueueUrl=self.url, MessageBody="a", MessageAttributes={
            "x.one": {"DataType": "String", "StringValue": "1"}, "y": {"DataType": "String", "StringValue": "2"},
        })
        handle = self.receive(MessageAttributeNames=["x.*"])[0]
        assert_that(set(handle["MessageAttributes"]), is_(equal_to({"x.one"})))
        self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=handle["ReceiptHandle"],
                                           VisibilityTimeout=0)
        assert_that(self.receive()[0], is_not(has_key("MessageAttributes")))

    def test_batch_failures_are_per_entry(self) -> None:
        """A batch with an unknown receipt handle answers it in Failed and the others in Successful."""
        self.sqs.send_message(QueueUrl=self.url, MessageBody="a")
        handle = self.receive()[0]["ReceiptHandle"]
        response = self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
            {"Id": "good", "ReceiptHandle": handle}, {"Id": "bad", "ReceiptHandle": "nonsense"},
        ])
        assert_that(response["Successful"], contains_exactly({"Id": "good"}))
        assert_that(response["Failed"], contains_exactly(has_entries(Id="bad", Code="ReceiptHandleIsInvalid")))

    def test_visibility_through_a_stale_handle_fails(self) -> None:
        """Changing visibility through the handle of an earlier receive fails for that entry as MessageNotInflight."""
        self.sqs.send_message(QueueUrl=self.url, MessageBody="a")
        handle = self.receive(VisibilityTimeout=0)[0]["ReceiptHandle"]
        self.receive()
        response = self.sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=[
            {"Id": "0", "ReceiptHandle": handle, "VisibilityTimeout": 10}])
        assert_that(response["Failed"], contains_exactly(has_entries(Code="MessageNotInflight")))

    def test_duplicate_batch_ids_are_refused(self) -> None:
        """Two entries with one Id refuse the whole batch, as SQS does."""
        entries = [{"Id": "0", "MessageBody": "a"}, {"Id": "0", "MessageBody": "b"}]
        assert_that(calling(self.sqs.send_message_batch).with_args(QueueUrl=self.url, Entries=entries),
                    raises(self.sqs.exceptions.BatchEntryIdsNotDistinct))

    def test_a_missing_queue_raises_queue_does_not_exist(self) -> None:
        """An unknown queue raises the modeled QueueDoesNotExist, naming the operation."""
        assert_that(calling(self.sqs.get_queue_url).with_args(QueueName="nope"),
                    raises(self.sqs.exceptions.QueueDoesNotExist, "GetQueueUrl"))

    def test_counts_visible_and_in_flight(self) -> None:
        """get_queue_attributes counts visible and in-flight messages."""
        self.sqs.send_message_batch(QueueUrl=self.url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(3)])
        self.receive()
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        assert_that(attributes, has_entries(ApproximateNumberOfMessages="2", ApproximateNumberOfMessagesNotVisible="1"))

    def test_redrive_moves_an_over_received_message(self) -> None:
        """Past maxReceiveCount a message moves to the dead-letter queue instead of being received."""
        dead = self.sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sqs.set_queue_attributes(QueueUrl=self.url, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1})})
        self.sqs.send_message(QueueUrl=self.url, MessageBody="poison")
        self.receive(VisibilityTimeout=0)
        assert_that((self.receive(), len(self.sqs.receive_message(QueueUrl=dead)["Messages"])), is_(equal_to(([], 1))))

    def test_fifo_group_waits_for_its_message_in_flight(self) -> None:
        """A FIFO group hands out nothing more while one of its messages is in flight; other groups go on."""
        url = self.sqs.create_queue(QueueName="w.fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        for body, group in (("a1", "a"), ("a2", "a"), ("b1", "b")):
            self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
        first = self.sqs.receive_message(QueueUrl=url)["Messages"]
        second = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert_that([m["Body"] for m in first + second], is_(equal_to(["a1", "b1"])))

    def test_fifo_deduplicates(self) -> None:
        """The same body sent twice to a content-deduplicated FIFO queue is there once."""
        url = self.sqs.create_queue(QueueName="d.fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        for _ in range(2):
            self.sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
        assert_that(self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"], has_length(1))

    def test_calls_emit_botocores_events(self) -> None:
        """before-call and after-call fire with the operation's model, as on a real client."""
        seen: list[str] = []
        self.sqs.meta.events.register("before-call.sqs", lambda model, **_: seen.append(model.name))
        self.receive()
        assert_that(seen, is_(equal_to(["ReceiveMessage"])))


class SNSTests(unittest.TestCase):
    def setUp(self) -> None:
        self.world = MemoryAWS()
        self.sns: Any = self.world.sns
        self.sqs: Any = self.world.sqs

    def received(self, url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
        return messages

    def test_publish_reaches_the_queue_in_snss_envelope(self) -> None:
        """A publish lands on the subscribed queue as SNS's notification, its attributes inside."""
        stack = stack_on(self.world, "fan")
        sent = self.sns.publish(TopicArn=stack.topic_arn, Message="hi", MessageAttributes=STRING("a"))
        envelope = json.loads(self.received(stack.queue_url)[0]["Body"])
        assert_that(envelope, has_entries(
            Type="Notification", Message="hi", MessageId=sent["MessageId"], TopicArn=stack.topic_arn,
            MessageAttributes={"media_type": {"Type": "String", "Value": "a"}},
        ))

    def test_raw_delivery_passes_body_and_attributes(self) -> None:
        """With RawMessageDelivery the body is the message and its attributes are the SQS message's."""
        stack = stack_on(self.world, "raw", raw=True)
        self.sns.publish(TopicArn=stack.topic_arn, Message="hi", MessageAttributes=STRING("a"))
        message = self.received(stack.queue_url)[0]
        assert_that((message["Body"], message["MessageAttributes"]), is_(equal_to(("hi", STRING("a")))))

    def test_filter_policy_keeps_other_media_types_out(self) -> None:
        """A subscription filtered on media types (prefix included) gets only those."""
        stack = stack_on(self.world, "filtered", raw=True, filter_media_types=["a", "b.*"])
        for media_type in ("a", "b.c", "c"):
            self.sns.publish(TopicArn=stack.topic_arn, Message=media_type, MessageAttributes=STRING(media_type))
        assert_that(sorted(m["Body"] for m in self.received(stack.queue_url)), is_(equal_to(["a", "b.c"])))

    def test_publish_batch_answers_per_entry(self) -> None:
        """publish_batch answers each entry; one without a group on a FIFO topic fails alone."""
        topic = self.sns.create_topic(Name="t.fifo", Attributes={
            "FifoTopic": "true", "ContentBasedDeduplication": "true"})["TopicArn"]
        response = self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "ok", "Message": "a", "MessageGroupId": "g"}, {"Id": "bad", "Message": "b"}])
        assert_that([entry["Id"] for entry in response["Successful"]], is_(equal_to(["ok"])))
        assert_that(response["Failed"], contains_exactly(has_entries(Id="bad", Code="InvalidParameter")))

    def test_publish_to_a_missing_topic_is_refused(self) -> None:
        """Publishing to a topic that does not exist raises the modeled NotFoundException."""
        assert_that(calling(self.sns.publish).with_args(TopicArn="arn:aws:sns:us-east-1:000000000000:x", Message="m"),
                    raises(self.sns.exceptions.NotFoundException))

    def test_provisioning_is_idempotent(self) -> None:
        """Provisioning the same stack twice through the double answers the same stack."""
        assert_that(stack_on(self.world, "again"), is_(equal_to(stack_on(self.world, "again"))))


class LenientTests(unittest.TestCase):
    def test_lenient_world_takes_unknown_queues_and_handles(self) -> None:
        """Not strict, an unknown queue URL is made on first use and an unknown handle is deleted quietly."""
        sqs = MemoryAWS(strict=False).sqs
        url = "https://sqs.us-east-1.amazonaws.com/123456789012/anything"
        assert_that(sqs.delete_message(QueueUrl=url, ReceiptHandle="r"), has_key("ResponseMetadata"))
        assert_that(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"],
                    is_(equal_to({"QueueArn": "arn:aws:sqs:us-east-1:123456789012:anything"})))
