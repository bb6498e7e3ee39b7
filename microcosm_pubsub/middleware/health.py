"""`pubsub_health`: liveness and readiness of the receive loop, over an optional loopback HTTP endpoint."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from microcosm_pubsub.graph.config import defaults, key_list, typed
from microcosm_pubsub.middleware.chain import Middleware
from microcosm_pubsub.wire.errors import ConfigurationError


if TYPE_CHECKING:
    from microcosm_pubsub.consume.message import SQSMessage
    from microcosm_pubsub.consume.result import Action, MessageHandlingResult


logger = logging.getLogger("microcosm_pubsub.health")

BINDING = "pubsub_health"
# The old daemon's health check path; its probes answer 500 when unhealthy, as the old one did
OLD_PATH = "/api/health"
PATHS = ("/live", "/ready", "/health", OLD_PATH)


class StatusSource(Protocol):
    def status(self) -> HealthStatus: ...


@dataclass(frozen=True)
class HealthStatus:
    """`live`: the loop is turning (restart the process if not); `ready`: it is receiving (send no traffic if not)."""

    live: bool
    ready: bool
    problems: list[str] = field(default_factory=list)
    seconds_since_activity: float = 0.0
    consecutive_failures: int = 0
    last_error: str | None = None


class HealthMonitor(Middleware):
    """Watches receives and settles through the middleware hooks; `status()` judges them (see docs/observability.md)."""

    def __init__(
        self, stall_seconds: float = 120.0, max_consecutive_failures: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stall_seconds = stall_seconds
        self.max_consecutive_failures = max_consecutive_failures
        self.clock = clock
        self.last_activity = clock()
        self.received_once = False
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def received(self, messages: Sequence[SQSMessage]) -> None:
        with self._lock:
            self.last_activity = self.clock()
            self.received_once = True
            self.consecutive_failures = 0

    def receive_failed(self, error: Exception) -> None:
        with self._lock:
            self.last_activity = self.clock()
            self.consecutive_failures += 1
            self.last_error = str(error)

    def settled(self, result: MessageHandlingResult, action: Action) -> None:
        with self._lock:
            self.last_activity = self.clock()

    def status(self) -> HealthStatus:
        with self._lock:
            idle = max(self.clock() - self.last_activity, 0.0)
            failures, received_once, last_error = self.consecutive_failures, self.received_once, self.last_error
        problems = []
        stalled = idle > self.stall_seconds
        if stalled:
            problems.append(f"no receive or settle for {idle:.0f}s (limit {self.stall_seconds:.0f}s)")
        if failures >= self.max_consecutive_failures:
            problems.append(f"{failures} receives failed in a row: {last_error}")
        elif not received_once:
            problems.append("no receive has succeeded yet")
        return HealthStatus(not stalled, not problems, problems, round(idle, 3), failures, last_error)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Answer `/live` and `/ready` (and `/health`, the same as `/ready`) on a thread; returns the bound address."""
        if self.server is None:
            self.server, self.thread = serve_status(self, host, port)
        return str(self.server.server_address[0]), int(self.server.server_address[1])

    def stop(self) -> None:
        server, thread, self.server, self.thread = self.server, self.thread, None, None
        if server is not None and thread is not None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def serve_status(source: StatusSource, host: str, port: int) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Answer the health paths from `source.status()` on a daemon thread."""
    server = ThreadingHTTPServer((host, port), _handler(source))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"pubsub-health-{port}", daemon=True)
    thread.start()
    logger.info("health endpoint on http://%s:%d/live and /ready", *server.server_address[:2])
    return server, thread


def _handler(monitor: StatusSource) -> type[BaseHTTPRequestHandler]:
    class HealthRequestHandler(BaseHTTPRequestHandler):
        # http.server finds the method by this name
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path not in PATHS:
                code, document = 404, {"error": "not found; try /live or /ready"}
            else:
                status = monitor.status()
                # The old path is the old heartbeat check: is the loop turning
                healthy = status.live if path in ("/live", OLD_PATH) else status.ready
                code = 200 if healthy else 500 if path == OLD_PATH else 503
                document = {"status": "ok" if healthy else "unhealthy", **asdict(status)}
            body = json.dumps(document).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Probes arrive every few seconds; their access lines would drown the daemon's own
            logger.debug("health %s", format % args)

    return HealthRequestHandler


@defaults(
    # The HTTP endpoint stays off unless a port is set (0 picks a free one)
    port=typed(int, default_value=None),
    # Loopback by default: a probe from elsewhere must be asked for
    host=typed(str, default_value="127.0.0.1"),
    # Above the longest handler and receive wait (20 s long polls, up to 30 s receive backoff)
    stall_seconds=typed(float, default_value=120.0),
    # Five failures in a row is about 30 s of an unreachable endpoint with the receive backoff
    max_consecutive_failures=typed(int, default_value=5),
)
def configure_pubsub_health(graph: Any) -> HealthMonitor:
    """`pubsub_health`: list it in `pubsub_middleware.components`; set `pubsub_health.port` to serve HTTP."""
    config = graph.config.pubsub_health
    return HealthMonitor(float(config.stall_seconds), int(config.max_consecutive_failures))


def start_health_server(graph: Any) -> tuple[str, int] | None:
    """Serve the health endpoint when `pubsub_health.port` is set; returns its address.

    :raises ConfigurationError: when a port is set but `pubsub_health` is not among the middleware
    """
    config = graph.config.get(BINDING) or {}
    if config.get("port") is None:
        return None
    if BINDING not in key_list(graph.config.pubsub_middleware.components):
        raise ConfigurationError(
            f"{BINDING}.port is set but {BINDING} is not in pubsub_middleware.components, so nothing feeds it"
        )
    monitor: HealthMonitor = getattr(graph, BINDING)
    return monitor.serve(str(config["host"]), int(config["port"]))
