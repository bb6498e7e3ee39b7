"""--processes N: children on one queue against the local endpoint, and the parent's health judgement."""
from __future__ import annotations

import os
import signal
import time
import unittest
from collections import Counter
from typing import Any

from hamcrest import assert_that, contains_string, equal_to, is_, is_not

from microcosm_pubsub.runtime.processes import SILENT_SECONDS, ProcessesHealth
from microcosm_pubsub.tests import fixtures, test_daemon
from microcosm_pubsub.tests.daemons.recording import WorkSchema
from microcosm_pubsub.tests.test_daemon import RECORDING, WAIT_SECONDS, DaemonProcessTestCase, closed_port, http_status


def setUpModule() -> None:
    # The spawning test case provisions through test_daemon's admin clients
    test_daemon.setUpModule()


class ProcessesTestCase(DaemonProcessTestCase):
    def pids(self, event: str) -> set[str]:
        lines = self.record_path.read_text().splitlines()
        return {line.split()[2] for line in lines if line.startswith(f"{event} ")}

    def test_two_processes_share_the_queue(self) -> None:
        """--processes 2: two children handle every message once; SIGTERM drains both and the parent exits 0."""
        stack = self.make_stack()
        parent = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url, "--processes", "2")
        producer = self.producer(stack)
        names = [f"shared-{index}" for index in range(30)]
        for name in names:
            producer.produce(WorkSchema.MEDIA_TYPE, name=name, seconds=0.1)
        fixtures.wait_for(lambda: set(self.events("finished")) >= set(names), WAIT_SECONDS)
        assert_that(parent.terminate(), is_(equal_to(0)))
        assert_that(self.events("finished"), is_(equal_to(Counter(names))))
        pids = self.pids("finished")
        assert_that((len(pids), str(parent.process.pid) in pids), is_(equal_to((2, False))))
        assert_that(fixtures.queue_counts(test_daemon.SQS, stack.queue_url), is_(equal_to((0, 0))))

    def test_a_killed_child_fails_the_parent(self) -> None:
        """A child killed with SIGKILL is reported, the other is stopped, and the parent exits non-zero."""
        stack = self.make_stack()
        parent = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url, "--processes", "2")
        self.producer(stack).produce(WorkSchema.MEDIA_TYPE, name="first", seconds=0.0)
        fixtures.wait_for(lambda: "started 2 processes" in parent.stderr, WAIT_SECONDS)
        first_child = int(parent.stderr.split("started 2 processes: ")[1].split(",")[0])
        os.kill(first_child, signal.SIGKILL)
        status = parent.wait()
        assert_that(status, is_not(equal_to(0)))
        assert_that(parent.stderr, contains_string("exited with signal SIGKILL; stopping the others"))

    def test_sigterm_while_children_start_exits_zero(self) -> None:
        """SIGTERM as soon as the children are forked (some still starting) stops them all and exits 0."""
        stack = self.make_stack()
        parent = self.spawn(RECORDING, "--sqs-queue-url", stack.queue_url, "--processes", "2")
        fixtures.wait_for(lambda: "started 2 processes" in parent.stderr, WAIT_SECONDS)
        assert_that(parent.terminate(), is_(equal_to(0)))

    def test_sigterm_leaves_no_message_hidden_by_a_child_poll(self) -> None:
        """SIGTERM with each child's long poll open: messages sent meanwhile are visible once the parent exits 0."""
        stack = self.make_stack(visibility_timeout=30)
        parent = self.spawn(
            RECORDING, "--sqs-queue-url", stack.queue_url, "--processes", "2",
            RECORDING__SQS_CONSUMER__WAIT_SECONDS="2",
        )
        producer = self.producer(stack)
        # Both children say they are consuming; their first polls go out right after
        fixtures.wait_for(lambda: parent.stderr.count(" consuming ") == 2, WAIT_SECONDS)
        time.sleep(0.5)
        parent.process.send_signal(signal.SIGTERM)
        # Later than a child used to take to exit, while its poll is still open
        time.sleep(0.7)
        for name in ("late-0", "late-1"):
            producer.produce(WorkSchema.MEDIA_TYPE, name=name, seconds=0.0)
        assert_that(parent.wait(), is_(equal_to(0)))
        assert_that(fixtures.queue_counts(test_daemon.SQS, stack.queue_url), is_(equal_to((2, 0))))

    def test_parent_serves_health_for_all(self) -> None:
        """With --processes 2 and --healthcheck-port the parent answers /ready once both children receive."""
        stack = self.make_stack()
        port = closed_port()
        parent = self.spawn(
            RECORDING, "--sqs-queue-url", stack.queue_url, "--processes", "2",
            "--healthcheck-host", "127.0.0.1", "--healthcheck-port", str(port),
        )
        fixtures.wait_for(lambda: http_status(port, "/ready") == 200, WAIT_SECONDS)
        assert_that((http_status(port, "/ready"), http_status(port, "/api/health")), is_(equal_to((200, 200))))
        assert_that(parent.terminate(), is_(equal_to(0)))


class Process:
    """The part of a child process the health judgement reads."""

    def __init__(self, alive: bool = True, exitcode: int | None = None) -> None:
        self.alive = alive
        self.exitcode = exitcode

    def is_alive(self) -> bool:
        return self.alive


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ProcessesHealthTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.processes: list[Any] = [Process(), Process()]
        self.health = ProcessesHealth(self.processes, clock=self.clock)

    def report(self, index: int, live: bool = True, ready: bool = True) -> None:
        self.health.record(index, {"live": live, "ready": ready, "problems": [] if ready else ["waiting"]})

    def test_ready_when_every_child_is_ready(self) -> None:
        """Both children report ready: the parent is live and ready."""
        self.report(0)
        self.report(1)
        status = self.health.status()
        assert_that((status.live, status.ready, status.problems), is_(equal_to((True, True, []))))

    def test_a_child_not_yet_reporting_is_not_ready(self) -> None:
        """A child still starting keeps the parent live but not ready."""
        self.report(0)
        status = self.health.status()
        assert_that((status.live, status.ready), is_(equal_to((True, False))))

    def test_a_dead_child_is_not_live(self) -> None:
        """A child that exited makes the parent not live, naming it."""
        self.report(0)
        self.report(1)
        self.processes[1].alive, self.processes[1].exitcode = False, -9
        status = self.health.status()
        assert_that((status.live, status.problems), is_(equal_to((False, ["process 1 is not running (exit code -9)"]))))

    def test_a_silent_child_is_not_live(self) -> None:
        """A child whose reports stopped is judged stalled."""
        self.report(0)
        self.report(1)
        self.clock.now += SILENT_SECONDS + 1
        self.report(0)
        status = self.health.status()
        assert_that((status.live, len(status.problems)), is_(equal_to((False, 1))))

    def test_a_stalled_child_is_not_live(self) -> None:
        """A child reporting itself not live makes the parent not live."""
        self.report(0)
        self.report(1, live=False, ready=False)
        status = self.health.status()
        assert_that((status.live, status.ready, status.problems), is_(equal_to((False, False, ["process 1: waiting"]))))

