"""URIHandler against a real HTTP server on 127.0.0.1: fetching, retries, headers, timeouts, the resource cache."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    equal_to,
    has_entries,
    has_key,
    has_properties,
    instance_of,
    is_,
    less_than,
    not_,
    raises,
)
from microcosm.api import create_object_graph
from microcosm.loaders import load_from_dict
from requests.exceptions import HTTPError, InvalidSchema, ReadTimeout

from microcosm_pubsub.handlers import URIHandler
from microcosm_pubsub.resource_cache import InProcessResourceCache
from microcosm_pubsub.wire.errors import Nack


CREATED = "application/vnd.globality.pubsub._.created.order_event.order_placed"
CHANGED = "application/vnd.globality.pubsub._.changed.order"


class ResourceServer:
    """Serves JSON resources (and redirects) by path and records each request's path and headers."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Any, float]] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, {key.lower(): value for key, value in self.headers.items()}))
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body, delay = server.routes.get(self.path, (404, {"message": "not found"}, 0.0))
                time.sleep(delay)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    # A client that timed out on a delayed route has gone: nothing to answer
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def serve(self, path: str, body: Any, status: int = 200, delay: float = 0.0) -> str:
        self.routes[path] = (status, body, delay)
        return self.url(path)

    def redirect(self, path: str, location: str) -> str:
        """Answer `path` with a 302 to `location`; returns the URL of `path`."""
        self.redirects[path] = location
        return self.url(path)

    @property
    def port(self) -> int:
        return int(self.httpd.server_port)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def make_graph(cache_enabled: bool = False) -> Any:
    loader = load_from_dict(resource_cache={"enabled": cache_enabled})
    graph = create_object_graph("test", testing=True, loader=loader)
    graph.use("opaque", "resource_cache")
    graph.lock()
    return graph


class Order:
    def __init__(self, id: str, state: str) -> None:
        self.id = id
        self.state = state


class RecordingHandler(URIHandler):
    """Keeps what `handle` was given; answers `handle` with `result`."""

    result = True
    skip_reason: str | None = None

    def __init__(self, graph: Any, **kwargs: Any) -> None:
        super().__init__(graph, **kwargs)
        self.handled: list[Any] = []

    def get_reason_to_skip(self, message: Any, uri: str) -> str | None:
        return self.skip_reason

    def handle(self, message: Any, uri: str, resource: Any) -> bool:
        self.handled.append(resource)
        return self.result


class ServerTestCase(unittest.TestCase):
    server: ClassVar[ResourceServer]

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = ResourceServer()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()

    def setUp(self) -> None:
        self.server.routes.clear()
        self.server.redirects.clear()
        self.server.requests.clear()


class FetchTests(ServerTestCase):
    def test_handles_fetched_resource(self) -> None:
        """The resource behind the URI is fetched and handed to `handle`; the call returns True."""
        uri = self.server.serve("/api/order/1", {"id": "1", "state": "open"})
        handler = RecordingHandler(make_graph())
        assert_that(handler({"uri": uri}), is_(True))
        assert_that(handler.handled, contains_exactly({"id": "1", "state": "open"}))

    def test_resource_type(self) -> None:
        """`resource_type` turns the fetched JSON into an object."""
        uri = self.server.serve("/api/order/2", {"id": "2", "state": "open"})

        class OrderHandler(RecordingHandler):
            resource_type = Order

        handler = OrderHandler(make_graph())
        handler({"uri": uri})
        assert_that(handler.handled[0], has_properties(id="2", state="open"))

    def test_ignored_when_handle_declines(self) -> None:
        """A falsy `handle` makes the call return False (the message is skipped, not retried)."""
        uri = self.server.serve("/api/order/3", {"id": "3"})
        handler = RecordingHandler(make_graph())
        handler.result = False
        assert_that(handler({"uri": uri}), is_(False))

    def test_skip_fetches_nothing(self) -> None:
        """A reason to skip returns False before any request is made."""
        uri = self.server.serve("/api/order/4", {"id": "4"})
        handler = RecordingHandler(make_graph())
        handler.skip_reason = "the message says enough"
        assert_that(handler({"uri": uri}), is_(False))
        assert_that(self.server.requests, is_(equal_to([])))

    def test_not_found_nacks(self) -> None:
        """A 404 (the resource is not committed yet) raises Nack with the resource nack timeout."""
        handler = URIHandler(make_graph(), resource_nack_timeout=7)
        try:
            handler({"uri": self.server.url("/api/order/missing")})
        except Nack as nack:
            assert_that(nack, has_properties(visibility_timeout_seconds=7, reason="URI resource not found"))
        else:
            raise AssertionError("a missing resource did not nack")

    def test_not_found_fails_when_not_retrying(self) -> None:
        """With `nack_if_not_found` off, a 404 is an HTTP error."""

        class StrictHandler(URIHandler):
            nack_if_not_found = False

        handler = StrictHandler(make_graph())
        assert_that(calling(handler).with_args({"uri": self.server.url("/api/order/missing")}), raises(HTTPError))

    def test_server_error_fails(self) -> None:
        """A 500 raises the HTTP error (the message fails and is retried by backoff)."""
        uri = self.server.serve("/api/order/5", {"message": "boom"}, status=500)
        assert_that(calling(URIHandler(make_graph())).with_args({"uri": uri}), raises(HTTPError))

    def test_changed_field_mismatch_nacks(self) -> None:
        """A `changed` message whose new value the resource does not hold yet raises Nack."""
        uri = self.server.serve("/api/order/6", {"state": "open"})
        message = {"uri": uri, "media_type": CHANGED, "field_name": "state", "new_value": "closed"}
        assert_that(
            calling(URIHandler(make_graph())).with_args(message),
            raises(Nack, "Resource field value does not match message"),
        )

    def test_changed_field_match_handles(self) -> None:
        """A `changed` message whose new value the resource holds is handled."""
        uri = self.server.serve("/api/order/7", {"state": "closed"})
        message = {"uri": uri, "media_type": CHANGED, "field_name": "state", "new_value": "closed"}
        assert_that(RecordingHandler(make_graph())(message), is_(True))

    def test_invalid_scheme_is_logged_and_raised(self) -> None:
        """A URI with a scheme requests cannot fetch raises InvalidSchema, with an error log naming the URI."""
        handler = URIHandler(make_graph())
        with self.assertLogs(handler.logger, "ERROR") as logs:
            assert_that(calling(handler).with_args({"uri": "xyz://127.0.0.1/order"}), raises(InvalidSchema))
        assert_that(logs.records[0].__dict__, has_entries(uri="xyz://127.0.0.1/order", handler="Uri Handler"))

    def test_name(self) -> None:
        """The handler's log name is its class name in words."""
        assert_that(URIHandler(make_graph()).name, is_(equal_to("Uri Handler")))


