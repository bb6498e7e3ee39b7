"""Stub SNS and SQS clients for the old testing mode: they record every call and answer like boto3.

In a testing graph with no endpoint configured, the `sns_client` and `sqs_client` bindings resolve
to these (see `microcosm_pubsub.clients`). They are `unittest.mock.MagicMock`s, so old tests inspect
them as before (`publish.call_args`, `call_count`, `assert_called_once_with`, `reset_mock()`) and
override answers (`publish.return_value = {...}`, `publish.side_effect = error`). Left alone, every
operation checks its parameters against botocore's service model and answers in the response shape
the real service has: new uuid `MessageId`s, `{"Messages": []}` from `receive_message`, one
`Successful` entry per batch entry.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any
from unittest.mock import DEFAULT, MagicMock

import botocore.session
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import ServiceModel
from botocore.validate import validate_parameters


REGION = "us-east-1"
ACCOUNT = "123456789012"

Responder = Callable[[dict[str, Any]], dict[str, Any]]


@cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of `service`, loaded once per process (a few milliseconds)."""
    return botocore.session.get_session().get_service_model(service)


@cache
def operations(service: str) -> dict[str, str]:
    """boto3 method name -> API operation name, e.g. `publish_batch` -> `PublishBatch`."""
    return {xform_name(name): name for name in service_model(service).operation_names}


def _metadata() -> dict[str, Any]:
    return {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}


