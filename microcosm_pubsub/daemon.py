"""`ConsumerDaemon`: a service's consumer process: command line, configuration, signals, the receive loop."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from argparse import ArgumentParser, Namespace
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, Generic, NoReturn, TypeVar

from microcosm.api import create_object_graph, load_each, load_from_dict, load_from_environ
from microcosm.caching import Cache, NaiveCache, ProcessCache
from microcosm.errors import NotBoundError
from microcosm.errors import ValidationError as MicrocosmValidationError

from microcosm_pubsub.clients import ENDPOINT_VARIABLES
from microcosm_pubsub.config import explain_validation_error, unknown_keys
from microcosm_pubsub.context import key_list
from microcosm_pubsub.errors import ConfigurationError, PubSubError
from microcosm_pubsub.health import start_health_server
from microcosm_pubsub.logs import FORMATS, configure_daemon_logging, log_configuration
from microcosm_pubsub.metrics.middleware import serve_metrics
from microcosm_pubsub.runner import Runner
from microcosm_pubsub.stopping import RunnerSettings


logger = logging.getLogger("microcosm_pubsub.daemon")

HEALTH = "pubsub_health"
RUNNER = "pubsub_runner"
# The old daemon's heartbeat threshold, read when the flag is not given
HEARTBEAT_VARIABLE = "MICROCOSM_HEARTBEAT_THRESHOLD_SECONDS"
# The old daemon's health endpoint address: reachable by a probe from outside the container
OLD_HEALTHCHECK_HOST = "0.0.0.0"  # noqa: S104 (the old flags' documented default; probes come from the kubelet)
# Where the old daemon served its health check when only a heartbeat threshold was set
OLD_HEALTHCHECK_PORT = 80
# The queue URL that means "read standard input"
STDIN_QUEUE_URL = "STDIN"

# Built before the graph is locked: the handlers' threads and the producer reach them lazily
SUPPORT_COMPONENTS = (
    "opaque", "pubsub_middleware", "sqs_message_context", "sqs_envelope",
    "pubsub_message_schema_registry", "sns_topic_arns", "sns_producer",
)
# Old services' handlers read `graph.logger` from microcosm-logging; built when that package binds it
OPTIONAL_SUPPORT_COMPONENTS = ("logger",)
# Configuration of `create_for_testing()` daemons, below the test's own loader
TESTING_DEFAULTS: dict[str, Any] = {
    # A queue URL the stub client answers for; old tests assert this exact value
    "sqs_consumer": {"sqs_queue_url": "queue"},
}
# Any testing graph: a broken receive path fails a test within a second, not a 20 s long poll
TESTING_GRAPH_DEFAULTS: dict[str, Any] = {"sqs_consumer": {"wait_seconds": 1}}

R = TypeVar("R")


class classorinstancemethod(Generic[R]):
    """A method callable on an instance, or on the class, for which it builds a default instance."""

    def __init__(self, function: Callable[..., R]) -> None:
        self.function = function
        self.__doc__ = function.__doc__

    def __get__(self, instance: Any, owner: type[Any]) -> Callable[..., R]:
        function = self.function

        def bound(*args: Any, **kwargs: Any) -> R:
            return function(owner() if instance is None else instance, *args, **kwargs)

        return bound


class Unavailable:
    """Stands in a locked graph for a component that could not be built: using it raises why."""

    def __init__(self, name: str, error: Exception) -> None:
        self._name = name
        self._error = error

    def __getattr__(self, attribute: str) -> Any:
        self.raise_error()

    def raise_error(self) -> NoReturn:
        raise self._error

    def __repr__(self) -> str:
        return f"<{self._name} unavailable: {self._error}>"


class ConsumerDaemon:
    """Subclass, set `name`, extend `components` with handler bindings, optionally `defaults`; call `run()`."""

    name: str = "consumer"

    def __init__(self, event: Mapping[str, Any] | None = None) -> None:
        self.graph: Any = None
        self.args: Namespace | None = None
        # A Lambda SQS record the consumer reads instead of a queue (the old SQSJsonReader path)
        self.event = dict(event) if event else None
        self.stop = threading.Event()
        self.runner: Runner | None = None

    @property
    def components(self) -> list[str]:
        """Binding names the daemon's graph builds at start; handler components among them become active."""
        return [
            "opaque", "pubsub_message_schema_registry", "sqs_message_handler_registry",
            "sqs_consumer", "sqs_message_dispatcher",
        ]

    @property
    def bound_handlers(self) -> dict[str, Any]:
        """The active handlers by media type: those bound in `components`."""
        return dict(self.graph.sqs_message_handler_registry.compute_bound_handlers(self.components))

    @property
    def defaults(self) -> dict[str, Any]:
        """Configuration below the environment and the command line."""
        return {}

    def make_arg_parser(self) -> ArgumentParser:
        parser = ArgumentParser(prog=self.name, description=f"Consume SQS messages for {self.name}")
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--sqs-queue-url", help="the queue to consume, or a file of messages (else sqs_consumer.sqs_queue_url)",
        )
        source.add_argument("--stdin", action="store_true", help="read messages from standard input, one per line")
        parser.add_argument("--envelope", help="the envelope strategy by name (sqs_envelope.strategy_name)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--debug", action="store_true", help="log at DEBUG")
        mode.add_argument("--testing", action="store_true", help="build a testing graph")
        parser.add_argument("--concurrency", type=int, help="handler threads per process (default 1)")
        parser.add_argument("--processes", type=int, default=1, help="consumer processes on the queue (default 1)")
        parser.add_argument("--log-format", choices=FORMATS, help="log lines as text or JSON (else logging.format)")
        parser.add_argument(
            "--healthcheck-host", help=f"the health endpoint's address (default {OLD_HEALTHCHECK_HOST} with the flags)",
        )
        parser.add_argument("--healthcheck-port", type=int, help="serve the health endpoint on this port")
        parser.add_argument(
            "--heartbeat-threshold-seconds", type=float, default=heartbeat_threshold_from_environ(),
            help=f"unhealthy after this long without a receive or a settle (env {HEARTBEAT_VARIABLE}; -1: default)",
        )
        parser.add_argument(
            "--stop-when-idle", type=float, metavar="SECONDS",
            help="drain and exit 0 after SECONDS with nothing received (pubsub_runner.stop_when_idle_seconds)",
        )
        parser.add_argument(
            "--max-messages", type=int, metavar="N",
            help="receive at most N messages (per process), handle them and exit 0 (pubsub_runner.max_messages)",
        )
        return parser

    def parse_args(self, argv: Sequence[str] | None = None) -> Namespace:
        parser = self.make_arg_parser()
        args = parser.parse_args(argv)
        if args.concurrency is not None and args.concurrency < 1:
            parser.error("--concurrency must be at least 1")
        if args.processes < 1:
            parser.error("--processes must be at least 1")
        if args.processes > 1 and (args.stdin or is_file_source(args.sqs_queue_url)):
            parser.error("--processes reads one queue from several processes; a file or stdin is read by one process")
        if args.healthcheck_port is not None and not 0 <= args.healthcheck_port <= 65535:
            parser.error("--healthcheck-port must be between 0 and 65535")
        if args.stop_when_idle is not None and not args.stop_when_idle > 0:
            parser.error("--stop-when-idle must be more than 0 seconds")
        if args.max_messages is not None and args.max_messages < 1:
            parser.error("--max-messages must be at least 1")
        return args

    def command_line_config(self, args: Namespace) -> dict[str, Any]:
        """The configuration the command line sets, above every other source."""
        config: dict[str, Any] = {}
        sqs_consumer: dict[str, Any] = {}
        sqs_envelope: dict[str, Any] = {}
        if getattr(args, "stdin", False):
            sqs_consumer["sqs_queue_url"] = STDIN_QUEUE_URL
            # Lines typed or piped in are bare message bodies, not SNS notifications
            sqs_envelope["strategy_name"] = "NaiveSQSEnvelope"
        elif getattr(args, "sqs_queue_url", None):
            sqs_consumer["sqs_queue_url"] = args.sqs_queue_url
        if getattr(args, "concurrency", None):
            sqs_consumer["concurrency"] = args.concurrency
        event = getattr(args, "event", None) or self.event
        if event:
            sqs_consumer["sqs_event"] = dict(event)
            sqs_envelope["strategy_name"] = "LambdaSQSEnvelope"
        if getattr(args, "envelope", None):
            sqs_envelope["strategy_name"] = args.envelope
        health = health_config(args)
        runner: dict[str, Any] = {}
        if getattr(args, "stop_when_idle", None) is not None:
            runner["stop_when_idle_seconds"] = args.stop_when_idle
        if getattr(args, "max_messages", None) is not None:
            runner["max_messages"] = args.max_messages
        sections = (("sqs_consumer", sqs_consumer), ("sqs_envelope", sqs_envelope), (HEALTH, health), (RUNNER, runner))
        for name, section in sections:
            if section:
                config[name] = section
        return config

    def create_object_graph(self, args: Namespace, cache: Cache | None = None, loader: Any = None) -> Any:
        """The daemon's graph, locked: defaults, the loader (else the environment), then the command line.

        Each layer wins over the one before. Every component the daemon and its handlers need is
        built before the lock, so a lazily built one cannot race between handler threads.
        """
        testing = bool(getattr(args, "testing", False))
        graph = create_object_graph(
            name=self.name,
            debug=bool(getattr(args, "debug", False)),
            testing=testing,
            loader=load_each(
                load_from_dict(self.defaults),
                load_from_dict(TESTING_GRAPH_DEFAULTS if testing else {}),
                loader or load_from_environ,
                load_from_dict(self.command_line_config(args)),
            ),
            cache=cache,  # type: ignore[arg-type]  # microcosm accepts a cache instance as well as its class
        )
        if health_requested(args):
            # The old flags need no configuration: the health monitor is fed by the middleware chain
            add_middleware(graph, HEALTH)
        graph.use(*self.components)
        use_support_components(graph)
        graph.lock()
        return graph

    def create_graph(self, args: Namespace, loader: Any = None) -> Any:
        """`create_object_graph` with a fresh cache."""
        return self.create_object_graph(args, loader=loader)

    @classmethod
    def create_for_testing(cls, loader: Any = None, cache: Cache | None = None, **kwargs: Any) -> ConsumerDaemon:
        """A daemon on a testing graph, configured by `loader` (for example `load_from_dict(...)`).

        Stub SQS client unless the loader configures an endpoint, queue URL `queue`, recording
        producer. Without a loader (the old tests' way) the graph's components are shared by every
        such daemon of the class in the process, as the old package did; with one, each call gets
        fresh components, since its configuration may differ from the last.
        """
        daemon = cls(event=kwargs.pop("event", None))
        daemon.args = Namespace(**{
            **vars(daemon.parse_args([])), "testing": True, "debug": False, "sqs_queue_url": None,
            "event": daemon.event, **kwargs,
        })
        if cache is None:
            scope = f"{cls.__module__}.{cls.__qualname__}"
            cache = ProcessCache(scope=scope) if loader is None else NaiveCache()  # type: ignore[no-untyped-call]
        daemon.graph = daemon.create_object_graph(
            daemon.args, cache=cache,
            loader=recording_unless_endpoint(load_each(load_from_dict(TESTING_DEFAULTS), loader or load_from_environ)),
        )
        return daemon

    @classorinstancemethod
    def make_lambda_handler(self) -> Any:
        """`handler(event, context)` for AWS Lambda SQS events; see `microcosm_pubsub.lambda_handler`.

        Callable on the class (`MyDaemon.make_lambda_handler()`) as well as on a daemon.
        """
        from microcosm_pubsub.lambda_handler import LambdaHandler  # only Lambda deployments need it
        return LambdaHandler(self)

    def run(self, argv: Sequence[str] | None = None) -> None:
        """Parse the command line, build the graph and consume until SIGTERM or SIGINT; exits the process."""
        self.args = self.parse_args(argv)
        configure_logging(debug=self.args.debug)
        if self.args.processes > 1:
            from microcosm_pubsub.processes import run_processes  # only multi-process deployments need it
            sys.exit(run_processes(self, self.args))
        sys.exit(self.run_parsed(self.args))

    def run_parsed(self, args: Namespace, health_reports: Any = None) -> int:
        """Build the graph from parsed `args` and consume until stopped; returns the exit status."""
        self.args = args
        try:
            self.graph = self.create_graph(args)
            configure_daemon_logging(self.graph, getattr(args, "log_format", None))
            if getattr(args, "debug", False):
                # --debug wins over a configured level (microcosm-logging's binding declares INFO)
                logging.getLogger().setLevel(logging.DEBUG)
            self.start()
        except PubSubError as error:
            # Configuration mistakes get one clear line, not a traceback
            logger.error("%s cannot start: %s", self.name, error)
            return 2
        except MicrocosmValidationError as error:
            logger.error("%s cannot start: %s", self.name, explain_validation_error(error, self.name))
            return 2
        self.install_signal_handlers(in_child=getattr(args, "process_index", None) is not None)
        assert self.runner is not None
        if health_reports is not None and HEALTH in key_list(self.graph.config.pubsub_middleware.components):
            from microcosm_pubsub.processes import report_health  # only multi-process deployments need it
            threading.Thread(
                target=report_health, args=(getattr(self.graph, HEALTH), args.process_index, health_reports, self.stop),
                name="pubsub-health-report", daemon=True,
            ).start()
        self.runner.run()
        if self.runner.failure:
            logger.error("%s gave up: %s", self.name, self.runner.failure)
            return 1
        logger.info("%s stopped: %s", self.name, summary(self.runner.counts))
        return 0

    def start(self) -> None:
        """Check the handlers and the configuration, and log what this daemon will do."""
        handlers = self.bound_handlers
        self.build_shared_components()
        consumer = self.graph.sqs_consumer
        dispatcher = self.graph.sqs_message_dispatcher
        concurrency = int(self.graph.config.sqs_consumer.concurrency)
        settings = RunnerSettings.from_config(self.graph.config.get(RUNNER))
        self.runner = Runner(dispatcher, consumer, concurrency, self.stop, settings)
        # A missing queue stops the start here, with one line; an unreachable endpoint is the loop's to retry
        self.runner.prepare()
        logger.info(
            "%s consuming %s with concurrency %d (at most %d messages held, %d of them unhandled), handling: %s",
            self.name, consumer.queue_url, concurrency, self.runner.in_flight.limit, self.runner.in_flight.capacity,
            ", ".join(sorted(handlers)) or "nothing (no active handlers)",
        )
        log_configuration(logger, self.name, self.graph.config)
        warn_unknown_keys(self.name, self.graph)
        start_health_server(self.graph)
        if getattr(self.args, "process_index", None) is not None and metrics_port(self.graph) is not None:
            raise ConfigurationError(
                "pubsub_metrics.prometheus_port cannot be served by each of --processes; "
                "run one process per container, or use a push sink"
            )
        serve_metrics(self.graph)

    def build_shared_components(self) -> None:
        """Build now what handler threads share: microcosm's graph is not safe to build from two threads at once."""
        if not getattr(self.graph, "_locked", False):
            use_support_components(self.graph)
        client = self.graph.sqs_consumer.client
        if isinstance(client, Unavailable):
            # Consuming needs the client the publishing side may do without: fail at start
            client.raise_error()

    def install_signal_handlers(self, in_child: bool = False) -> None:
        def handle(signum: int, frame: FrameType | None) -> None:
            if self.stop.is_set():
                # Messages held now come back after their visibility timeout: nothing is lost
                os._exit(128 + signum)
            logger.info("%s received %s: finishing in-flight messages", self.name, signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        if not in_child:
            # A child's Ctrl-C comes from its parent as SIGTERM; the terminal's own would count twice
            signal.signal(signal.SIGINT, handle)


def recording_unless_endpoint(loader: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`loader`, plus `sns_producer.mock_sns` false (the recording producer) unless it configures an SNS endpoint.

    The old `create_for_testing()` always mocked the producer; a test that points the producer at
    an endpoint (the local one) means to publish there.
    """
    def load(metadata: Any) -> Any:
        config = loader(metadata)
        producer = config.get("sns_producer") or {}
        endpoint = producer.get("endpoint_url") or any(os.environ.get(name) for name in ENDPOINT_VARIABLES["sns"])
        if "mock_sns" not in producer and not endpoint:
            config.setdefault("sns_producer", {})["mock_sns"] = False
        return config

    return load


def warn_unknown_keys(name: str, graph: Any) -> None:
    """One warning per configuration key set for this package that nothing reads."""
    for key in unknown_keys(graph):
        logger.warning(
            "%s: configuration key %s is set but unknown to microcosm_pubsub and is ignored; "
            "check its name (docs/migration.md lists the old keys and their new names)", name, key,
        )


def metrics_port(graph: Any) -> Any:
    section = graph.config.get("pubsub_metrics") or {}
    return section.get("prometheus_port")


def heartbeat_threshold_from_environ() -> float:
    """The old environment variable's threshold in seconds; -1 (off) when unset or unreadable."""
    value = os.environ.get(HEARTBEAT_VARIABLE, "").strip()
    if not value:
        return -1.0
    try:
        return float(value)
    except ValueError:
        logger.warning("%s=%r is not a number of seconds; ignored", HEARTBEAT_VARIABLE, value)
        return -1.0


def health_requested(args: Namespace) -> bool:
    """The old health flags (or the heartbeat variable) ask for the health endpoint."""
    if getattr(args, "process_index", None) is not None:
        # A child of --processes: the parent serves; the child's monitor feeds it
        return True
    threshold = getattr(args, "heartbeat_threshold_seconds", None)
    return getattr(args, "healthcheck_port", None) is not None or (threshold is not None and threshold > 0)


def health_config(args: Namespace) -> dict[str, Any]:
    """`pubsub_health` settings from the old flags: port, host and the stall limit."""
    threshold = getattr(args, "heartbeat_threshold_seconds", None)
    if getattr(args, "process_index", None) is not None:
        # Children never bind the port, whatever the environment says: the parent answers for all
        child: dict[str, Any] = {"port": None}
        if threshold is not None and threshold > 0:
            child["stall_seconds"] = float(threshold)
        return child
    if not health_requested(args):
        return {}
    port = getattr(args, "healthcheck_port", None)
    config: dict[str, Any] = {
        # A threshold alone served on port 80 in the old daemon; deployments' probes expect it there
        "port": OLD_HEALTHCHECK_PORT if port is None else port,
        "host": getattr(args, "healthcheck_host", None) or OLD_HEALTHCHECK_HOST,
    }
    if threshold is not None and threshold > 0:
        config["stall_seconds"] = float(threshold)
    return config


def add_middleware(graph: Any, name: str) -> None:
    """Append `name` to `pubsub_middleware.components` unless it is there already."""
    section = graph.config.pubsub_middleware
    names = key_list(section.components)
    if name not in names:
        section.components = [*names, name]


def is_file_source(url: str | None) -> bool:
    """A queue URL that names a local file of messages (or standard input) rather than a queue."""
    if not url:
        return False
    if url == STDIN_QUEUE_URL:
        return True
    path = url[len("file://"):] if url.startswith("file://") else url
    return "://" not in path and os.path.exists(path)


def use_support_components(graph: Any) -> None:
    """Build what the consumer, the dispatcher and the producer reach lazily, so a locked graph has them."""
    for name in ("sqs_client", "sns_client"):
        try:
            graph.use(name)
        except PubSubError as error:
            # A daemon that never publishes needs no SNS client, one reading a file no SQS client;
            # whichever is needed raises this error on first use (the SQS one at start)
            logger.debug("no %s: %s", name, error)
            graph.assign(name, Unavailable(name, error))
    graph.use(*SUPPORT_COMPONENTS)
    for name in OPTIONAL_SUPPORT_COMPONENTS:
        if not is_bound(graph, name):
            continue
        try:
            # microcosm-logging configures the root logger as it builds; the daemon's logging stays its own
            with root_logging_kept():
                graph.use(name)
        except Exception as error:
            # microcosm-logging's logging stack breaks with python-json-logger 3.1 and later
            logger.warning("%s is bound but cannot be built (%s: %s); handlers reading graph.%s will fail",
                           name, type(error).__name__, error, name)


@contextmanager
def root_logging_kept() -> Iterator[None]:
    """Restore the root logger's handlers and level after the block, whatever it configured."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)


def is_bound(graph: Any, name: str) -> bool:
    """Whether some installed package (or the application) binds `name`."""
    try:
        graph.factory_for(name)
    except NotBoundError:
        return False
    return True


def summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{outcome} {count}" for outcome, count in sorted(counts.items())) or "no messages"


def configure_logging(debug: bool = False) -> None:
    """Plain standard-library logging unless the application configured its own."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.DEBUG if debug else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
    # boto's own DEBUG output includes request signing details
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