class TimeoutTests(ServerTestCase):
    def test_slow_server_times_out(self) -> None:
        """A server slower than `request_timeout` raises ReadTimeout instead of hanging the handler."""
        uri = self.server.serve("/api/slow", {"id": "slow"}, delay=1.0)
        handler = URIHandler(make_graph(), request_timeout=0.2)
        started = time.monotonic()
        assert_that(calling(handler).with_args({"uri": uri}), raises(ReadTimeout))
        assert_that(time.monotonic() - started, is_(less_than(0.9)))


class HeaderTests(ServerTestCase):
    def fetch_headers(self, opaque: dict[str, Any]) -> dict[str, str]:
        graph = make_graph()
        uri = self.server.serve("/api/order/h", {"id": "h"})
        with graph.opaque.initialize(lambda: opaque):
            URIHandler(graph)({"uri": uri})
        return self.server.requests[-1][1]

    def test_forwards_request_context(self) -> None:
        """The opaque request context reaches the called service as HTTP headers."""
        headers = self.fetch_headers({"X-Request-Id": "req-1", "X-Request-User": "user-1"})
        assert_that(headers, has_entries({"x-request-id": "req-1", "x-request-user": "user-1"}))

    def test_keeps_delivery_state_private(self) -> None:
        """The receipt handle and the other per-delivery keys are not sent to the called service."""
        headers = self.fetch_headers(
            {"receipt_handle": "secret", "message_id": "m-1", "uri": "http://x", "handler": "Uri Handler"},
        )
        for key in ("receipt_handle", "message_id", "uri", "handler"):
            assert_that(headers, not_(has_key(key)))

    def test_drops_values_with_line_breaks(self) -> None:
        """An opaque value with a line break is not forwarded, so it cannot inject headers."""
        headers = self.fetch_headers({"x-request-id": "a\r\nx-injected: yes"})
        assert_that(headers, not_(has_key("x-injected")))
        assert_that(headers, not_(has_key("x-request-id")))

    def test_numbers_sent_as_text(self) -> None:
        """A number in the opaque context is sent as its text."""
        headers = self.fetch_headers({"x-request-ttl": 31})
        assert_that(headers, has_entries({"x-request-ttl": "31"}))


