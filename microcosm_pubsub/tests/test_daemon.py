"""ConsumerDaemon: start-time checks in-process, and real daemon programs as subprocesses."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from hamcrest import (
    assert_that,
    calling,
    contains_string,
    equal_to,
    has_items,
    is_,
    is_not,
    less_than_or_equal_to,
    none,
    raises,
)
from microcosm.api import binding, load_from_dict
from microcosm.caching import NaiveCache

from microcosm_pubsub.aws.provisioning import Stack, provision
from microcosm_pubsub.consume.readers import STDIN
from microcosm_pubsub.graph import config
from microcosm_pubsub.graph.config import unknown_keys
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.runtime.daemon_args import command_line_config
from microcosm_pubsub.runtime.startup import warn_unknown_keys
from microcosm_pubsub.schemas.decorators import handles
from microcosm_pubsub.testing.queues import admin_clients
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.daemons.example import SimpleSchema
from microcosm_pubsub.tests.daemons.recording import RECORD_FILE_VARIABLE, WorkSchema
from microcosm_pubsub.wire.errors import DuplicateHandlerError


EXAMPLE = "microcosm_pubsub.tests.daemons.example"
RECORDING = "microcosm_pubsub.tests.daemons.recording"
DUPLICATE_MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.daemon.duplicate"
# Bounds for waits on child processes; only a broken daemon comes near them
WAIT_SECONDS = 30.0

SNS: Any = None
SQS: Any = None


def setUpModule() -> None:
    global SNS, SQS
    # The toolkit's clients for the endpoint: built once per process, closed at exit
    SNS, SQS = admin_clients(fixtures.endpoint())


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, read back, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class DaemonProcess:
    """A daemon program in a child process; its output goes to files the test reads while it runs."""

    def __init__(self, directory: Path, module: str, args: list[str], env: dict[str, str]) -> None:
        index = len(list(directory.glob("*.stderr")))
        self.stdout_path = directory / f"{index}.stdout"
        self.stderr_path = directory / f"{index}.stderr"
        # Files rather than pipes: nobody has to drain them, and the test reads them with its own offset
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, *args], env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def terminate(self) -> int | None:
        """SIGTERM, then the exit status (None if it did not exit in time)."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self, timeout: float = WAIT_SECONDS) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class DaemonProcessTestCase(unittest.TestCase):
    """Spawns daemons that are killed at cleanup, whatever the test did."""

    def setUp(self) -> None:
        directory = tempfile.TemporaryDirectory(prefix="daemon-test-")
        self.addCleanup(directory.cleanup)
        self.directory = Path(directory.name)
        self.record_path = self.directory / "record.txt"
        self.record_path.touch()

    def make_stack(self, visibility_timeout: int = 30) -> Stack:
        # No redrive: a message redelivered after SIGKILL must come back to the queue, not move away
        return provision(
            SNS, SQS, fixtures.unique_name("daemon"), dead_letter=False, visibility_timeout=visibility_timeout,
        )

    def spawn(self, module: str, *args: str, **environ: str) -> DaemonProcess:
        env = {**os.environ, **fixtures.endpoint().environ(), RECORD_FILE_VARIABLE: str(self.record_path), **environ}
        daemon = DaemonProcess(self.directory, module, list(args), env)
        self.addCleanup(daemon.kill)
        return daemon

    def producer(self, stack: Stack) -> Any:
        graph = fixtures.make_graph(stack)
        self.addCleanup(lambda: graph.sns_client.close())
        return graph.sns_producer

    def events(self, event: str) -> Counter[str]:
        """How often the recording handler logged `event` for each message name."""
        lines = self.record_path.read_text().splitlines()
        return Counter(line.split()[1] for line in lines if line.startswith(f"{event} "))


