"""`ConsumerDaemon`: a service's consumer process: command line, configuration, signals, the receive loop."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from argparse import ArgumentParser, Namespace
from collections.abc import Sequence
from types import FrameType
from typing import Any

from microcosm.api import create_object_graph, load_each, load_from_dict, load_from_environ
from microcosm.errors import ValidationError as MicrocosmValidationError

from microcosm_pubsub.errors import PubSubError
from microcosm_pubsub.health import start_health_server
from microcosm_pubsub.logs import FORMATS, configure_daemon_logging, log_configuration
from microcosm_pubsub.metrics.middleware import serve_metrics
from microcosm_pubsub.runner import Runner


logger = logging.getLogger("microcosm_pubsub.daemon")


class ConsumerDaemon:
    """Subclass, set `name`, extend `components` with handler bindings, optionally `defaults`; call `run()`."""

    name: str = "consumer"

    def __init__(self) -> None:
        self.graph: Any = None
        self.args: Namespace | None = None
        self.stop = threading.Event()
        self.runner: Runner | None = None

    @property
    def components(self) -> list[str]:
        """Binding names the daemon's graph builds at start; handler components among them become active."""
        return ["sqs_consumer", "sqs_message_dispatcher"]

    @property
    def defaults(self) -> dict[str, Any]:
        """Configuration below the environment and the command line."""
        return {}

    def make_arg_parser(self) -> ArgumentParser:
        parser = ArgumentParser(prog=self.name, description=f"Consume SQS messages for {self.name}")
        parser.add_argument("--sqs-queue-url", help="the queue to consume (else sqs_consumer.sqs_queue_url)")
        parser.add_argument("--debug", action="store_true", help="log at DEBUG")
        parser.add_argument("--testing", action="store_true", help="build a testing graph")
        parser.add_argument("--concurrency", type=int, help="handler threads (default 1)")
        parser.add_argument("--log-format", choices=FORMATS, help="log lines as text or JSON (else logging.format)")
        return parser

    def parse_args(self, argv: Sequence[str] | None = None) -> Namespace:
        args = self.make_arg_parser().parse_args(argv)
        if args.concurrency is not None and args.concurrency < 1:
            self.make_arg_parser().error("--concurrency must be at least 1")
        return args

    def command_line_config(self, args: Namespace) -> dict[str, Any]:
        sqs_consumer: dict[str, Any] = {}
        if getattr(args, "sqs_queue_url", None):
            sqs_consumer["sqs_queue_url"] = args.sqs_queue_url
        if getattr(args, "concurrency", None):
            sqs_consumer["concurrency"] = args.concurrency
        return {"sqs_consumer": sqs_consumer} if sqs_consumer else {}

    def create_graph(self, args: Namespace, loader: Any = None) -> Any:
        """The daemon's graph: defaults, then the environment, then the command line, each winning over the last."""
        graph = create_object_graph(
            name=self.name,
            debug=bool(getattr(args, "debug", False)),
            testing=bool(getattr(args, "testing", False)),
            loader=load_each(
                load_from_dict(self.defaults),
                loader or load_from_environ,
                load_from_dict(self.command_line_config(args)),
            ),
        )
        graph.use(*self.components)
        return graph

    @classmethod
    def create_for_testing(cls, loader: Any = None, **kwargs: Any) -> ConsumerDaemon:
        """A daemon whose graph is a testing graph, configured by `loader` (for example `load_from_dict(...)`)."""
        daemon = cls()
        daemon.args = Namespace(testing=True, debug=False, sqs_queue_url=None, concurrency=None, **kwargs)
        daemon.graph = daemon.create_graph(daemon.args, loader)
        return daemon

    def make_lambda_handler(self) -> Any:
        """`handler(event, context)` for AWS Lambda SQS events; see `microcosm_pubsub.lambda_handler`."""
        from microcosm_pubsub.lambda_handler import LambdaHandler  # only Lambda deployments need it
        return LambdaHandler(self)

    def run(self, argv: Sequence[str] | None = None) -> None:
        """Parse the command line, build the graph and consume until SIGTERM or SIGINT; exits the process."""
        self.args = self.parse_args(argv)
        configure_logging(debug=self.args.debug)
        try:
            self.graph = self.create_graph(self.args)
            configure_daemon_logging(self.graph, self.args.log_format)
            self.start()
        except (PubSubError, MicrocosmValidationError) as error:
            # Configuration mistakes get one clear line, not a traceback
            logger.error("%s cannot start: %s", self.name, error)
            sys.exit(2)
        self.install_signal_handlers()
        assert self.runner is not None
        self.runner.run()
        logger.info("%s stopped: %s", self.name, summary(self.runner.counts))
        sys.exit(0)

    def start(self) -> None:
        """Check the handlers and the configuration, and log what this daemon will do."""
        handlers = self.graph.sqs_message_handler_registry.activate()
        self.build_shared_components()
        consumer = self.graph.sqs_consumer
        dispatcher = self.graph.sqs_message_dispatcher
        concurrency = int(self.graph.config.sqs_consumer.concurrency)
        self.runner = Runner(dispatcher, consumer, concurrency, self.stop)
        logger.info(
            "%s consuming %s with concurrency %d (at most %d messages held, %d of them unhandled), handling: %s",
            self.name, consumer.queue_url, concurrency, self.runner.in_flight.limit, self.runner.in_flight.capacity,
            ", ".join(sorted(handlers)) or "nothing (no active handlers)",
        )
        log_configuration(logger, self.name, self.graph.config)
        start_health_server(self.graph)
        serve_metrics(self.graph)

    def build_shared_components(self) -> None:
        """Build now what handler threads share: microcosm's graph is not safe to build from two threads at once."""
        consumer = self.graph.sqs_consumer
        consumer.client  # noqa: B018 (built for its side effect)
        producer = self.graph.sns_producer
        self.graph.use("pubsub_middleware", "opaque", "sqs_message_context")
        try:
            producer.client  # noqa: B018
        except PubSubError as error:
            # A daemon that never publishes needs no SNS client; one that does will say so on first use
            logger.debug("no SNS client yet: %s", error)

    def install_signal_handlers(self) -> None:
        def handle(signum: int, frame: FrameType | None) -> None:
            if self.stop.is_set():
                # Messages held now come back after their visibility timeout: nothing is lost
                os._exit(128 + signum)
            logger.info("%s received %s: finishing in-flight messages", self.name, signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)


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
