"""HTTP/1.1 over the standard library's sockets: keep-alive connections per endpoint, nothing more.

The lean transport's own client, because it measured cheapest: a ReceiveMessage of the local endpoint cost about
265 µs of client CPU through this, 460 µs through `http.client`, 640 µs through urllib3 and 950 µs through
awscrt (a connection each time, as the local endpoint closes them), against 1,300 µs through botocore.
Failures are raised as the botocore exceptions botocore's own HTTP layer raises for them, so retries and callers
see no difference.
"""
from __future__ import annotations

import os
import select
import socket
import ssl
import weakref
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)


# The response head must fit in this; AWS's are well under 2 KiB
MAX_HEAD_BYTES = 64 * 1024
RECEIVE_BYTES = 256 * 1024


class Response(NamedTuple):
    """An answer, its fields named as botocore's responses name them (its retry classes read them)."""

    status_code: int
    # Lower-cased names, as botocore's response metadata has them
    headers: dict[str, str]
    content: bytes


_endpoints: weakref.WeakSet[Endpoint] = weakref.WeakSet()


def _forget_after_fork() -> None:
    for endpoint in list(_endpoints):
        # The parent still owns these connections: the child only lets go of its copies of them
        while endpoint._idle:
            endpoint._idle.pop().close()


os.register_at_fork(after_in_child=_forget_after_fork)


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle connection is readable: the server closed it (or sent what it should not have)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class Connection:
    """One socket and what it has read past the last response."""

    __slots__ = ("pending", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Endpoint:
    """The keep-alive connections to one scheme, host and port, shared by the threads of one client.

    A forked child (`--processes`) starts with none: two processes reading answers from one connection would
    take each other's.
    """

    def __init__(
        self, url: str, host: str, port: int, tls: ssl.SSLContext | None, connect_timeout: float,
        read_timeout: float, max_idle: int,
    ) -> None:
        # As botocore names it in its errors: the request's URL
        self.url = url
        self.host = host
        self.port = port
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle = max_idle
        # deque's append and pop are atomic: the threads of a consumer share it without a lock
        self._idle: deque[Connection] = deque()
        _endpoints.add(self)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def request(self, head: bytes, body: bytes, sent: Callable[[], None]) -> Response:
        """Send one request (its head already encoded) and read the whole response; `sent` is called once written.

        An idle connection the server has closed is found before it is used, as urllib3 finds it: a request is
        never sent twice here (retrying is the retry policy's business).
        """
        connection = None
        while self._idle:
            try:
                candidate = self._idle.pop()
            except IndexError:
                break
            if _dropped(candidate.sock):
                candidate.close()
            else:
                connection = candidate
                break
        if connection is None:
            connection = self._connect()
        return self._exchange(connection, head, body, sent)

    def _connect(self) -> Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError as error:
            raise ConnectTimeoutError(endpoint_url=self.url, error=error) from None
        except OSError as error:
            raise EndpointConnectionError(endpoint_url=self.url, error=error) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except ssl.SSLError as error:
                sock.close()
                raise SSLError(endpoint_url=self.url, error=error) from None
            except TimeoutError as error:
                sock.close()
                raise ConnectTimeoutError(endpoint_url=self.url, error=error) from None
            except OSError as error:
                sock.close()
                raise EndpointConnectionError(endpoint_url=self.url, error=error) from None
        sock.settimeout(self.read_timeout)
        return Connection(sock)

    def _exchange(self, connection: Connection, head: bytes, body: bytes, sent: Callable[[], None]) -> Response:
        sock = connection.sock
        try:
            if len(body) < 65536:
                sock.sendall(head + body)
            else:
                # A large body is not copied to be joined to its head
                sock.sendall(head)
                sock.sendall(body)
            sent()
            response, keep = self._read(connection)
        except TimeoutError as error:
            connection.close()
            raise ReadTimeoutError(endpoint_url=self.url, error=error) from None
        except ssl.SSLError as error:
            connection.close()
            raise SSLError(endpoint_url=self.url, error=error) from None
        except (BrokenPipeError, ConnectionResetError) as error:
            connection.close()
            raise ConnectionClosedError(endpoint_url=self.url, error=error, request=None) from None
        except OSError as error:
            connection.close()
            raise HTTPClientError(error=error) from None
        if keep and len(self._idle) < self.max_idle:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    def _read(self, connection: Connection) -> tuple[Response, bool]:
        sock = connection.sock
        data = connection.pending
        connection.pending = b""
        while True:
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(data) > MAX_HEAD_BYTES:
                raise ConnectionClosedError(endpoint_url=self.url, error="response head too long", request=None)
            chunk = sock.recv(RECEIVE_BYTES)
            if not chunk:
                connection.close()
                raise ConnectionClosedError(endpoint_url=self.url, error="closed before the response", request=None)
            data += chunk
        lines = data[:end].decode("iso-8859-1").split("\r\n")
        rest = data[end + 4:]
        version, _, status_text = lines[0].partition(" ")
        try:
            status = int(status_text[:3])
        except ValueError:
            raise ConnectionClosedError(endpoint_url=self.url, error=f"bad status line {lines[0]!r}",
                                        request=None) from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            # A repeated header's values joined, as urllib3 gives them to botocore
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if 100 <= status < 200:
            # An interim answer (we never send Expect); the real one follows
            connection.pending = rest
            return self._read(connection)
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, rest = self._read_chunked(sock, rest)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            # Parts joined once: over TLS a large body comes in 16 KiB records, and adding each to the last
            # would copy the body over and over
            parts, have = [rest], len(rest)
            while have < length:
                chunk = sock.recv(max(RECEIVE_BYTES, length - have))
                if not chunk:
                    raise ConnectionClosedError(endpoint_url=self.url, error="closed in the body", request=None)
                parts.append(chunk)
                have += len(chunk)
            whole = b"".join(parts) if len(parts) > 1 else rest
            body, rest = whole[:length], whole[length:]
        elif status in (204, 304):
            body = b""
        else:
            # No length: the body runs to the end of the connection
            parts = [rest]
            while chunk := sock.recv(RECEIVE_BYTES):
                parts.append(chunk)
            body, rest, keep = b"".join(parts), b"", False
        connection.pending = rest
        return Response(status, headers, body), keep

    def _read_chunked(self, sock: socket.socket, received: bytes) -> tuple[bytes, bytes]:
        parts: list[bytes] = []
        # Grown in place: a large chunk arriving in small records is not copied once per record
        data = bytearray(received)
        while True:
            while (line_end := data.find(b"\r\n")) < 0:
                data += self._more(sock)
            size = int(bytes(data[:line_end]).split(b";", 1)[0], 16)
            del data[:line_end + 2]
            if size == 0:
                # Trailers, if any, end with an empty line
                while (trailer_end := data.find(b"\r\n")) != 0:
                    if trailer_end < 0:
                        data += self._more(sock)
                    else:
                        del data[:trailer_end + 2]
                return b"".join(parts), bytes(data[2:])
            while len(data) < size + 2:
                data += self._more(sock)
            parts.append(bytes(data[:size]))
            del data[:size + 2]

    def _more(self, sock: socket.socket) -> bytes:
        chunk = sock.recv(RECEIVE_BYTES)
        if not chunk:
            raise ConnectionClosedError(endpoint_url=self.url, error="closed in a chunked body", request=None)
        return chunk
