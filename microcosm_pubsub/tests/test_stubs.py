"""The stub SNS and SQS clients of the old testing mode: the in-memory double's answers, mock-style inspection."""
from __future__ import annotations

import os
import subprocess
import sys
import unittest
import uuid
from unittest.mock import ANY, patch

from botocore.exceptions import ClientError, ParamValidationError
from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    empty,
    equal_to,
    has_entries,
    has_key,
    instance_of,
    is_,
    is_not,
    raises,
)
from microcosm.api import create_object_graph

from microcosm_pubsub.graph import doubles
from microcosm_pubsub.testing.stubs import StubClient
from microcosm_pubsub.wire.errors import ConfigurationError


TOPIC = "arn:aws:sns:us-east-1:123456789012:topic"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/queue"


def is_uuid(text: str) -> bool:
    return str(uuid.UUID(text)) == text


class SNSStubTests(unittest.TestCase):
    def setUp(self) -> None:
        self.sns = StubClient("sns")

    def test_publish_answers_a_uuid_message_id(self) -> None:
        """publish answers a new uuid MessageId and response metadata, as SNS does."""
        first = self.sns.publish(TopicArn=TOPIC, Message="{}")
        second = self.sns.publish(TopicArn=TOPIC, Message="{}")
        assert_that(is_uuid(first["MessageId"]), is_(True))
        assert_that(first["MessageId"], is_not(equal_to(second["MessageId"])))
        assert_that(first, has_entries(ResponseMetadata=has_entries(HTTPStatusCode=200)))

    def test_publish_is_recorded(self) -> None:
        """Each call is recorded: call_count, call_args and assert_called_once_with work."""
        self.sns.publish(TopicArn=TOPIC, Message='{"a": 1}')
        assert_that(self.sns.publish.call_count, is_(equal_to(1)))
        assert_that(self.sns.publish.call_args[1]["Message"], is_(equal_to('{"a": 1}')))
        self.sns.publish.assert_called_once_with(TopicArn=TOPIC, Message=ANY)

    def test_publish_batch_answers_each_entry(self) -> None:
        """publish_batch answers one Successful entry per request entry, with its Id."""
        response = self.sns.publish_batch(
            TopicArn=TOPIC, PublishBatchRequestEntries=[{"Id": "0", "Message": "a"}, {"Id": "1", "Message": "b"}],
        )
        assert_that([entry["Id"] for entry in response["Successful"]], contains_exactly("0", "1"))
        assert_that(response["Failed"], is_(empty()))

    def test_return_value_overrides_the_answer(self) -> None:
        """A return_value set by the test is what the call returns."""
        self.sns.publish.return_value = {"MessageId": "message-id-1234"}
        assert_that(self.sns.publish(TopicArn=TOPIC, Message="{}"), is_(equal_to({"MessageId": "message-id-1234"})))

    def test_side_effect_overrides_the_answer(self) -> None:
        """A side_effect set by the test is raised, and the call is still recorded."""
        self.sns.publish.side_effect = RuntimeError("down")
        assert_that(calling(self.sns.publish).with_args(TopicArn=TOPIC, Message="{}"), raises(RuntimeError))
        assert_that(self.sns.publish.call_count, is_(equal_to(1)))

    def test_reset_mock_forgets_calls_and_keeps_answers(self) -> None:
        """reset_mock forgets the calls; the default answers stay."""
        self.sns.publish(TopicArn=TOPIC, Message="{}")
        self.sns.reset_mock()
        assert_that(self.sns.publish.call_count, is_(equal_to(0)))
        assert_that(self.sns.publish(TopicArn=TOPIC, Message="{}"), has_key("MessageId"))

    def test_reset_mocks_is_reset_mock(self) -> None:
        """reset_mocks(), the name old service tests call, forgets the calls too."""
        self.sns.publish(TopicArn=TOPIC, Message="{}")
        self.sns.reset_mocks()
        assert_that(self.sns.publish.call_count, is_(equal_to(0)))

    def test_clearing_a_side_effect_restores_answers(self) -> None:
        """reset_mock(side_effect=True) drops the test's side effect and the default answers come back."""
        self.sns.publish.side_effect = RuntimeError("down")
        self.sns.publish.reset_mock(side_effect=True)
        assert_that(self.sns.publish(TopicArn=TOPIC, Message="{}"), has_key("MessageId"))

    def test_parameters_are_checked_against_the_model(self) -> None:
        """A call boto3 would refuse (missing Message) raises botocore's ParamValidationError."""
        assert_that(calling(self.sns.publish).with_args(TopicArn=TOPIC), raises(ParamValidationError, "Message"))

    def test_model_parameters_the_double_does_not_serve_are_taken(self) -> None:
        """A parameter the model defines and the double does not serve (PhoneNumber) is taken, as before."""
        assert_that(self.sns.publish(PhoneNumber="+15555550100", TopicArn=TOPIC, Message="{}"), has_key("MessageId"))

    def test_positional_arguments_are_refused(self) -> None:
        """boto3 methods take keyword arguments only; so do the stub's."""
        assert_that(calling(self.sns.publish).with_args(TOPIC, "{}"), raises(TypeError, "keyword"))

    def test_modeled_exceptions_are_client_errors(self) -> None:
        """client.exceptions.<Name> is a ClientError subclass, usable in an except clause."""
        assert_that(issubclass(self.sns.exceptions.NotFoundException, ClientError), is_(True))

    def test_private_names_are_not_attributes(self) -> None:
        """Private names (hooks probing the object) raise AttributeError and leave no call recorded."""
        assert_that(hasattr(self.sns, "_microcosm_on_resolve"), is_(False))
        assert_that(self.sns.mock_calls, is_(empty()))

    def test_other_attributes_are_plain_mocks(self) -> None:
        """Attributes that are not operations (close) are accepted and recorded like a MagicMock's."""
        self.sns.close()
        assert_that(self.sns.close.call_count, is_(equal_to(1)))