class CacheTests(ServerTestCase):
    def test_created_event_fetched_once(self) -> None:
        """A `created` event resource is served from the resource cache the second time."""
        uri = self.server.serve("/api/order_event/1", {"id": "e1"})
        handler = RecordingHandler(make_graph(cache_enabled=True))
        handler({"uri": uri, "media_type": CREATED})
        handler({"uri": uri, "media_type": CREATED})
        assert_that(len(self.server.requests), is_(equal_to(1)))
        assert_that(handler.handled, contains_exactly({"id": "e1"}, {"id": "e1"}))

    def test_raw_media_type_key(self) -> None:
        """Raw message JSON (`mediaType`) is cached as decoded content (`media_type`) is."""
        uri = self.server.serve("/api/order_event/2", {"id": "e2"})
        handler = RecordingHandler(make_graph(cache_enabled=True))
        handler({"uri": uri, "mediaType": CREATED})
        handler({"uri": uri, "mediaType": CREATED})
        assert_that(len(self.server.requests), is_(equal_to(1)))

    def test_changed_not_cached(self) -> None:
        """A `changed` message always fetches: the resource may have moved on."""
        uri = self.server.serve("/api/order_event/3", {"id": "e3"})
        handler = RecordingHandler(make_graph(cache_enabled=True))
        handler({"uri": uri, "media_type": CHANGED})
        handler({"uri": uri, "media_type": CHANGED})
        assert_that(len(self.server.requests), is_(equal_to(2)))

    def test_non_event_not_cached(self) -> None:
        """A `created` resource that is not an event always fetches."""
        uri = self.server.serve("/api/order/8", {"id": "8"})
        handler = RecordingHandler(make_graph(cache_enabled=True))
        handler({"uri": uri, "media_type": CREATED})
        handler({"uri": uri, "media_type": CREATED})
        assert_that(len(self.server.requests), is_(equal_to(2)))

    def test_disabled_on_instance(self) -> None:
        """`resource_cache_enabled=False` leaves the graph's cache unused."""
        handler = URIHandler(make_graph(cache_enabled=True), resource_cache_enabled=False)
        assert_that(handler.resource_cache, is_(None))

    def test_ttl_passed_to_cache(self) -> None:
        """The handler's `resource_cache_ttl` bounds how long a cached resource is served."""
        uri = self.server.serve("/api/order_event/4", {"id": "e4"})
        now = [0.0]
        graph = make_graph(cache_enabled=True)
        handler = RecordingHandler(graph, resource_cache_ttl=5)
        handler.resource_cache = InProcessResourceCache(clock=lambda: now[0])
        handler({"uri": uri, "media_type": CREATED})
        now[0] = 6.0
        handler({"uri": uri, "media_type": CREATED})
        assert_that(len(self.server.requests), is_(equal_to(2)))


class ResourceCacheTests(unittest.TestCase):
    def test_disabled_by_default(self) -> None:
        """The `resource_cache` binding is None unless enabled."""
        graph = create_object_graph("test", testing=True)
        graph.use("resource_cache")
        assert_that(graph.resource_cache, is_(None))

    def test_enabled_in_process(self) -> None:
        """Enabled without microcosm-caching installed, the binding is the in-process cache."""
        assert_that(make_graph(cache_enabled=True).resource_cache, is_(instance_of(InProcessResourceCache)))

    def test_reads_are_copies(self) -> None:
        """Editing a value read from the cache does not change what the cache holds."""
        cache = InProcessResourceCache()
        cache.set("k", {"items": [1]}, ttl=60)
        cache.get("k")["items"].append(2)
        assert_that(cache.get("k"), is_(equal_to({"items": [1]})))

    def test_expires(self) -> None:
        """A value is gone once its time to live has passed."""
        now = [100.0]
        cache = InProcessResourceCache(clock=lambda: now[0])
        cache.set("k", {"id": 1}, ttl=10)
        now[0] = 110.0
        assert_that(cache.get("k"), is_(None))

    def test_bounded(self) -> None:
        """When full, the oldest entry makes room for the newest."""
        cache = InProcessResourceCache(max_entries=2)
        for key in ("a", "b", "c"):
            cache.set(key, key, ttl=60)
        assert_that([cache.get(key) for key in ("a", "b", "c")], contains_exactly(None, "b", "c"))


class ImportTests(unittest.TestCase):
    def test_missing_requests_names_the_extra(self) -> None:
        """Without requests installed, importing the handlers says which extra to install."""
        code = (
            "import sys; sys.modules['requests'] = None\n"
            "try:\n    import microcosm_pubsub.handlers\n"
            "except ImportError as error:\n    print(error)\n"
        )
        output = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        assert_that(output, is_(equal_to(
            "microcosm_pubsub.handlers fetches resources over HTTP with `requests`, which is not installed; "
            "install it with the `uri` extra: pip install 'microcosm_pubsub[uri]'\n",
        )))

    def test_core_does_not_load_handlers(self) -> None:
        """A graph with the consumer and the resource cache loads neither the handlers nor requests."""
        code = (
            "import sys, microcosm_pubsub.api, microcosm_pubsub.dispatcher, microcosm_pubsub.consumer, "
            "microcosm_pubsub.producer\n"
            "from microcosm.api import create_object_graph\n"
            "graph = create_object_graph('test', testing=True)\n"
            "graph.use('resource_cache', 'sqs_message_dispatcher')\n"
            "print('microcosm_pubsub.handlers' in sys.modules, 'requests' in sys.modules)\n"
        )
        output = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        assert_that(output.strip(), is_(equal_to("False False")))

    def test_publish_batch_message_reexported(self) -> None:
        """`PublishBatchMessage` imports from its old paths as the batch module's one class."""
        from microcosm_pubsub.handlers import PublishBatchMessage as from_package
        from microcosm_pubsub.handlers.publish_batch_message import PublishBatchMessage as from_module
        from microcosm_pubsub.produce.batch import PublishBatchMessage

        assert_that([from_package, from_module], contains_exactly(PublishBatchMessage, PublishBatchMessage))
