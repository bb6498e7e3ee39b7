"""Messages cannot steer URIHandler's reads: http(s) only, no link-local or metadata address, the allow-list."""
from __future__ import annotations

import json
import unittest
from collections.abc import Sequence
from typing import Any, ClassVar

from hamcrest import (
    assert_that,
    calling,
    contains_exactly,
    contains_inanyorder,
    contains_string,
    equal_to,
    has_entries,
    has_length,
    instance_of,
    is_,
    raises,
)
from marshmallow import fields
from microcosm.api import binding, create_object_graph, load_from_dict
from requests.exceptions import InvalidSchema

from microcosm_pubsub.aws.provisioning import provision
from microcosm_pubsub.consume.result import Outcome
from microcosm_pubsub.handlers import ChainURIHandler, URIHandler
from microcosm_pubsub.handlers.url_policy import UrlPolicy, URLRefused, host_list, host_matches, system_resolver
from microcosm_pubsub.schemas.codecs import PubSubMessageSchema
from microcosm_pubsub.schemas.decorators import schema
from microcosm_pubsub.testing.queues import admin_clients
from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.test_uri_handler import ResourceServer, make_graph
from microcosm_pubsub.wire.errors import ConfigurationError, InvalidMessage


METADATA_PATH = "/latest/meta-data/iam/security-credentials/role"
MEDIA_TYPE = "application/vnd.microcosm.pubsub._.tests.uri_policy.order"
BINDING = "uri_policy_test_order_handler"


@schema
class OrderURISchema(PubSubMessageSchema):
    MEDIA_TYPE = MEDIA_TYPE

    uri = fields.String(required=True)


@binding(BINDING)
class OrderHandler(URIHandler):
    """Bound in the graph, so that `allowed_hosts` on its binding configures it."""

    def handle(self, message: Any, uri: str, resource: Any) -> bool:
        return True


