"""A `requests` session whose every hop obeys a `UrlPolicy`, connecting only to the addresses it checked."""
# One lookup per connection, checked and connected to, defeats DNS rebinding. Behind an HTTP proxy the
# proxy's own lookup cannot be pinned: the name is checked here once, and the allow-list is the guard.
from __future__ import annotations

import socket
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util import connection
from urllib3.util.url import parse_url

from microcosm_pubsub.handlers.url_policy import DEFAULT_URL_POLICY, UrlPolicy


# The policy of the request `send` is sending in this context; a connection made elsewhere gets the default
ACTIVE_POLICY: ContextVar[UrlPolicy] = ContextVar("microcosm_pubsub_url_policy", default=DEFAULT_URL_POLICY)


def pinned_socket(conn: HTTPConnection) -> socket.socket:
    """A socket to an address the active policy checked for `conn`'s host: no second lookup of the name."""
    # urllib3's own errors, as its `_new_conn` raises them, keep retries and `requests`' exceptions as they were
    try:
        addresses = ACTIVE_POLICY.get().addresses(conn._dns_host, conn.port)
    except socket.gaierror as error:
        raise NameResolutionError(conn.host, conn, error) from error
    last: OSError | None = None
    for address in addresses:
        try:
            sock = connection.create_connection((address, conn.port), conn.timeout,
                                                source_address=conn.source_address, socket_options=conn.socket_options)
        except TimeoutError as error:
            timed_out = f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            raise ConnectTimeoutError(conn, timed_out) from error
        except OSError as error:
            last = error
            continue
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock
    raise NewConnectionError(conn, f"Failed to establish a new connection: {last or 'no address'}")


class PinnedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return pinned_socket(self)


class PinnedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return pinned_socket(self)


class PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


POOL_CLASSES = {"http": PinnedHTTPConnectionPool, "https": PinnedHTTPSConnectionPool}


class PinnedAdapter(HTTPAdapter):
    """`HTTPAdapter` whose pools (direct, and to an HTTP proxy) make pinned connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # A SOCKS proxy has pool classes of its own
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager


class PinnedSession(requests.Session):
    """A session that checks each request and redirect against `policy` and connects only where it allows."""

    def __init__(self, policy: UrlPolicy) -> None:
        super().__init__()
        self.policy = policy
        adapter = PinnedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = str(request.url)
        host = self.policy.check_url(url)
        proxies: Mapping[str, str] = kwargs.get("proxies") or {}
        if proxies and select_proxy(url, dict(proxies)):
            self.check_behind_proxy(host, url)
        token = ACTIVE_POLICY.set(self.policy)
        try:
            return super().send(request, **kwargs)
        finally:
            ACTIVE_POLICY.reset(token)

    def check_behind_proxy(self, host: str, url: str) -> None:
        """Through a proxy nothing here connects to the host: resolve and check it once, if it resolves here."""
        port = parse_url(url).port or (443 if url.lower().startswith("https:") else 80)
        try:
            self.policy.addresses(host, port)
        except socket.gaierror:
            # Only the proxy may know the name; the allow-list is what guards this case
            pass
