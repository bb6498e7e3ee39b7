"""An integration environment: topics and queues on a local endpoint, and graphs pointed at them."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from microcosm.api import create_object_graph, load_from_dict
from microcosm.hooks import invoke_resolve_hook

from microcosm_pubsub.aws.local import DUMMY_CREDENTIALS, LocalEndpoint
from microcosm_pubsub.aws.provisioning import DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_VISIBILITY_TIMEOUT
from microcosm_pubsub.consume.message import SQSMessage
from microcosm_pubsub.consume.result import MessageHandlingResult
from microcosm_pubsub.schemas.registry import PubSubMessageSchemaRegistry
from microcosm_pubsub.testing import queues
from microcosm_pubsub.testing.graphs import merge_config
from microcosm_pubsub.wire.errors import ConfigurationError


if TYPE_CHECKING:
    from microcosm_pubsub.runtime.daemon import ConsumerDaemon

D = TypeVar("D", bound="ConsumerDaemon")

# Variables that could send a test's requests to a real account, or sign them with real keys
_HIDDEN_VARIABLES = (
    "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_SQS",
)


class IntegrationEnvironment:
    """A topic, a queue and a dead-letter queue on a local endpoint, for one service under test.

    Every topic fans out to the service's queue (`queue_url`) and to an observer queue the test reads with
    `published()`. With `topic_per_media_type` (or explicit `media_types`) each media type also gets its own
    topic through `sns_topic_arns.mappings`. Use as a context manager, or `IntegrationEnvironment.setup(self)`
    in a `unittest.TestCase.setUp`. While started, the process's AWS credentials are dummy ones and
    AWS_PROFILE and the AWS_ENDPOINT_URL variables are unset, so nothing can reach a real account.
    """

    def __init__(
        self, name: str = "pubsub", *, media_types: Iterable[str] | None = None, topic_per_media_type: bool = False,
        raw: bool = False, dead_letter: bool = True, max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
        visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT, endpoint: LocalEndpoint | None = None,
    ) -> None:
        self.name = name
        self.media_types = list(media_types) if media_types is not None else None
        self.topic_per_media_type = topic_per_media_type or media_types is not None
        self.stack_options: dict[str, Any] = dict(raw=raw, dead_letter=dead_letter,
                                                  max_receive_count=max_receive_count,
                                                  visibility_timeout=visibility_timeout)
        self.endpoint = endpoint
        self.resources: queues.Resources | None = None
        self._saved_environ: dict[str, str | None] = {}
        self._graphs: list[Any] = []
        self._internal: Any = None

    @classmethod
    def setup(cls, testcase: Any, **kwargs: Any) -> IntegrationEnvironment:
        """Start an environment for one test and stop it in the test's cleanup."""
        environment = cls(**kwargs).start()
        testcase.addCleanup(environment.stop)
        return environment

    def __enter__(self) -> IntegrationEnvironment:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> IntegrationEnvironment:
        """Provision the topics and queues; a second call does nothing."""
        if self.resources is not None:
            return self
        self._saved_environ = {name: os.environ.get(name) for name in (*DUMMY_CREDENTIALS, *_HIDDEN_VARIABLES)}
        for variable in _HIDDEN_VARIABLES:
            os.environ.pop(variable, None)
        os.environ.update(DUMMY_CREDENTIALS)
        self.endpoint = self.endpoint or queues.shared_endpoint()
        media_types = self.media_types
        if media_types is None and self.topic_per_media_type:
            registry = PubSubMessageSchemaRegistry(None)
            invoke_resolve_hook(registry)  # every schema declared with `@schema` so far
            media_types = sorted(registry.schemas)
        sns, sqs = queues.admin_clients(self.endpoint)
        prefix = f"{self.name}-{uuid.uuid4().hex[:10]}"
        try:
            self.resources = queues.provision_resources(sns, sqs, prefix, media_types, **self.stack_options)
        except BaseException:
            self.stop()
            raise
        # Draining needs a graph for decoding; it shares the provisioning client instead of building its own
        loader = load_from_dict(self.config())
        self._internal = create_object_graph(f"{self.name}-environment", testing=True, loader=loader)
        self._internal.assign("sqs_client", sqs)
        return self

    def stop(self) -> None:
        """Close every graph's clients, delete what was provisioned, restore the environment variables."""
        graphs, self._graphs = self._graphs, []
        for graph in graphs:
            for client in filter(None, (graph.get("sns_client"), graph.get("sqs_client"))):
                client.close()
        resources, self.resources = self.resources, None
        if resources is not None and self.endpoint is not None:
            queues.delete_resources(*queues.admin_clients(self.endpoint), resources)
        self._internal = None
        for variable, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
        self._saved_environ = {}

    @property
    def topic_arn(self) -> str:
        """The shared topic: `sns_topic_arns.default`."""
        return self._resources.stack.topic_arn

    @property
    def topic_arns(self) -> dict[str, str]:
        """The topic of each media type that has its own: `sns_topic_arns.mappings`."""
        return dict(self._resources.topic_arns)

    @property
    def queue_url(self) -> str:
        """The service's queue: `sqs_consumer.sqs_queue_url`."""
        return self._resources.stack.queue_url

    @property
    def dead_letter_queue_url(self) -> str | None:
        """Both the queue's redrive target and `sqs_message_dispatcher.dead_letter_queue_url`."""
        return self._resources.stack.dead_letter_queue_url

    @property
    def observer_queue_url(self) -> str:
        """A queue subscribed to every topic, read by nothing but `published()`."""
        return self._resources.observer_queue_url

    def config(self, **overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Configuration pointing a graph at this environment, with `overrides` merged over it."""
        stack = self._resources.stack
        assert self.endpoint is not None
        url, region = self.endpoint.url, self.endpoint.region_name
        config: dict[str, Any] = {
            "sns_producer": {"endpoint_url": url, "region_name": region, "record": False},
            # Short receives keep a test that waits for a message that never comes fast
            "sqs_consumer": {"endpoint_url": url, "region_name": region, "sqs_queue_url": stack.queue_url,
                             "wait_seconds": 1},
            "sns_topic_arns": {"default": stack.topic_arn, "mappings": self.topic_arns},
        }
        if stack.dead_letter_queue_url:
            config["sqs_message_dispatcher"] = {"dead_letter_queue_url": stack.dead_letter_queue_url}
        return merge_config(config, overrides)

    def graph(self, name: str = "testing", *, components: Sequence[str] = (), **overrides: Mapping[str, Any]) -> Any:
        """A testing graph configured for this environment; its clients are closed by `stop()`."""
        graph = create_object_graph(name, testing=True, loader=load_from_dict(self.config(**overrides)))
        self._graphs.append(graph)
        graph.use(*components)
        return graph

    def daemon(self, daemon_class: type[D], **overrides: Mapping[str, Any]) -> D:
        """`daemon_class.create_for_testing()` configured for this environment."""
        daemon = cast(D, daemon_class.create_for_testing(loader=load_from_dict(self.config(**overrides))))
        self._graphs.append(daemon.graph)
        return daemon

    def consume(
        self, graph: Any, *, max_messages: int = 100, timeout_seconds: float = 10.0,
    ) -> list[MessageHandlingResult]:
        """Receive, handle and settle the service queue's messages with `graph` until it is empty."""
        batches = queues.until_quiet(graph.sqs_consumer, max_messages=max_messages, timeout_seconds=timeout_seconds)
        return [result for messages in batches for result in graph.sqs_message_dispatcher.handle_batch(messages)]

    def drain(self, queue_url: str | None = None, *, ack: bool = True) -> list[SQSMessage]:
        """Every message waiting on `queue_url` (the service's queue by default)."""
        service_queue_url = self.queue_url  # raises a clear error when not started
        return queues.drain(queues.queue_consumer(self._internal, queue_url or service_queue_url), ack=ack)

    def published(self, *, ack: bool = True) -> list[SQSMessage]:
        """Every message published to this environment's topics since the last call."""
        return self.drain(self.observer_queue_url, ack=ack)

    def dead_letters(self, *, ack: bool = True) -> list[SQSMessage]:
        """Every message waiting on the dead-letter queue."""
        if not self.dead_letter_queue_url:
            raise ConfigurationError("this environment was started with dead_letter=False")
        return self.drain(self.dead_letter_queue_url, ack=ack)

    @property
    def _resources(self) -> queues.Resources:
        if self.resources is None:
            raise ConfigurationError("the integration environment is not started: call start() or use `with`")
        return self.resources