class Resolver:
    """A resolver seam: names to addresses, and each name asked for, in order."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        return self.answers[host]


def refusal_of(handler: URIHandler, uri: str) -> URLRefused:
    """The refusal `handler` raises for a message carrying `uri` (a failure if it fetches instead)."""
    try:
        handler({"uri": uri})
    except URLRefused as refused:
        return refused
    raise AssertionError(f"{uri} was fetched")


class PolicyServerTestCase(unittest.TestCase):
    server: ClassVar[ResourceServer]

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = ResourceServer()
        cls.addClassCleanup(cls.server.close)

    def setUp(self) -> None:
        self.server.routes.clear()
        self.server.redirects.clear()
        self.server.requests.clear()

    def handler(self, allowed_hosts: Any = None, resolve: Resolver | None = None) -> URIHandler:
        handler = URIHandler(make_graph())
        handler.url_policy = UrlPolicy.from_config(allowed_hosts, resolve or system_resolver)
        return handler


class MetadataAddressTests(PolicyServerTestCase):
    def test_ipv4_metadata_refused(self) -> None:
        """The instance metadata address is refused as INVALID, the reason naming the host and what to set."""
        refused = refusal_of(self.handler(), f"http://169.254.169.254{METADATA_PATH}")
        assert_that(refused, is_(instance_of(InvalidMessage)))
        assert_that(refused.reason, contains_string("host 169.254.169.254 is refused"))
        assert_that(refused.reason, contains_string("link-local"))
        assert_that(refused.reason, contains_string("allowed_hosts"))

    def test_ecs_and_whole_link_local_range_refused(self) -> None:
        """ECS's credentials address and the rest of 169.254.0.0/16 are refused too."""
        for host in ("169.254.170.2", "169.254.0.1", "169.254.255.254"):
            assert_that(refusal_of(self.handler(), f"http://{host}/v2/credentials").host, is_(equal_to(host)))

    def test_numeric_shorthands_refused(self) -> None:
        """169.254.169.254 written as one number, in hex or fully qualified is the same address, and refused."""
        for host in ("2852039166", "0xa9.0xfe.0xa9.0xfe", "0xa9fea9fe", "169.254.169.254."):
            assert_that(refusal_of(self.handler(), f"http://{host}{METADATA_PATH}").reason,
                        contains_string("169.254.169.254"))

    def test_ipv6_link_local_and_metadata_refused(self) -> None:
        """fe80::/10 and AWS's IPv6 metadata address fd00:ec2::254 are refused."""
        for host in ("fe80::1", "fe80::a9fe:a9fe", "fd00:ec2::254"):
            assert_that(refusal_of(self.handler(), f"http://[{host}]{METADATA_PATH}").host, is_(equal_to(host)))

    def test_ipv4_mapped_ipv6_refused(self) -> None:
        """IPv6 forms that carry 169.254.169.254 (mapped, NAT64) are refused."""
        for host in ("::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "64:ff9b::a9fe:a9fe"):
            refused = refusal_of(self.handler(), f"http://[{host}]{METADATA_PATH}")
            assert_that(refused.reason, contains_string("169.254.169.254"))

    def test_name_resolving_to_link_local_refused(self) -> None:
        """A host name that resolves to the metadata address is refused when the connection is made."""
        resolver = Resolver({"metadata.test": ["169.254.169.254"]})
        refused = refusal_of(self.handler(resolve=resolver), f"http://metadata.test{METADATA_PATH}")
        assert_that(refused.reason, contains_string("host metadata.test is refused (it resolves to 169.254.169.254)"))
        assert_that(resolver.asked, contains_exactly("metadata.test"))

    def test_name_with_any_refused_address_refused(self) -> None:
        """A name with one harmless and one link-local address is refused, whatever their order."""
        resolver = Resolver({"mixed.test": ["127.0.0.1", "fe80::1"]})
        refused = refusal_of(self.handler(resolve=resolver), self.server.url("/api/order/1").replace(
            "127.0.0.1", "mixed.test"))
        assert_that(refused.reason, contains_string("fe80::1"))
        assert_that(self.server.requests, is_(equal_to([])))

    def test_connects_to_the_checked_address(self) -> None:
        """The name is resolved once per connection and the checked address is the one connected to."""
        # Given a name only the seam knows, which would answer a metadata address if asked again
        answers = [["127.0.0.1"], ["169.254.169.254"]]

        def rebinding(host: str, port: int) -> Sequence[str]:
            return answers.pop(0)

        uri = self.server.serve("/api/order/1", {"id": "1"}).replace("127.0.0.1", "orders.test")
        handler = URIHandler(make_graph())
        handler.url_policy = UrlPolicy(resolve=rebinding)
        assert_that(handler({"uri": uri}), is_(True))
        assert_that(answers, is_(equal_to([["169.254.169.254"]])))
        assert_that(self.server.requests[0][1], has_entries({"host": f"orders.test:{self.server.port}"}))

    def test_loopback_and_private_ranges_allowed_by_default(self) -> None:
        """Without an allow-list, loopback and private addresses pass the check (tests, sidecars, internal hosts)."""
        policy = UrlPolicy()
        hosts = [policy.check_url(url) for url in (
            "http://127.0.0.1:8080/a", "http://[::1]/a", "http://10.1.2.3/a", "https://192.168.0.7/a",
            "http://172.16.0.1/a", "http://[fd12::1]/a",
        )]
        assert_that(hosts, contains_exactly("127.0.0.1", "::1", "10.1.2.3", "192.168.0.7", "172.16.0.1", "fd12::1"))


class ProxyTests(PolicyServerTestCase):
    """Through an HTTP proxy from the environment (the local server plays the proxy)."""

    def fetch_through_proxy(self, resolver: Resolver) -> Any:
        proxy = f"http://127.0.0.1:{self.server.port}"
        unset: dict[str, str | None] = {"NO_PROXY": None, "no_proxy": None, "http_proxy": None}
        with fixtures.environ(HTTP_PROXY=proxy, **unset):
            return self.handler(resolve=resolver)({"uri": "http://orders.test/api/order/p1"})

    def test_proxied_fetch_works(self) -> None:
        """A proxied fetch of an allowed name goes through the proxy."""
        self.server.serve("http://orders.test/api/order/p1", {"id": "p1"})
        assert_that(self.fetch_through_proxy(Resolver({"orders.test": ["10.0.0.5"]})), is_(True))
        assert_that([path for path, _ in self.server.requests], contains_exactly("http://orders.test/api/order/p1"))

    def test_name_resolving_to_link_local_refused_before_the_proxy(self) -> None:
        """Behind a proxy, a name that resolves to the metadata address here is refused before the request."""
        resolver = Resolver({"orders.test": ["169.254.169.254"]})
        assert_that(calling(self.fetch_through_proxy).with_args(resolver),
                    raises(URLRefused, "resolves to 169.254.169.254"))
        assert_that(self.server.requests, is_(equal_to([])))


class SchemeTests(PolicyServerTestCase):
    def test_non_http_schemes_refused(self) -> None:
        """file, ftp and gopher URIs are refused as INVALID, still an InvalidSchema as the old handler raised."""
        for uri in ("file:///etc/passwd", "ftp://127.0.0.1/order", "gopher://127.0.0.1:70/1"):
            refused = refusal_of(self.handler(), uri)
            assert_that(refused, is_(instance_of(InvalidSchema)))
            assert_that(refused.reason, contains_string(f"scheme {uri.split(':')[0]!r}"))
            assert_that(refused.reason, contains_string("only http and https"))

    def test_uri_without_scheme_refused(self) -> None:
        """A URI without a scheme is refused as INVALID."""
        assert_that(refusal_of(self.handler(), "127.0.0.1/api/order").reason, contains_string("has no scheme"))


class RedirectTests(PolicyServerTestCase):
    def test_redirect_to_metadata_refused(self) -> None:
        """A resource server that redirects to the metadata address gets the message refused, not fetched."""
        uri = self.server.redirect("/api/order/r1", f"http://169.254.169.254{METADATA_PATH}")
        refused = refusal_of(self.handler(), uri)
        assert_that(refused.host, is_(equal_to("169.254.169.254")))
        assert_that([path for path, _ in self.server.requests], contains_exactly("/api/order/r1"))

    def test_redirect_to_name_resolving_to_link_local_refused(self) -> None:
        """A redirect to a name that resolves to a link-local address is refused when connecting."""
        resolver = Resolver({"rebound.test": ["169.254.170.2"]})
        uri = self.server.redirect("/api/order/r2", "http://rebound.test/v2/credentials")
        refused = refusal_of(self.handler(resolve=resolver), uri)
        assert_that(refused.reason, contains_string("resolves to 169.254.170.2"))

    def test_redirect_to_file_refused(self) -> None:
        """A redirect to a file URI is refused."""
        uri = self.server.redirect("/api/order/r3", "file:///etc/passwd")
        assert_that(refusal_of(self.handler(), uri).reason, contains_string("scheme 'file'"))

    def test_redirect_off_the_allow_list_refused(self) -> None:
        """With an allow-list, a redirect to a host not on it is refused."""
        resolver = Resolver({"elsewhere.test": ["127.0.0.1"]})
        elsewhere = self.server.url("/api/order/4").replace("127.0.0.1", "elsewhere.test")
        uri = self.server.redirect("/api/order/r4", elsewhere)
        refused = refusal_of(self.handler(allowed_hosts="127.0.0.1", resolve=resolver), uri)
        assert_that(refused.reason, contains_string("elsewhere.test is not in allowed_hosts (127.0.0.1)"))

    def test_allowed_redirect_followed(self) -> None:
        """A redirect to an allowed place is still followed."""
        self.server.serve("/api/order/5", {"id": "5"})
        uri = self.server.redirect("/api/order/r5", self.server.url("/api/order/5"))
        assert_that(self.handler(allowed_hosts="127.0.0.1")({"uri": uri}), is_(True))
        assert_that([path for path, _ in self.server.requests], contains_exactly("/api/order/r5", "/api/order/5"))


class AllowListTests(PolicyServerTestCase):
    def test_allowed_host_fetched(self) -> None:
        """A host on the allow-list is fetched."""
        uri = self.server.serve("/api/order/a1", {"id": "a1"})
        assert_that(self.handler(allowed_hosts=["127.0.0.1"])({"uri": uri}), is_(True))

    def test_other_host_refused_loopback_included(self) -> None:
        """Once an allow-list is set, any other host is refused, loopback included, before anything is sent."""
        uri = self.server.serve("/api/order/a2", {"id": "a2"})
        refused = refusal_of(self.handler(allowed_hosts="*.example.com,api.example.org"), uri)
        assert_that(refused.reason, contains_string(
            "host 127.0.0.1 is not in allowed_hosts (*.example.com, api.example.org): add it to allowed_hosts "
            "on the handler's binding",
        ))
        assert_that(self.server.requests, is_(equal_to([])))

    def test_suffix_pattern(self) -> None:
        """`*.internal.test` allows names below internal.test, fetched at the address they resolve to."""
        uri = self.server.serve("/api/order/a3", {"id": "a3"}).replace("127.0.0.1", "orders.internal.test")
        resolver = Resolver({"orders.internal.test": ["127.0.0.1"]})
        assert_that(self.handler(allowed_hosts="*.internal.test", resolve=resolver)({"uri": uri}), is_(True))

    def test_suffix_pattern_matches_below_the_domain_only(self) -> None:
        """`*.internal.test` does not match internal.test itself, nor a name that merely ends alike."""
        matches = [host_matches(host, "*.internal.test") for host in (
            "a.internal.test", "a.b.internal.test", "internal.test", "evilinternal.test", "internal.test.evil",
        )]
        assert_that(matches, contains_exactly(True, True, False, False, False))

    def test_allow_list_does_not_admit_link_local(self) -> None:
        """An allowed name that resolves to the metadata address is still refused."""
        resolver = Resolver({"api.internal.test": ["169.254.169.254"]})
        handler = self.handler(allowed_hosts="*.internal.test", resolve=resolver)
        assert_that(refusal_of(handler, "http://api.internal.test/x").reason, contains_string("link-local"))

    def test_chain_uri_handler_obeys_the_policy(self) -> None:
        """The chain URI handler fetches through the same check."""

        class Chained(ChainURIHandler):
            def get_chain(self) -> Any:
                return lambda resource: resource

        assert_that(refusal_of(Chained(make_graph()), f"http://169.254.169.254{METADATA_PATH}").host,
                    is_(equal_to("169.254.169.254")))


class AllowListConfigurationTests(unittest.TestCase):
    def test_forms_read_alike(self) -> None:
        """A list, a JSON array and a comma-separated string give the same patterns."""
        forms = [["API.example.com", "*.example.org"], '["api.example.com", "*.example.org"]',
                 " api.example.com , *.example.org "]
        assert_that([host_list(form) for form in forms],
                    contains_exactly(*[["api.example.com", "*.example.org"]] * 3))

    def test_bad_entry_named(self) -> None:
        """An entry with a scheme, a port or a stray wildcard is a configuration error naming it."""
        for entry in ("https://api.example.com", "api.example.com:8443", "api.*.example.com"):
            assert_that(calling(host_list).with_args([entry]), raises(ConfigurationError, "allowed_hosts entry"))

    def test_bad_json_named(self) -> None:
        """A value that looks like JSON but is not says how to write it."""
        assert_that(calling(host_list).with_args('["api.example.com"'), raises(ConfigurationError, "JSON array"))

    def test_binding_configuration(self) -> None:
        """`allowed_hosts` on the handler's binding configures its policy, from JSON text as from the environment."""
        loader = load_from_dict({BINDING: {"allowed_hosts": '["*.example.com", "127.0.0.1"]'}})
        graph = create_object_graph("test", testing=True, loader=loader)
        handler = getattr(graph, BINDING)
        assert_that(handler.url_policy.allowed_hosts, contains_exactly("*.example.com", "127.0.0.1"))

    def test_environment_variable(self) -> None:
        """`<SERVICE>__<BINDING>__ALLOWED_HOSTS` as a comma-separated list configures the policy."""
        variable = f"TEST__{BINDING.upper()}__ALLOWED_HOSTS"
        with fixtures.environ(**{variable: "api.example.com,*.internal.test"}):
            graph = create_object_graph("test", testing=True)
            handler = getattr(graph, BINDING)
        assert_that(handler.url_policy.allowed_hosts, contains_exactly("api.example.com", "*.internal.test"))

    def test_class_attribute(self) -> None:
        """A handler class may name its hosts in code, for every handler built from it."""

        class Named(URIHandler):
            allowed_hosts = ("api.example.com",)

        assert_that(Named(make_graph()).url_policy.allowed_hosts, contains_exactly("api.example.com"))


class DispatchTests(unittest.TestCase):
    """Through the real dispatcher on the local endpoint, with a dead-letter queue."""

    def test_refused_uri_is_invalid_and_dead_lettered_with_its_reason(self) -> None:
        """A message pointing at the metadata service is INVALID and dead-lettered with its reason, never retried."""
        # Given a bound URI handler allowed to read 127.0.0.1, and one good and one steering message
        server = ResourceServer()
        self.addCleanup(server.close)
        good = server.serve("/api/order/d1", {"id": "d1"})
        sns, sqs = admin_clients(fixtures.endpoint())
        stack = provision(sns, sqs, fixtures.unique_name("uri-policy"), max_receive_count=10)
        assert stack.dead_letter_queue_url is not None
        dead_letters = {"dead_letter_queue_url": stack.dead_letter_queue_url}
        config = fixtures.graph_config(stack, sqs_message_dispatcher=dead_letters)
        config[BINDING] = {"allowed_hosts": "127.0.0.1"}
        graph: Any = create_object_graph("test", testing=True, loader=load_from_dict(config))
        self.addCleanup(fixtures.close_clients, graph)
        graph.sqs_message_handler_registry.register(MEDIA_TYPE, getattr(graph, BINDING))
        graph.sns_producer.produce(MEDIA_TYPE, uri=good)
        graph.sns_producer.produce(MEDIA_TYPE, uri=f"http://169.254.169.254{METADATA_PATH}")

        # When the dispatcher handles both
        results = graph.sqs_message_dispatcher.handle_batch(fixtures.receive(graph, 2))

        # Then the steering one is INVALID, dead-lettered with a reason naming its host; nothing is left
        assert_that([result.outcome for result in results], contains_inanyorder(Outcome.SUCCEEDED, Outcome.INVALID))
        dead = sqs.receive_message(
            QueueUrl=stack.dead_letter_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        assert_that(dead, has_length(1))
        attributes = {name: value["StringValue"] for name, value in dead[0]["MessageAttributes"].items()}
        assert_that(attributes, has_entries({
            "pubsub_outcome": "invalid",
            "pubsub_reason": contains_string("host 169.254.169.254 is refused"),
        }))
        assert_that(json.loads(json.loads(dead[0]["Body"])["Message"])["uri"], contains_string("169.254.169.254"))
        assert_that(fixtures.queue_counts(sqs, stack.queue_url), is_(equal_to((0, 0))))
        assert_that([path for path, _ in server.requests], contains_exactly("/api/order/d1"))
