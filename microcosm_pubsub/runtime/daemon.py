"""`ConsumerDaemon`: a service's consumer process: start-up checks, signals, the receive loop."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from argparse import ArgumentParser, Namespace
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any, Generic, TypeVar

# These, the envelopes and STDIN: the old `microcosm_pubsub.daemon` (this module under that name too) offered them
from microcosm.api import load_each as load_each
from microcosm.api import load_from_dict as load_from_dict
from microcosm.caching import Cache, NaiveCache, ProcessCache
from microcosm.errors import ValidationError as MicrocosmValidationError

from microcosm_pubsub.consume.envelope import LambdaSQSEnvelope as LambdaSQSEnvelope
from microcosm_pubsub.consume.envelope import NaiveSQSEnvelope as NaiveSQSEnvelope
from microcosm_pubsub.consume.envelope import SQSEnvelope as SQSEnvelope
from microcosm_pubsub.consume.logs import configure_daemon_logging
from microcosm_pubsub.consume.readers import STDIN as STDIN
from microcosm_pubsub.graph.config import explain_validation_error, flag, key_list
from microcosm_pubsub.middleware.health import start_health_server
from microcosm_pubsub.middleware.metrics.middleware import serve_metrics
from microcosm_pubsub.runtime.daemon_args import HEALTH, arg_parser, check_args, command_line_config
from microcosm_pubsub.runtime.daemon_graph import build_graph, build_shared_components, testing_loader
from microcosm_pubsub.runtime.runner import Runner
from microcosm_pubsub.runtime.startup import announce_start
from microcosm_pubsub.runtime.stopping import RunnerSettings
from microcosm_pubsub.wire.errors import ConfigurationError, PubSubError


logger = logging.getLogger("microcosm_pubsub.daemon")

R = TypeVar("R")

# A relay stopping finishes its round: at most a claim of rows published and marked
RELAY_STOP_SECONDS = 30


class classorinstancemethod(Generic[R]):
    """A method callable on an instance, or on the class, for which it builds a default instance."""

    def __init__(self, function: Callable[..., R]) -> None:
        self.function = function
        self.__doc__ = function.__doc__

    def __get__(self, instance: Any, owner: type[Any]) -> Callable[..., R]:
        return lambda *args, **kwargs: self.function(owner() if instance is None else instance, *args, **kwargs)


class ConsumerDaemon:
    """Subclass, set `name`, extend `components` with handler bindings, optionally `defaults`; call `run()`.

    What the old daemon let a service override keeps its meaning: `name`, `components`, `defaults`,
    `import_name`, `root_path`, `make_arg_parser`, `create_object_graph`, `create_for_testing`.
    """

    name: str = "consumer"
    # Where microcosm loads a service's resources from, as the old daemon passed them to the graph
    import_name: str | None = None
    root_path: str | None = None

    def __init__(self, event: Mapping[str, Any] | None = None) -> None:
        self.graph: Any = None
        self.args: Namespace | None = None
        # A Lambda SQS record the consumer reads instead of a queue (the old SQSJsonReader path)
        self.event = dict(event) if event else None
        self.stop = threading.Event()
        self.runner: Runner | None = None
        # The outbox relay's thread, when `pubsub_outbox.relay_in_daemon` asks for one
        self.relay_thread: threading.Thread | None = None
        # Set once the handlers are done, so that the relay publishes what their last transactions committed
        self.relay_stop = threading.Event()

    @property
    def components(self) -> list[str]:
        """Binding names the daemon's graph builds at start; handler components among them become active."""
        return ["opaque", "pubsub_message_schema_registry", "sqs_message_handler_registry",
                "sqs_consumer", "sqs_message_dispatcher"]

    @property
    def defaults(self) -> dict[str, Any]:
        """Configuration below the environment and the command line."""
        return {}

    @property
    def bound_handlers(self) -> dict[str, Any]:
        """The active handlers by media type: those bound in `components`."""
        return dict(self.graph.sqs_message_handler_registry.compute_bound_handlers(self.components))

    def make_arg_parser(self) -> ArgumentParser:
        return arg_parser(self.name)

    def parse_args(self, argv: Sequence[str] | None = None) -> Namespace:
        parser = self.make_arg_parser()
        return check_args(parser, parser.parse_args(argv))

    def create_object_graph(self, args: Namespace, cache: Cache | None = None, loader: Any = None) -> Any:
        """The daemon's graph, locked: `defaults`, the loader (else the environment), then the command line."""
        return build_graph(
            self.name, args, self.components, self.defaults, command_line_config(args, self.event),
            cache=cache, loader=loader, import_name=self.import_name, root_path=self.root_path,
        )

    @classmethod
    def create_for_testing(cls, loader: Any = None, cache: Cache | None = None, **kwargs: Any) -> ConsumerDaemon:
        """A daemon on a testing graph, configured by `loader` (for example `load_from_dict(...)`).

        Stub SQS client unless the loader configures an endpoint, queue URL `queue`, recording producer.
        Without a loader (the old tests' way) every such daemon of the class shares the graph's components.
        """
        daemon = cls(event=kwargs.pop("event", None))
        daemon.args = Namespace(**{
            **vars(daemon.parse_args([])), "testing": True, "debug": False, "sqs_queue_url": None,
            "event": daemon.event, **kwargs,
        })
        if cache is None:
            # With a loader each call gets fresh components: its configuration may differ from the last
            scope = f"{cls.__module__}.{cls.__qualname__}"
            cache = ProcessCache(scope=scope) if loader is None else NaiveCache()  # type: ignore[no-untyped-call]
        daemon.graph = daemon.create_object_graph(daemon.args, cache=cache, loader=testing_loader(loader))
        return daemon

    def lambda_graph(self) -> Any:
        """The daemon's graph for AWS Lambda: its own when built, else one from the environment and default flags."""
        if self.graph is None:
            self.graph = self.create_object_graph(self.parse_args([]))
        return self.graph

    @classorinstancemethod
    def make_lambda_handler(self) -> Any:
        """`handler(event, context)` for AWS Lambda SQS events; callable on the class as well as on a daemon."""
        from microcosm_pubsub.runtime.lambda_handler import LambdaHandler  # only Lambda deployments need it
        return LambdaHandler(self)

    @classorinstancemethod
    def make_outbox_lambda_handler(self) -> Any:
        """`handler(event, context)` for a scheduled Lambda relaying the service's outbox (its table checked now)."""
        from microcosm_pubsub.effects.relay import outbox_lambda_handler  # only outbox deployments need it
        return outbox_lambda_handler(outbox_relay(self.lambda_graph()))

    def run(self, argv: Sequence[str] | None = None) -> None:
        """Parse the command line, build the graph and consume until SIGTERM or SIGINT; exits the process."""
        self.args = self.parse_args(argv)
        configure_logging(debug=self.args.debug)
        if self.args.processes > 1:
            from microcosm_pubsub.runtime.processes import Supervisor  # only multi-process deployments need it
            sys.exit(Supervisor(self, self.args).run())
        sys.exit(self.run_parsed(self.args))

    def run_parsed(self, args: Namespace, health_reports: Any = None) -> int:
        """Build the graph from parsed `args` and consume until stopped; returns the exit status."""
        self.args = args
        try:
            self.graph = self.create_object_graph(args)
            configure_daemon_logging(self.graph, getattr(args, "log_format", None))
            if getattr(args, "debug", False):
                # --debug wins over a configured level (microcosm-logging's binding declares INFO)
                logging.getLogger().setLevel(logging.DEBUG)
            # Before `start` logs that it is consuming: a SIGTERM from then on stops the loop cleanly (exit 0)
            self.install_signal_handlers(in_child=getattr(args, "process_index", None) is not None)
            self.start()
        except PubSubError as error:
            # Configuration mistakes get one clear line, not a traceback
            logger.error("%s cannot start: %s", self.name, error)
            return 2
        except MicrocosmValidationError as error:
            logger.error("%s cannot start: %s", self.name, explain_validation_error(error, self.name))
            return 2
        assert self.runner is not None
        if health_reports is not None and HEALTH in key_list(self.graph.config.pubsub_middleware.components):
            from microcosm_pubsub.runtime.processes import report_health  # only multi-process deployments need it
            threading.Thread(
                target=report_health, args=(getattr(self.graph, HEALTH), args.process_index, health_reports, self.stop),
                name="pubsub-health-report", daemon=True,
            ).start()
        try:
            self.runner.run()
        finally:
            self.stop_outbox_relay()
        if self.runner.failure:
            # A fault no retry heals (credentials, permissions) is a configuration error, found on the first receive
            gave_up = "gave up" if self.runner.failure_status == 1 else "cannot consume"
            logger.error("%s %s: %s", self.name, gave_up, self.runner.failure)
            return self.runner.failure_status
        counts = ", ".join(f"{outcome} {count}" for outcome, count in sorted(self.runner.counts.items()))
        logger.info("%s stopped: %s", self.name, counts or "no messages")
        return 0

    def start(self) -> None:
        """Check the handlers and the configuration, and log what this daemon will do."""
        handlers = self.bound_handlers
        build_shared_components(self.graph)
        settings = RunnerSettings.from_graph_config(self.graph.config)
        runner = self.runner = Runner(
            self.graph.sqs_message_dispatcher, self.graph.sqs_consumer, settings.concurrency, self.stop, settings,
        )
        # A missing queue stops the start here, with one line; an unreachable endpoint is the loop's to retry
        runner.prepare()
        announce_start(self.name, self.graph, runner, self.components, handlers)
        start_health_server(self.graph)
        port = (self.graph.config.get("pubsub_metrics") or {}).get("prometheus_port")
        if getattr(self.args, "process_index", None) is not None and port is not None:
            raise ConfigurationError(
                "pubsub_metrics.prometheus_port cannot be served by each of --processes; "
                "run one process per container, or use a push sink"
            )
        serve_metrics(self.graph)
        self.start_outbox_relay()

    def start_outbox_relay(self) -> None:
        """With `pubsub_outbox.relay_in_daemon`: check the outbox table, relay it in a thread until the daemon stops."""
        if not flag((self.graph.config.get("pubsub_outbox") or {}).get("relay_in_daemon")):
            return
        relay = outbox_relay(self.graph)
        # A missing table or an unreachable database stops the start here, with one line
        relay.check()
        self.relay_stop.clear()
        self.relay_thread = threading.Thread(
            target=relay_until, args=(relay, self.relay_stop), name="pubsub-outbox-relay", daemon=True,
        )
        self.relay_thread.start()

    def stop_outbox_relay(self) -> None:
        """Stop the relay thread once the handlers are done, after a last round (bounded wait)."""
        thread, self.relay_thread = self.relay_thread, None
        if thread is None:
            return
        self.relay_stop.set()
        thread.join(RELAY_STOP_SECONDS)
        if thread.is_alive():
            logger.warning("the outbox relay did not stop within %ss; its rows are published again by the next one",
                           RELAY_STOP_SECONDS)

    def install_signal_handlers(self, in_child: bool = False) -> None:
        def handle(signum: int, frame: FrameType | None) -> None:
            if self.stop.is_set():
                # At once, by request: what is held comes back after its visibility timeout (docs/operating.md)
                os._exit(128 + signum)
            logger.info("%s received %s: finishing in-flight messages", self.name, signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        if not in_child:
            # A child's Ctrl-C comes from its parent as SIGTERM; the terminal's own would count twice
            signal.signal(signal.SIGINT, handle)


def relay_until(relay: Any, stop: threading.Event) -> None:
    """The daemon's relay thread: rounds until `stop`, then what the last handlings committed (bounded)."""
    relay.run(stop)
    try:
        relay.drain(deadline=time.monotonic() + RELAY_STOP_SECONDS / 2)
    except Exception as error:  # the database or AWS gone at exit: the next relay publishes what is left
        logger.warning("the outbox relay's last round failed: %s", error)
    finally:
        relay.close()


def outbox_relay(graph: Any) -> Any:
    """The graph's `pubsub_outbox` relay, built now if the graph was locked without it."""
    locked = bool(getattr(graph, "_locked", False))
    if locked:
        graph.unlock()
    try:
        return graph.pubsub_outbox
    finally:
        if locked:
            graph.lock()


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
