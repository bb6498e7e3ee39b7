"""`--processes N`: N consumer processes on one queue, each with its own graph, supervised by the parent."""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from argparse import Namespace
from contextlib import suppress
from dataclasses import asdict
from multiprocessing.connection import wait
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from microcosm_pubsub.middleware.health import HealthMonitor, HealthStatus, serve_status
from microcosm_pubsub.runtime.daemon_args import health_config


if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess


logger = logging.getLogger("microcosm_pubsub.processes")

# Each child reports its health this often; the parent holds the latest report per child
REPORT_INTERVAL_SECONDS = 1.0
# A child silent for this long is judged stalled even though its process is alive
SILENT_SECONDS = 15.0
# The parent's own loop turns at least this often to notice exits it was not woken for
POLL_SECONDS = 1.0
# What stops the parent and, forwarded as SIGTERM, each child
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


class Daemon(Protocol):
    """What `--processes` needs of a daemon (`ConsumerDaemon`): its name, and a run from parsed arguments."""

    name: str

    def run_parsed(self, args: Namespace, health_reports: Any = None) -> int: ...


def start_method_context() -> Any:
    """Fork where the platform has it (no re-import of the service), else spawn (a `BaseContext`)."""
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


class ProcessesHealth:
    """The parent's health: every child running, reporting, live (and ready for readiness)."""

    def __init__(self, processes: list[BaseProcess], clock: Any = time.monotonic) -> None:
        self.processes = processes
        self.clock = clock
        self.reports: dict[int, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def record(self, index: int, report: dict[str, Any]) -> None:
        with self._lock:
            self.reports[index] = (self.clock(), report)

    def status(self) -> HealthStatus:
        live, ready = True, True
        problems: list[str] = []
        now = self.clock()
        with self._lock:
            reports = dict(self.reports)
        for index, process in enumerate(self.processes):
            got = reports.get(index)
            if not process.is_alive():
                live = ready = False
                problems.append(f"process {index} is not running (exit code {process.exitcode})")
            elif got is None:
                # Still building its graph: alive, not yet ready
                ready = False
                problems.append(f"process {index} has not reported yet")
            elif now - got[0] > SILENT_SECONDS:
                live = ready = False
                problems.append(f"process {index} silent for {now - got[0]:.0f}s")
            else:
                live = live and bool(got[1].get("live"))
                ready = ready and bool(got[1].get("ready"))
                problems.extend(f"process {index}: {problem}" for problem in got[1].get("problems", []))
        return HealthStatus(live=live, ready=ready, problems=problems)


def report_health(monitor: HealthMonitor, index: int, reports: Any, stop: threading.Event) -> None:
    """In a child: send the monitor's status to the parent until the daemon stops."""
    while not stop.is_set():
        try:
            reports.put((index, asdict(monitor.status())))
        except (OSError, ValueError):
            # The parent is gone or closed the queue: nobody to report to
            return
        stop.wait(REPORT_INTERVAL_SECONDS)


def child_main(daemon_class: type[Daemon], args: Namespace, index: int, reports: Any) -> None:
    """One consumer process: its own daemon, graph and threads; exits with the daemon's status."""
    # Ctrl-C reaches the whole process group; the parent turns it into one SIGTERM per child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Until the daemon installs its own handler nothing is held, so dying at once loses nothing
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Forked with the stop signals blocked (see `Supervisor.run`): a SIGTERM already sent is delivered now
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    child_args = Namespace(**{**vars(args), "processes": 1, "process_index": index})
    raise SystemExit(daemon_class().run_parsed(child_args, health_reports=reports))


class Supervisor:
    """Starts the children, forwards stop signals, serves the aggregate health, and judges the exit."""

    def __init__(self, daemon: Daemon, args: Namespace) -> None:
        self.daemon = daemon
        self.context = start_method_context()
        self.health = health_config(args)
        self.reports: Any = self.context.Queue() if self.health else None
        self.processes: list[BaseProcess] = [
            self.context.Process(
                target=child_main, args=(type(daemon), args, index, self.reports), name=f"{daemon.name}-{index}",
            )
            for index in range(int(args.processes))
        ]
        self.stopping = False
        self.aggregate = ProcessesHealth(self.processes)

    def run(self) -> int:
        """Run until every child has exited; 0 only when each exited 0 after a stop signal."""
        signal.signal(signal.SIGTERM, self.handle_signal)
        signal.signal(signal.SIGINT, self.handle_signal)
        # A child inherits this process's handlers: one of our SIGTERMs arriving before `child_main` replaced them
        # would run the parent's handler in the child. Blocked, it waits until the child has its own
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            for process in self.processes:
                process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        logger.info(
            "%s started %d processes: %s", self.daemon.name, len(self.processes),
            ", ".join(str(process.pid) for process in self.processes),
        )
        server = None
        if self.health:
            threading.Thread(target=self.collect_reports, name="pubsub-health-reports", daemon=True).start()
            server = serve_status(self.aggregate, str(self.health["host"]), int(self.health["port"]))[0]
        try:
            return self.supervise()
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
            if self.reports is not None:
                self.reports.close()

    def collect_reports(self) -> None:
        while True:
            try:
                index, report = self.reports.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            except (OSError, ValueError, EOFError):
                return
            self.aggregate.record(index, report)

    def supervise(self) -> int:
        status = 0
        running: dict[Any, BaseProcess] = {process.sentinel: process for process in self.processes}
        while running:
            for sentinel in wait(list(running), timeout=POLL_SECONDS):
                process = running.pop(sentinel)
                process.join()
                code = process.exitcode if process.exitcode is not None else 1
                if self.stopping and code == -signal.SIGTERM:
                    # Our SIGTERM reached a child still starting (before its handler): it held nothing
                    code = 0
                if code != 0 or not self.stopping:
                    # Messages the child held come back after their visibility timeout: nothing is lost
                    logger.error(
                        "%s process %s (pid %s) exited with %s%s", self.daemon.name, process.name, process.pid,
                        f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}",
                        "" if self.stopping else "; stopping the others",
                    )
                    status = status or (code if code > 0 else 1)
                    self.stop_children()
        logger.info("%s: all %d processes stopped", self.daemon.name, len(self.processes))
        return status

    def handle_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("%s received %s: stopping %d processes", self.daemon.name,
                    signal.Signals(signum).name, len(self.processes))
        self.stop_children(force=self.stopping)

    def stop_children(self, force: bool = False) -> None:
        """SIGTERM each running child (a second time makes each exit at once)."""
        if self.stopping and not force:
            return
        self.stopping = True
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                with suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