class ExampleDaemonTestCase(DaemonProcessTestCase):
    def test_readme_example_handles_every_message(self) -> None:
        """The old README example handles every message produced to its topic, then exits 0 on SIGTERM."""
        stack = self.make_stack()
        daemon = self.spawn(EXAMPLE, "--sqs-queue-url", stack.queue_url, EXAMPLE__SQS_CONSUMER__WAIT_SECONDS="1")
        producer = self.producer(stack)
        names = [f"example-{index}" for index in range(5)]
        for name in names:
            producer.produce(SimpleSchema.MEDIA_TYPE, name=name)
        fixtures.wait_for(lambda: daemon.stdout.count("handled") >= len(names), WAIT_SECONDS)
        assert_that(daemon.terminate(), is_(equal_to(0)))
        assert_that(sorted(daemon.stdout.splitlines()), is_(equal_to([f"handled {name}" for name in names])))
        assert_that(fixtures.queue_counts(SQS, stack.queue_url), is_(equal_to((0, 0))))

    def test_missing_queue_url(self) -> None:
        """Without a queue URL the daemon exits non-zero and says how to give one."""
        daemon = self.spawn(EXAMPLE)
        assert_that(daemon.wait(), is_not(equal_to(0)))
        assert_that(daemon.stderr, contains_string("no SQS queue to consume: pass --sqs-queue-url"))

    def test_unreachable_endpoint_is_retried(self) -> None:
        """An endpoint that refuses connections is logged and retried; the daemon lives on and exits 0 on SIGTERM."""
        url = f"http://127.0.0.1:{closed_port()}"
        daemon = self.spawn(
            EXAMPLE, "--sqs-queue-url", f"{url}/123456789012/nowhere",
            AWS_ENDPOINT_URL=url,
            # One try per receive, so the daemon's own backoff shows within seconds
            EXAMPLE__SQS_CONSUMER__MAX_ATTEMPTS="1",
        )
        fixtures.wait_for(
            lambda: "receive failed (3 in a row)" in daemon.stderr or daemon.process.poll() is not None, WAIT_SECONDS,
        )
        assert_that(daemon.process.poll(), is_(none()))
        assert_that(daemon.stderr, contains_string("Could not connect to the endpoint URL"))
        assert_that(daemon.terminate(), is_(equal_to(0)))

    def test_missing_queue_exits_2_with_one_line(self) -> None:
        """Started on a queue that does not exist, the daemon exits 2 within seconds with one line naming it."""
        queue_url = f"{fixtures.endpoint().url}/123456789012/{fixtures.unique_name('nope')}"
        daemon = self.spawn(EXAMPLE, "--sqs-queue-url", queue_url)
        assert_that(daemon.wait(timeout=15), is_(equal_to(2)))
        [line] = daemon.stderr.splitlines()
        assert_that(line, contains_string(f"example cannot start: queue {queue_url} does not exist: create it"))

    def test_unreachable_endpoint_is_unready_then_exits(self) -> None:
        """An endpoint unreachable past pubsub_runner.unreachable_exit_seconds: unready, then exit 1 with one line."""
        url = f"http://127.0.0.1:{closed_port()}"
        port = closed_port()
        daemon = self.spawn(
            EXAMPLE, "--sqs-queue-url", f"{url}/123456789012/nowhere",
            "--healthcheck-host", "127.0.0.1", "--healthcheck-port", str(port),
            AWS_ENDPOINT_URL=url, EXAMPLE__SQS_CONSUMER__MAX_ATTEMPTS="1",
            EXAMPLE__PUBSUB_RUNNER__UNREACHABLE_EXIT_SECONDS="4",
        )
        fixtures.wait_for(lambda: http_status(port, "/ready") is not None, WAIT_SECONDS)
        assert_that(http_status(port, "/ready"), is_(equal_to(503)))
        assert_that(daemon.wait(), is_(equal_to(1)))
        [line] = [line for line in daemon.stderr.splitlines() if " gave up: " in line]
        assert_that(line, contains_string("no receive succeeded for 4s (pubsub_runner.unreachable_exit_seconds=4)"))

    def test_invalid_value_is_named_as_invalid(self) -> None:
        """WAIT_SECONDS=abc: exit 2 and one line naming the key, the value and the type, not 'missing'."""
        daemon = self.spawn(EXAMPLE, "--sqs-queue-url", "unused", EXAMPLE__SQS_CONSUMER__WAIT_SECONDS="abc")
        assert_that(daemon.wait(), is_(equal_to(2)))
        [line] = daemon.stderr.splitlines()
        assert_that(line, contains_string(
            "invalid configuration: sqs_consumer.wait_seconds is 'abc', which is not a valid int "
            "(environment variable EXAMPLE__SQS_CONSUMER__WAIT_SECONDS, if set there)"
        ))


