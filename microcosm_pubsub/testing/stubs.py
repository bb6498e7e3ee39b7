"""Stub SNS and SQS clients for the old testing mode: the in-memory double, each call recorded like a MagicMock."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest.mock import DEFAULT, MagicMock

from botocore.validate import validate_parameters

from microcosm_pubsub.aws.memory import MemoryAWS


class StubOperation(MagicMock):
    """One client method: recorded, and answered by the double unless the test chose the answer."""

    def __init__(self, *args: Any, answer: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stub_answer = answer
        self.side_effect = self._respond

    def _respond(self, *args: Any, **params: Any) -> Any:
        if self._mock_return_value is not DEFAULT and not args:
            # The test chose the answer (`publish.return_value = {...}`); boto3 would still check the call
            if self._stub_model.input_shape is not None:
                validate_parameters(params, self._stub_model.input_shape)
            return DEFAULT
        assert self._stub_answer is not None
        return self._stub_answer(*args, **params)

    def reset_mock(self, *args: Any, **kwargs: Any) -> None:
        super().reset_mock(*args, **kwargs)
        if self.side_effect is None:
            # reset_mock(side_effect=True) clears a test's side effect; the double answers again
            self.side_effect = self._respond

    def _get_child_mock(self, **kwargs: Any) -> MagicMock:
        return MagicMock(**kwargs)


class StubClient(MagicMock):
    """A stub boto3 client of `service` ("sns" or "sqs") over its own lenient in-memory double (any topic, queue or
    receipt handle is taken), for a testing graph with no endpoint (see docs/migration.md)."""

    def __init__(self, service: str = "sns", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if service not in ("sns", "sqs"):
            raise ValueError(f"no stub client for {service!r}: use 'sns' or 'sqs'")
        double = getattr(MemoryAWS(strict=False), service)
        self._stub_double = double
        self.exceptions: Any = double.exceptions
        self.meta = double.meta

    def __getattr__(self, name: str) -> Any:
        # Private names are not client attributes: hooks that probe for them (microcosm's on_resolve)
        # must find nothing, and leave no call behind in mock_calls
        if name.startswith("_"):
            raise AttributeError(name)
        return super().__getattr__(name)

    def _get_child_mock(self, **kwargs: Any) -> MagicMock:
        name = kwargs.get("_new_name", "")
        double = self.__dict__.get("_stub_double")
        if double is None or name not in double.meta.method_to_api_mapping:
            return MagicMock(**kwargs)
        child = StubOperation(answer=getattr(double, name), **kwargs)
        child._stub_model = double.meta.service_model.operation_model(double.meta.method_to_api_mapping[name])
        return child

    def reset_mocks(self) -> None:
        """`reset_mock()` under the misspelt name old service tests call."""
        self.reset_mock()

    def __repr__(self) -> str:
        double = self.__dict__.get("_stub_double")
        return f"<StubClient {double.meta.service_model.service_name if double else '?'} id={id(self)}>"


def sns_stub_client(graph: Any) -> StubClient:
    """`sns_client` in a testing graph with no endpoint (registered in entrypoints.cfg, built by clients.py)."""
    return StubClient("sns")


def sqs_stub_client(graph: Any) -> StubClient:
    """`sqs_client` in a testing graph with no endpoint (registered in entrypoints.cfg, built by clients.py)."""
    return StubClient("sqs")


class TestingTopics:
    """`sns_topic_arns` for the old testing mode: a media type with no topic gets the testing topic (old service
    tests produce without configuring any, as the old package's MagicMock producer needed none)."""

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
    """`sns_producer` for `mock_sns=False` in a testing graph: records `RecordedMessage`s, and `produce` is a
    MagicMock (old tests read `produce.call_args`); a media type with no topic goes to the testing topic."""
    # Imported here: the recording producer imports the producer, which this module must not need
    from microcosm_pubsub.testing.recording import RecordingProducer

    producer = RecordingProducer(graph)
    if hasattr(producer, "topic_arns"):
        producer.topic_arns = TestingTopics(producer.topic_arns)  # type: ignore[assignment]  # a lenient stand-in
    # An instance attribute in front of the method: calls are recorded, then handled as usual
    producer.produce = MagicMock(name="sns_producer.produce", wraps=producer.produce)  # type: ignore[method-assign]
    return producer