def _md5(text: str) -> str:
    # The digest SQS returns so a sender can check the body arrived intact; not a security measure
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _entries(params: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    entries = params.get(key)
    return list(entries) if isinstance(entries, list) else []


def _queue_url(name: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


def _queue_arn(url: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{url.rstrip('/').rsplit('/', 1)[-1]}"


def _queue_attributes(params: Mapping[str, Any]) -> dict[str, Any]:
    names = params.get("AttributeNames") or ["All"]
    attributes = {
        "QueueArn": _queue_arn(str(params.get("QueueUrl", ""))),
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "0",
        "VisibilityTimeout": "30",
    }
    if "All" not in names:
        attributes = {name: value for name, value in attributes.items() if name in names}
    return {"Attributes": attributes}


SNS_RESPONSES: dict[str, Responder] = {
    "publish": lambda params: {"MessageId": str(uuid.uuid4())},
    "publish_batch": lambda params: {
        "Successful": [
            {"Id": entry["Id"], "MessageId": str(uuid.uuid4())}
            for entry in _entries(params, "PublishBatchRequestEntries")
        ],
        "Failed": [],
    },
    "create_topic": lambda params: {"TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{params['Name']}"},
    "subscribe": lambda params: {"SubscriptionArn": f"{params['TopicArn']}:{uuid.uuid4()}"},
    "list_topics": lambda params: {"Topics": []},
    "list_subscriptions": lambda params: {"Subscriptions": []},
    "list_subscriptions_by_topic": lambda params: {"Subscriptions": []},
    "get_topic_attributes": lambda params: {"Attributes": {"TopicArn": params["TopicArn"]}},
}

SQS_RESPONSES: dict[str, Responder] = {
    "receive_message": lambda params: {"Messages": []},
    "send_message": lambda params: {
        "MessageId": str(uuid.uuid4()), "MD5OfMessageBody": _md5(params["MessageBody"]),
    },
    "send_message_batch": lambda params: {
        "Successful": [
            {"Id": entry["Id"], "MessageId": str(uuid.uuid4()), "MD5OfMessageBody": _md5(entry["MessageBody"])}
            for entry in _entries(params, "Entries")
        ],
        "Failed": [],
    },
    "delete_message_batch": lambda params: {
        "Successful": [{"Id": entry["Id"]} for entry in _entries(params, "Entries")], "Failed": [],
    },
    "change_message_visibility_batch": lambda params: {
        "Successful": [{"Id": entry["Id"]} for entry in _entries(params, "Entries")], "Failed": [],
    },
    "get_queue_url": lambda params: {"QueueUrl": _queue_url(params["QueueName"])},
    "create_queue": lambda params: {"QueueUrl": _queue_url(params["QueueName"])},
    "list_queues": lambda params: {"QueueUrls": []},
    "get_queue_attributes": _queue_attributes,
}

RESPONSES = {"sns": SNS_RESPONSES, "sqs": SQS_RESPONSES}


class StubExceptions:
    """`client.exceptions`: each modeled error name is a `ClientError` subclass, as on a real client."""

    def __init__(self) -> None:
        self._classes: dict[str, type[ClientError]] = {}

    def __getattr__(self, name: str) -> type[ClientError]:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._classes:
            self._classes[name] = type(name, (ClientError,), {})
        return self._classes[name]


class StubOperation(MagicMock):
    """One client method: a MagicMock that, unless told otherwise, answers as the service would."""

    def __init__(self, *args: Any, service: str = "", operation: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stub_service = service
        self._stub_operation = operation
        self.side_effect = self._respond

    def _respond(self, *args: Any, **params: Any) -> Any:
        # boto3 methods take keyword arguments only
        if args:
            raise TypeError(f"{self._stub_operation}() only accepts keyword arguments.")
        model = service_model(self._stub_service)
        input_shape = model.operation_model(operations(self._stub_service)[self._stub_operation]).input_shape
        if input_shape is not None:
            validate_parameters(params, input_shape)
        if self._mock_return_value is not DEFAULT:
            # The test chose the answer: `publish.return_value = {...}`
            return DEFAULT
        respond = RESPONSES[self._stub_service].get(self._stub_operation)
        response = respond(params) if respond is not None else {}
        return {**response, "ResponseMetadata": _metadata()}

    def reset_mock(self, *args: Any, **kwargs: Any) -> None:
        super().reset_mock(*args, **kwargs)
        if self.side_effect is None:
            # reset_mock(side_effect=True) clears a test's side effect; the default answers come back
            self.side_effect = self._respond

    def _get_child_mock(self, **kwargs: Any) -> MagicMock:
        return MagicMock(**kwargs)


class StubClient(MagicMock):
    """A stub boto3 client of `service` ("sns" or "sqs"): boto3's method names, recorded like a mock."""

    def __init__(self, service: str = "sns", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if service not in RESPONSES:
            raise ValueError(f"no stub client for {service!r}: use 'sns' or 'sqs'")
        self._stub_service = service
        self.exceptions = StubExceptions()
        self.meta.service_model = service_model(service)
        self.meta.region_name = REGION
        self.meta.endpoint_url = None

    def __getattr__(self, name: str) -> Any:
        # Private names are not client attributes: hooks that probe for them (microcosm's on_resolve)
        # must find nothing, and leave no call behind in mock_calls
        if name.startswith("_"):
            raise AttributeError(name)
        return super().__getattr__(name)

    def _get_child_mock(self, **kwargs: Any) -> MagicMock:
        name = kwargs.get("_new_name", "")
        service = self.__dict__.get("_stub_service")
        if service is not None and name in operations(service):
            return StubOperation(service=service, operation=name, **kwargs)
        return MagicMock(**kwargs)

    def reset_mocks(self) -> None:
        """`reset_mock()` under the misspelt name old service tests call."""
        self.reset_mock()

    def __repr__(self) -> str:
        return f"<StubClient {self.__dict__.get('_stub_service', '?')} id={id(self)}>"


def stub_client(service: str) -> StubClient:
    """A fresh stub client for `service`: "sns" or "sqs"."""
    return StubClient(service)


def sns_stub_client(graph: Any) -> StubClient:
    """`sns_client` in a testing graph with no endpoint (registered in entrypoints.cfg, built by clients.py)."""
    return StubClient("sns")


def sqs_stub_client(graph: Any) -> StubClient:
    """`sqs_client` in a testing graph with no endpoint (registered in entrypoints.cfg, built by clients.py)."""
    return StubClient("sqs")


class TestingTopics:
    """`sns_topic_arns` for the old testing mode: a media type with no topic gets the testing topic.

    The old package's testing producer was a MagicMock that needed no topics; old service tests
    rely on producing without configuring any.
    """

    # Named like a test class: pytest must not collect it where a test module imports it
    __test__ = False

    def __init__(self, topics: Any) -> None:
        self.topics = topics

    def resolve(self, media_type: str) -> str:
        from microcosm_pubsub.testing.events import TESTING_TOPIC_ARN
        from microcosm_pubsub.wire.errors import TopicNotDefinedError

        try:
            topic: str = self.topics.resolve(media_type)
        except TopicNotDefinedError:
            return TESTING_TOPIC_ARN
        return topic

    def __getitem__(self, media_type: str) -> str:
        return self.resolve(media_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.topics, name)


def inspectable_recording_producer(graph: Any) -> Any:
    """`sns_producer` for `mock_sns=False` in a testing graph: records, and `produce` is a MagicMock.

    The old package made the whole producer a MagicMock there; old tests read
    `graph.sns_producer.produce.call_args` and friends. This producer records `RecordedMessage`s
    for the new matchers as well, after the same validation and encoding as production; a media
    type with no topic configured goes to the testing topic instead of failing.
    """
    # Imported here: the recording producer imports the producer, which this module must not need
    from microcosm_pubsub.testing.recording import RecordingProducer

    producer = RecordingProducer(graph)
    if hasattr(producer, "topic_arns"):
        producer.topic_arns = TestingTopics(producer.topic_arns)  # type: ignore[assignment]  # a lenient stand-in
    # An instance attribute in front of the method: calls are recorded, then handled as usual
    producer.produce = MagicMock(name="sns_producer.produce", wraps=producer.produce)  # type: ignore[method-assign]
    return producer
