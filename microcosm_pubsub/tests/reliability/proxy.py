"""A TCP proxy on 127.0.0.1 between a daemon and the endpoint that a test can break and mend.

Modes: "forward" relays bytes; "refuse" accepts and resets every connection (and resets those
open when it starts), as an endpoint that went away; "error" answers each HTTP request itself
with a 503 or a throttling error, as an endpoint that is up but refusing work. Every connection
and every answered request is counted per mode, so a test can tell backoff from a busy loop.
"""
from __future__ import annotations

import json
import socket
import struct
import threading
from collections import Counter
from types import TracebackType


HOST = "127.0.0.1"
# Large enough for any one read of an SQS request or response
CHUNK_BYTES = 65_536
# SQS speaks JSON 1.0 in current botocore; x-amzn-query-error carries the code for query-protocol clients
THROTTLED = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\n"
    b"x-amzn-query-error: RequestThrottled;Sender\r\n"
)
THROTTLED_BODY = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
UNAVAILABLE_BODY = b"Service Unavailable"


def _shut(sock: socket.socket) -> None:
    """Shut down, then close: close() alone leaves a thread blocked in recv() on the socket blocked,
    the connection open underneath it, and the peer waiting for an answer until its read timeout."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _reset(sock: socket.socket) -> None:
    """Drop a connection as a dead or restarting peer would: a TCP reset where the kernel allows one."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _shut(sock)


class Proxy:
    """Listens on 127.0.0.1 (a free port) and relays to `target_port` on 127.0.0.1 until closed."""

    def __init__(self, target_port: int) -> None:
        self.target = (HOST, target_port)
        self.mode = "forward"
        self.connections: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._error_count = 0
        self._closed = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, name="reliability-proxy", daemon=True)
        self._thread.start()

    def set_mode(self, mode: str) -> None:
        """Switch mode; open relays are reset so that pooled connections see the change at once."""
        if mode not in ("forward", "refuse", "error"):
            raise ValueError(f"unknown proxy mode {mode!r}")
        with self._lock:
            self.mode = mode
            open_sockets, self._open = self._open, set()
        for sock in open_sockets:
            _reset(sock)

    def close(self) -> None:
        self._closed.set()
        # A listener blocked in accept() wakes up on shutdown, not on close
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(timeout=5)
        self.set_mode("refuse")

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                mode = self.mode
                self.connections[mode] += 1
            if mode == "refuse":
                _reset(client)
            elif mode == "error":
                threading.Thread(target=self._answer_errors, args=(client,), daemon=True).start()
            else:
                self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        with self._lock:
            broken = self.mode != "forward"
            if not broken:
                self._open.update((client, upstream))
        if broken:
            # The mode changed while this connection was being set up: it must not escape the outage
            _reset(client)
            _reset(upstream)
            return
        for source, sink, requests in ((client, upstream, True), (upstream, client, False)):
            threading.Thread(target=self._pipe, args=(source, sink, requests), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while True:
                data = source.recv(CHUNK_BYTES)
                if not data:
                    break
                if requests:
                    # A request line ends in the protocol version; bodies are JSON and never hold one
                    with self._lock:
                        self.requests["forward"] += data.count(b" HTTP/1.1\r\n")
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            for sock in (source, sink):
                _shut(sock)

    def _answer_errors(self, client: socket.socket) -> None:
        """Read each request on the connection and answer it with an alternating 503 or throttling error."""
        with self._lock:
            self._open.add(client)
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(CHUNK_BYTES)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(buffer) < length:
                    data = client.recv(CHUNK_BYTES)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]
                with self._lock:
                    self.requests["error"] += 1
                    self._error_count += 1
                    throttle = self._error_count % 2 == 0
                status, body = (THROTTLED, THROTTLED_BODY) if throttle else (UNAVAILABLE, UNAVAILABLE_BODY)
                client.sendall(status + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(client)
            _shut(client)