class SQSStubTests(unittest.TestCase):
    def setUp(self) -> None:
        self.sqs = StubClient("sqs")

    def test_receive_answers_no_messages(self) -> None:
        """receive_message answers an empty Messages list by default."""
        assert_that(self.sqs.receive_message(QueueUrl=QUEUE), has_entries(Messages=empty()))

    def test_receive_answers_what_the_test_sets(self) -> None:
        """receive_message.return_value = dict(Messages=[...]) is what the consumer receives."""
        self.sqs.receive_message.return_value = {"Messages": [{"MessageId": "m", "Body": "{}"}]}
        assert_that(self.sqs.receive_message(QueueUrl=QUEUE)["Messages"], contains_exactly(has_entries(MessageId="m")))

    def test_receive_hands_back_what_was_sent(self) -> None:
        """Left alone, the stub is the in-memory double: a message sent to any queue is received from it."""
        self.sqs.send_message(QueueUrl=QUEUE, MessageBody="hello")
        received = self.sqs.receive_message(QueueUrl=QUEUE, AttributeNames=["ApproximateReceiveCount"])
        assert_that(received["Messages"], contains_exactly(has_entries(
            Body="hello", Attributes={"ApproximateReceiveCount": "1"},
        )))
        assert_that(self.sqs.receive_message.call_count, is_(equal_to(1)))

    def test_send_message_answers_id_and_digest(self) -> None:
        """send_message answers a uuid MessageId and the body's MD5, as SQS does."""
        response = self.sqs.send_message(QueueUrl=QUEUE, MessageBody="hello")
        assert_that(is_uuid(response["MessageId"]), is_(True))
        assert_that(response["MD5OfMessageBody"], is_(equal_to("5d41402abc4b2a76b9719d911017c592")))

    def test_delete_batch_answers_every_entry_successful(self) -> None:
        """delete_message_batch answers every entry Successful."""
        response = self.sqs.delete_message_batch(QueueUrl=QUEUE, Entries=[{"Id": "a", "ReceiptHandle": "r"}])
        assert_that(response, has_entries(Successful=contains_exactly({"Id": "a"}), Failed=empty()))

    def test_visibility_batch_answers_every_entry_successful(self) -> None:
        """change_message_visibility_batch answers every entry Successful."""
        response = self.sqs.change_message_visibility_batch(
            QueueUrl=QUEUE, Entries=[{"Id": "a", "ReceiptHandle": "r", "VisibilityTimeout": 3}],
        )
        assert_that(response["Successful"], contains_exactly({"Id": "a"}))

    def test_queue_attributes_answers_the_names_asked(self) -> None:
        """get_queue_attributes answers counts of zero for the attributes asked for."""
        response = self.sqs.get_queue_attributes(QueueUrl=QUEUE, AttributeNames=["ApproximateNumberOfMessages"])
        assert_that(response["Attributes"], is_(equal_to({"ApproximateNumberOfMessages": "0"})))

    def test_unknown_service_is_refused(self) -> None:
        """A stub for a service other than sns or sqs is refused with the choices."""
        assert_that(calling(StubClient).with_args("s3"), raises(ValueError, "'sns' or 'sqs'"))


class InstalledThroughTheGraphTests(unittest.TestCase):
    def test_production_graph_never_loads_the_testing_toolkit(self) -> None:
        """A production graph's clients, producer and consumer leave microcosm_pubsub.testing unloaded."""
        code = (
            "import sys\n"
            "from microcosm.api import create_object_graph\n"
            "graph = create_object_graph('svc', testing=False)\n"
            "graph.use('sns_client', 'sqs_client', 'sns_producer', 'sqs_consumer')\n"
            "print(sorted(name for name in sys.modules if name.startswith('microcosm_pubsub.testing')))\n"
        )
        env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=False,
        )
        assert_that((result.stdout.strip(), result.stderr), is_(equal_to(("[]", ""))))

    def test_testing_graph_without_endpoint_gets_the_stub_clients(self) -> None:
        """A testing graph with no endpoint gets the toolkit's stub clients, built through the registered doubles."""
        with patch.dict(os.environ, {"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_SNS": "", "AWS_ENDPOINT_URL_SQS": ""}):
            graph = create_object_graph("stubbed", testing=True)
            clients = (graph.sns_client, graph.sqs_client)
        assert_that(clients, contains_exactly(instance_of(StubClient), instance_of(StubClient)))

    def test_every_registered_double_loads(self) -> None:
        """Each name the core asks for is registered, and loads as a factory."""
        names = (doubles.RECORDING_PRODUCER, doubles.INSPECTABLE_PRODUCER, doubles.SNS_CLIENT, doubles.SQS_CLIENT)
        assert_that(all(callable(doubles.double_factory(name)) for name in names), is_(True))

    def test_an_unregistered_double_says_how_to_fix_it(self) -> None:
        """Asking for a double nobody registered says to reinstall the package's entry points."""
        assert_that(calling(doubles.double_factory).with_args("no_such_double"),
                    raises(ConfigurationError, "reinstall microcosm_pubsub"))