class StopConditionTestCase(DaemonProcessTestCase):
    def test_max_messages_handles_that_many_and_exits_0(self) -> None:
        """--max-messages 3 with five waiting: three are handled, two stay on the queue, exit 0."""
        stack = self.make_stack()
        producer = self.producer(stack)
        for index in range(5):
            producer.produce(WorkSchema.MEDIA_TYPE, name=f"job-{index}")
        daemon = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url, "--max-messages", "3")
        assert_that(daemon.wait(), is_(equal_to(0)))
        assert_that(sum(self.events("finished").values()), is_(equal_to(3)))
        assert_that(fixtures.queue_counts(SQS, stack.queue_url), is_(equal_to((2, 0))))
        assert_that(daemon.stderr, contains_string("stopping: 3 messages handled (max_messages=3)"))

    def test_stop_when_idle_drains_and_exits_0(self) -> None:
        """--stop-when-idle 2: what is waiting is handled, then two quiet seconds later the daemon exits 0."""
        stack = self.make_stack()
        self.producer(stack).produce(WorkSchema.MEDIA_TYPE, name="last-job")
        daemon = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url, "--stop-when-idle", "2")
        assert_that(daemon.wait(), is_(equal_to(0)))
        assert_that(self.events("finished"), is_(equal_to(Counter(["last-job"]))))
        assert_that(fixtures.queue_counts(SQS, stack.queue_url), is_(equal_to((0, 0))))
        assert_that(daemon.stderr, contains_string("stopping: idle for 2"))

    def test_stop_conditions_from_configuration(self) -> None:
        """pubsub_runner.max_messages set in the environment works as the flag does."""
        stack = self.make_stack()
        self.producer(stack).produce(WorkSchema.MEDIA_TYPE, name="only")
        daemon = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url, RECORDING__PUBSUB_RUNNER__MAX_MESSAGES="1")
        assert_that(daemon.wait(), is_(equal_to(0)))
        assert_that(self.events("finished"), is_(equal_to(Counter(["only"]))))


class ShutdownTestCase(DaemonProcessTestCase):
    def test_sigterm_finishes_in_flight_work(self) -> None:
        """SIGTERM while handlers run: each finishes, its message is deleted, and the exit status is 0."""
        stack = self.make_stack(visibility_timeout=30)
        daemon = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url, "--concurrency", "4")
        producer = self.producer(stack)
        names = [f"long-{index}" for index in range(4)]
        for name in names:
            producer.produce(WorkSchema.MEDIA_TYPE, name=name, seconds=2.0)
        fixtures.wait_for(lambda: len(self.events("started")) == len(names), WAIT_SECONDS)
        assert_that(daemon.terminate(), is_(equal_to(0)))
        assert_that(self.events("finished"), is_(equal_to(Counter(names))))
        assert_that(fixtures.queue_counts(SQS, stack.queue_url), is_(equal_to((0, 0))))
        assert_that(daemon.stderr, contains_string("received SIGTERM"))

    def test_sigkill_loses_nothing(self) -> None:
        """After SIGKILL of a busy daemon, a new daemon handles the rest: every message at least once."""
        # A short visibility timeout brings back what the killed daemon held within seconds
        stack = self.make_stack(visibility_timeout=2)
        first = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url, "--concurrency", "4")
        producer = self.producer(stack)
        names = [f"job-{index}" for index in range(24)]
        for name in names:
            producer.produce(WorkSchema.MEDIA_TYPE, name=name, seconds=0.2)
        fixtures.wait_for(lambda: sum(self.events("finished").values()) >= 6, WAIT_SECONDS)
        first.process.send_signal(signal.SIGKILL)
        first.wait()
        second = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url, "--concurrency", "4")
        fixtures.wait_for(lambda: set(self.events("finished")) >= set(names), WAIT_SECONDS)
        assert_that(second.terminate(), is_(equal_to(0)))
        finished = self.events("finished")
        lost = sorted(set(names) - set(finished))
        duplicates = sum(count - 1 for count in finished.values())
        assert_that((lost, fixtures.queue_counts(SQS, stack.queue_url)), is_(equal_to(([], (0, 0)))))
        # At-least-once: what the killed daemon finished but had not deleted runs again, no more than it held
        assert_that(duplicates, is_(less_than_or_equal_to(10)))


