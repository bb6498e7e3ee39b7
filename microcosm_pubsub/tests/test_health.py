"""Health: liveness and readiness of the receive loop, judged by the monitor and served over HTTP."""
from __future__ import annotations

import json
import logging
import socket
import threading
import unittest
import urllib.error
import urllib.request
from typing import Any

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_string,
    equal_to,
    has_entries,
    has_item,
    has_properties,
    is_,
    raises,
)
from microcosm.api import load_from_dict

from microcosm_pubsub.aws.local import LocalEndpoint
from microcosm_pubsub.middleware.health import HealthMonitor, start_health_server
from microcosm_pubsub.runtime.daemon import ConsumerDaemon
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.wire.errors import ConfigurationError, ConsumeError


# Long enough for a slow, shared machine; the loops below end as soon as the state is reached
WAIT_SECONDS = 15.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(url: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a GET, 5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read back, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class MonitorTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.monitor = HealthMonitor(stall_seconds=60, max_consecutive_failures=3, clock=self.clock)

    def test_not_ready_before_the_first_receive(self) -> None:
        """A fresh loop is live but not ready until a receive succeeds."""
        assert_that(self.monitor.status(), has_properties(live=True, ready=False))

    def test_ready_after_a_receive(self) -> None:
        """A successful receive, even an empty one, makes the loop ready."""
        self.monitor.received([])
        assert_that(self.monitor.status(), has_properties(live=True, ready=True, problems=[]))

    def test_consecutive_failures_make_it_unready(self) -> None:
        """K receive failures in a row: not ready (restarting would not reach the endpoint either), still live."""
        self.monitor.received([])
        for _ in range(3):
            self.monitor.receive_failed(ConsumeError("connection refused"))
        assert_that(self.monitor.status(), has_properties(
            live=True, ready=False, consecutive_failures=3, problems=has_item(contains_string("connection refused")),
        ))

    def test_a_success_clears_the_failures(self) -> None:
        """A receive that succeeds after failures makes the loop ready again."""
        for _ in range(3):
            self.monitor.receive_failed(ConsumeError("connection refused"))
        self.monitor.received([])
        assert_that(self.monitor.status(), has_properties(ready=True, consecutive_failures=0))

    def test_stalled_loop_is_not_live(self) -> None:
        """No receive and no settle for longer than stall_seconds: neither live nor ready."""
        self.monitor.received([])
        self.clock.now += 61
        assert_that(self.monitor.status(), has_properties(live=False, ready=False))


class EndpointTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.monitor = HealthMonitor()
        host, port = self.monitor.serve("127.0.0.1", 0)
        self.addCleanup(self.monitor.stop)
        self.url = f"http://{host}:{port}"

    def test_ready_answers_503_then_200(self) -> None:
        """`/ready` answers 503 until a receive succeeds, then 200."""
        assert_that(get(f"{self.url}/ready")[0], is_(equal_to(503)))
        self.monitor.received([])
        assert_that(get(f"{self.url}/ready"), contains_exactly(200, has_entries(status="ok", ready=True)))

    def test_live_answers_200(self) -> None:
        """`/live` answers 200 while the loop turns."""
        assert_that(get(f"{self.url}/live")[0], is_(equal_to(200)))

    def test_unknown_path_is_404(self) -> None:
        """Other paths are not found."""
        assert_that(get(f"{self.url}/metrics")[0], is_(equal_to(404)))

    def test_port_without_middleware_is_a_configuration_error(self) -> None:
        """A health port with `pubsub_health` missing from the middleware is refused: nothing would feed it."""
        graph = fixtures.make_graph(pubsub_health={"port": 0})
        assert_that(calling(start_health_server).with_args(graph), raises(ConfigurationError))


class DaemonHealthTestCase(unittest.TestCase):
    """A daemon with `pubsub_health` on port 0, its receive loop on a thread."""

    def start_daemon(self, endpoint_url: str) -> str:
        stack = fixtures.new_stack("health")
        config = fixtures.graph_config(
            stack,
            pubsub_middleware={"components": ["pubsub_health"]},
            pubsub_health={"port": 0, "max_consecutive_failures": 2},
            # One attempt per receive, so an unreachable endpoint shows within seconds
            sqs_consumer={"endpoint_url": endpoint_url, "max_attempts": 1, "connect_timeout_seconds": 1.0},
        )
        daemon = ConsumerDaemon.create_for_testing(load_from_dict(config))
        daemon.start()
        monitor = daemon.graph.pubsub_health
        self.addCleanup(monitor.stop)
        # Built here, before the runner's threads race to build it (microcosm's graph is not thread-safe)
        client = daemon.graph.sqs_client
        self.addCleanup(client.close)
        assert daemon.runner is not None
        thread = threading.Thread(target=daemon.runner.run, name="health-runner", daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(daemon.stop.set)
        host, port = monitor.server.server_address[:2]
        return f"http://{host}:{port}"

    def test_unreachable_endpoint_makes_it_unready(self) -> None:
        """A consumer pointed at a closed port: `/ready` turns 503 naming the failed receives."""
        with self.assertLogs("microcosm_pubsub.runner", logging.WARNING):
            url = self.start_daemon(f"http://127.0.0.1:{closed_port()}")
            failing = fixtures.wait_for(lambda: get(f"{url}/ready")[1]["consecutive_failures"] >= 2, WAIT_SECONDS)
            assert_that(failing, is_(True))
        status, document = get(f"{url}/ready")
        assert_that(status, is_(equal_to(503)))
        assert_that(document["problems"], has_item(contains_string("receives failed in a row")))
        assert_that(get(f"{url}/live")[0], is_(equal_to(200)))

    def test_endpoint_going_down_turns_ready_to_unready(self) -> None:
        """Ready while the endpoint answers; 503 once it is gone."""
        # A second server over the same in-process state, so this test can stop it
        local = LocalEndpoint().start()
        self.addCleanup(local.stop)
        url = self.start_daemon(local.url)
        assert_that(fixtures.wait_for(lambda: get(f"{url}/ready")[0] == 200, WAIT_SECONDS), is_(True))
        with self.assertLogs("microcosm_pubsub.runner", logging.WARNING):
            local.stop()
            assert_that(fixtures.wait_for(lambda: get(f"{url}/ready")[0] == 503, WAIT_SECONDS), is_(True))
        assert_that(get(f"{url}/ready")[1]["problems"], has_item(contains_string("receives failed in a row")))