class ConfigurationTestCase(DaemonProcessTestCase):
    def startup_line(self, daemon: DaemonProcess) -> str:
        """The daemon's 'consuming ...' line, once it has logged it; then the daemon is stopped."""
        fixtures.wait_for(
            lambda: " consuming " in daemon.stderr or daemon.process.poll() is not None, WAIT_SECONDS,
        )
        assert_that(daemon.terminate(), is_(equal_to(0)))
        [line] = [line for line in daemon.stderr.splitlines() if " consuming " in line]
        return line

    def test_configuration_from_environment(self) -> None:
        """Queue URL and concurrency come from <NAME>__<BINDING>__<KEY> environment variables."""
        stack = self.make_stack()
        daemon = self.spawn(
            RECORDING,
            RECORDING__SQS_CONSUMER__SQS_QUEUE_URL=stack.queue_url,
            RECORDING__SQS_CONSUMER__CONCURRENCY="3",
        )
        self.producer(stack).produce(WorkSchema.MEDIA_TYPE, name="from-env")
        fixtures.wait_for(lambda: "from-env" in self.events("finished"), WAIT_SECONDS)
        assert_that(self.startup_line(daemon), contains_string(f"consuming {stack.queue_url} with concurrency 3"))
        assert_that(self.events("finished"), is_(equal_to(Counter(["from-env"]))))

    def test_configuration_from_defaults(self) -> None:
        """A daemon's `defaults` apply when neither environment nor command line says otherwise."""
        stack = self.make_stack()
        daemon = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url)
        # RecordingDaemon.defaults sets concurrency 2 where the library's default is 1
        assert_that(self.startup_line(daemon), contains_string("with concurrency 2 "))

    def test_concurrency_flag_wins(self) -> None:
        """--concurrency beats the environment, which beats the daemon's defaults."""
        stack = self.make_stack()
        daemon = self.spawn(
            RECORDING, "--sqs-queue-url", stack.queue_url, "--concurrency", "5",
            RECORDING__SQS_CONSUMER__CONCURRENCY="3",
        )
        assert_that(self.startup_line(daemon), contains_string("with concurrency 5 "))


@binding("daemon_test_first_duplicate")
@handles(DUPLICATE_MEDIA_TYPE)
class FirstDuplicateHandler:
    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, message: dict[str, Any]) -> bool:
        return True


@binding("daemon_test_second_duplicate")
@handles(DUPLICATE_MEDIA_TYPE)
class SecondDuplicateHandler:
    def __init__(self, graph: Any) -> None:
        pass

    def __call__(self, message: dict[str, Any]) -> bool:
        return True


class DuplicateDaemon(ConsumerDaemon):
    name = "duplicate"

    @property
    def components(self) -> list[str]:
        return [*super().components, "daemon_test_first_duplicate", "daemon_test_second_duplicate"]


class StartTestCase(unittest.TestCase):
    def test_duplicate_handlers_fail_at_start(self) -> None:
        """Two active handlers for one media type stop the daemon at start, naming both."""
        daemon = DuplicateDaemon.create_for_testing(loader=load_from_dict(fixtures.graph_config()))
        start: Callable[[], Any] = daemon.start
        assert_that(start, raises(DuplicateHandlerError, "FirstDuplicateHandler and .*SecondDuplicateHandler"))
        assert_that(daemon.runner, is_(none()))


class OldCommandLineTestCase(unittest.TestCase):
    def config_for(self, *argv: str) -> dict[str, Any]:
        daemon = ConsumerDaemon()
        return command_line_config(daemon.parse_args(list(argv)))

    def test_envelope_flag_names_the_strategy(self) -> None:
        """--envelope sets sqs_envelope.strategy_name."""
        config = self.config_for("--envelope", "RawSQSEnvelope")
        assert_that(config["sqs_envelope"], is_(equal_to({"strategy_name": "RawSQSEnvelope"})))

    def test_concurrency_flag_sets_the_runner_key(self) -> None:
        """--concurrency sets pubsub_runner.concurrency, the key that governs the handler threads."""
        config = self.config_for("--concurrency", "3")
        assert_that(config["pubsub_runner"], is_(equal_to({"concurrency": 3})))

    def test_stdin_flag_reads_naive_messages(self) -> None:
        """--stdin sets the queue URL STDIN and the naive envelope."""
        config = self.config_for("--stdin")
        assert_that(
            (config["sqs_consumer"]["sqs_queue_url"], config["sqs_envelope"]["strategy_name"]),
            is_(equal_to((STDIN, "NaiveSQSEnvelope"))),
        )

    def test_healthcheck_flags_configure_the_health_endpoint(self) -> None:
        """--healthcheck-port, --healthcheck-host and --heartbeat-threshold-seconds set pubsub_health."""
        config = self.config_for(
            "--healthcheck-port", "8181", "--healthcheck-host", "127.0.0.1", "--heartbeat-threshold-seconds", "30",
        )
        assert_that(config["pubsub_health"], is_(equal_to({"port": 8181, "host": "127.0.0.1", "stall_seconds": 30.0})))

    def test_healthcheck_port_alone_listens_where_the_old_daemon_did(self) -> None:
        """--healthcheck-port without a host answers on every interface, as the old flag did."""
        assert_that(self.config_for("--healthcheck-port", "8181")["pubsub_health"]["host"], is_(equal_to("0.0.0.0")))

    def test_heartbeat_variable_is_the_threshold_default(self) -> None:
        """MICROCOSM_HEARTBEAT_THRESHOLD_SECONDS sets the stall limit (and the old port 80) when no flag does."""
        with fixtures.environ(MICROCOSM_HEARTBEAT_THRESHOLD_SECONDS="45"):
            config = self.config_for()
        assert_that(config["pubsub_health"], is_(equal_to({"port": 80, "host": "0.0.0.0", "stall_seconds": 45.0})))

    def test_no_health_flags_no_health_config(self) -> None:
        """Without the old flags or the variable the command line leaves pubsub_health alone."""
        with fixtures.environ(MICROCOSM_HEARTBEAT_THRESHOLD_SECONDS=None):
            assert_that(self.config_for(), is_(equal_to({})))

    def test_debug_and_testing_are_exclusive(self) -> None:
        """--debug with --testing is refused, as the old daemon refused it."""
        with contextlib.redirect_stderr(io.StringIO()):
            assert_that(calling(self.config_for).with_args("--debug", "--testing"), raises(SystemExit))

    def test_stop_flags_must_be_positive(self) -> None:
        """--max-messages 0 and --stop-when-idle 0 are usage errors."""
        for flags in (["--max-messages", "0"], ["--stop-when-idle", "0"]):
            with contextlib.redirect_stderr(io.StringIO()):
                assert_that(calling(ConsumerDaemon().parse_args).with_args(flags), raises(SystemExit))

    def test_processes_refuse_a_file_source(self) -> None:
        """--processes 2 with --stdin is refused: one stream cannot be read by two processes."""
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            assert_that(calling(self.config_for).with_args("--processes", "2", "--stdin"), raises(SystemExit))
        assert_that(stderr.getvalue(), contains_string("a file or stdin is read by one process"))

    def test_health_flags_add_the_monitor_to_the_middleware(self) -> None:
        """The old health flags need no configuration: pubsub_health joins the middleware chain."""
        daemon = ConsumerDaemon()
        args = daemon.parse_args(["--testing", "--healthcheck-port", "0"])
        graph = daemon.create_object_graph(args, loader=load_from_dict(sqs_consumer={"sqs_queue_url": "queue"}))
        assert_that(graph.config.pubsub_middleware.components, is_(equal_to(["pubsub_health"])))


class CreateForTestingTestCase(unittest.TestCase):
    def test_old_testing_defaults(self) -> None:
        """Queue `queue`, one-second receives, the recording producer and a locked graph."""
        graph = ConsumerDaemon.create_for_testing().graph
        assert_that(
            (graph.config.sqs_consumer.sqs_queue_url, graph.config.sqs_consumer.wait_seconds,
             type(graph.sns_producer).__name__, graph._locked),
            is_(equal_to(("queue", 1, "RecordingProducer", True))),
        )

    def test_graphs_are_shared_per_class_without_a_loader(self) -> None:
        """Two daemons of one class built without a loader share components, as the old ProcessCache did."""
        first, second = ConsumerDaemon.create_for_testing(), ConsumerDaemon.create_for_testing()
        assert_that(second.graph.sqs_consumer, is_(first.graph.sqs_consumer))

    def test_a_given_cache_is_used(self) -> None:
        """With a NaiveCache each daemon gets its own components."""
        first = ConsumerDaemon.create_for_testing(cache=NaiveCache())
        second = ConsumerDaemon.create_for_testing(cache=NaiveCache())
        assert_that(second.graph.sqs_consumer, is_not(first.graph.sqs_consumer))

    def test_a_loader_gets_fresh_components(self) -> None:
        """With a loader each daemon gets its own components: its configuration may differ from the last."""
        first = ConsumerDaemon.create_for_testing(loader=load_from_dict())
        second = ConsumerDaemon.create_for_testing(loader=load_from_dict())
        assert_that(second.graph.sqs_consumer, is_not(first.graph.sqs_consumer))

    def test_old_default_components(self) -> None:
        """The components old daemons extend with their handlers are the defaults."""
        assert_that(
            ConsumerDaemon().components,
            has_items("opaque", "pubsub_message_schema_registry", "sqs_message_handler_registry",
                      "sqs_consumer", "sqs_message_dispatcher"),
        )

    def test_event_selects_the_lambda_envelope(self) -> None:
        """`cls(event=...)` reads the event's record with the Lambda envelope."""
        daemon = ConsumerDaemon.create_for_testing(cache=NaiveCache(), event={"messageId": "m", "body": "{}"})
        assert_that(daemon.graph.config.sqs_envelope.strategy_name, is_(equal_to("LambdaSQSEnvelope")))

    def test_import_name_and_root_path_reach_the_graph(self) -> None:
        """A daemon's `import_name` and `root_path`, which the old daemon passed to microcosm, are the graph's."""
        daemon = ResourcesDaemon.create_for_testing(cache=NaiveCache())
        assert_that(
            (daemon.graph.metadata.import_name, daemon.graph.metadata.root_path),
            is_(equal_to(("microcosm_pubsub.tests", "/srv/resources"))),
        )


class ResourcesDaemon(ConsumerDaemon):
    name = "resources"

    @property
    def import_name(self) -> str:  # type: ignore[override]  # old daemons declare it as a property
        return "microcosm_pubsub.tests"

    root_path = "/srv/resources"


class OldModuleTestCase(unittest.TestCase):
    def test_old_daemon_module_names(self) -> None:
        """`microcosm_pubsub.daemon` offers what the old module did, but for microcosm-daemon's own classes."""
        import microcosm_pubsub.daemon as old

        names = ("ConsumerDaemon", "STDIN", "SQSEnvelope", "NaiveSQSEnvelope", "LambdaSQSEnvelope", "load_each",
                 "load_from_dict")
        assert_that([name for name in names if not hasattr(old, name)], is_(equal_to([])))


class LockedGraphTestCase(unittest.TestCase):
    def test_produce_from_a_locked_daemon_graph(self) -> None:
        """A handler's producer publishes from the daemon's locked graph."""
        stack = fixtures.new_stack("locked")
        config = fixtures.graph_config(stack)
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict(config))
        self.addCleanup(fixtures.close_clients, daemon.graph)
        daemon.graph.sns_producer.produce(SimpleSchema.MEDIA_TYPE, name="locked")
        [message] = fixtures.receive(daemon.graph)
        assert_that((daemon.graph._locked, message.content["name"]), is_(equal_to((True, "locked"))))


class UnknownKeysTestCase(unittest.TestCase):
    def test_each_unknown_key_is_named(self) -> None:
        """Keys no binding declares, in this package's sections or a retired old binding's, are listed."""
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict(
            sqs_consumer={"no_such_key": "1"}, retired_binding={"enabled": "false"},
            some_other_library={"anything": "1"},
        ))
        with mock.patch.object(config, "OLD_BINDINGS", frozenset({"retired_binding"})):
            found = unknown_keys(daemon.graph)
        assert_that(found, is_(equal_to(["retired_binding.enabled", "sqs_consumer.no_such_key"])))

    def test_one_warning_per_unknown_key(self) -> None:
        """Starting logs one warning for each unknown key, and none for known ones."""
        daemon = ConsumerDaemon.create_for_testing(loader=load_from_dict(
            sqs_consumer={"no_such_key": "1", "limit": 5}, sns_producer={"bogus": "x"},
        ))
        with self.assertLogs("microcosm_pubsub.daemon", "WARNING") as logs:
            warn_unknown_keys("test", daemon.graph)
        assert_that(
            [line.split("configuration key ")[1].split(" ")[0] for line in logs.output],
            is_(equal_to(["sns_producer.bogus", "sqs_consumer.no_such_key"])),
        )


class SourcesTestCase(DaemonProcessTestCase):
    def test_file_of_messages_as_the_queue(self) -> None:
        """A file path as --sqs-queue-url: each line's message is handled, then the daemon exits 0."""
        path = self.directory / "messages.jsonl"
        names = [f"file-{index}" for index in range(3)]
        path.write_text("".join(json.dumps({
            "MessageId": name, "ReceiptHandle": name,
            "Body": json.dumps({"Message": json.dumps({"mediaType": SimpleSchema.MEDIA_TYPE, "name": name})}),
        }) + "\n" for name in names))
        daemon = self.spawn(EXAMPLE, "--sqs-queue-url", str(path))
        assert_that(daemon.wait(), is_(equal_to(0)))
        assert_that(sorted(daemon.stdout.splitlines()), is_(equal_to([f"handled {name}" for name in names])))

    def test_stdin_messages(self) -> None:
        """--stdin: each line is a bare message; the daemon exits 0 at the end of the input."""
        lines = "".join(
            json.dumps({"mediaType": SimpleSchema.MEDIA_TYPE, "name": f"stdin-{index}"}) + "\n" for index in range(2)
        )
        env = {**os.environ, **fixtures.endpoint().environ()}
        process = subprocess.run(
            [sys.executable, "-m", EXAMPLE, "--stdin"], input=lines, capture_output=True, text=True, env=env,
            timeout=WAIT_SECONDS, check=False,
        )
        assert_that(
            (process.returncode, sorted(process.stdout.splitlines())),
            is_(equal_to((0, ["handled stdin-0", "handled stdin-1"]))),
        )


class HealthcheckTestCase(DaemonProcessTestCase):
    def test_healthcheck_port_answers(self) -> None:
        """--healthcheck-port P serves the old /api/health path and /ready once the daemon receives."""
        stack = self.make_stack()
        port = closed_port()
        daemon = self.spawn(
            EXAMPLE, "--sqs-queue-url", stack.queue_url, "--healthcheck-host", "127.0.0.1",
            "--healthcheck-port", str(port), EXAMPLE__SQS_CONSUMER__WAIT_SECONDS="1",
        )
        fixtures.wait_for(lambda: http_status(port, "/ready") == 200, WAIT_SECONDS)
        assert_that(
            (http_status(port, "/api/health"), http_status(port, "/ready")), is_(equal_to((200, 200))),
        )
        assert_that(daemon.terminate(), is_(equal_to(0)))


def http_status(port: int, path: str) -> int | None:
    """The status a GET of `path` on 127.0.0.1:`port` answers, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None
