"""Where a message's resource URI may send `URIHandler`: http(s) only, never link-local, only allowed hosts."""
# A publisher chooses the URIs consumers fetch: unchecked, one pointing at 169.254.169.254 would hand the
# instance's credentials to the handler. Loopback and private ranges stay allowed (tests, sidecars, internal hosts).
from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from requests.exceptions import InvalidSchema, MissingSchema

from microcosm_pubsub.wire.errors import ConfigurationError, InvalidMessage


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the host name resolves to, as text
Resolver = Callable[[str, int], Sequence[str]]

SCHEMES = frozenset({"http", "https"})
LINK_LOCAL_V4 = ipaddress.ip_network("169.254.0.0/16")
LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")
# AWS's instance metadata service on its IPv6 address (Nitro instances)
METADATA_V6 = ipaddress.ip_address("fd00:ec2::254")
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits (RFC 6052)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
HOW_TO_ALLOW = "set allowed_hosts on the handler's binding to the hosts this service reads from"


class URLRefused(InvalidMessage):
    """A resource URI this consumer may not fetch: the message is INVALID (dead-lettered, never retried)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(reason, extra={"host": host})
        self.host = host


class SchemeRefused(URLRefused, InvalidSchema):
    """A URI with a scheme other than http(s); an `InvalidSchema` too, as `requests` raised for the old handler."""


class SchemeMissing(URLRefused, MissingSchema):
    """A URI without a scheme; a `MissingSchema` too, as `requests` raised for the old handler."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, in its order, without repeats."""
    return list(dict.fromkeys(str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))


def literal_address(host: str) -> Address | None:
    """The address a URI's host spells out, else None; nothing is looked up."""
    # IPv4 read as the system reads a numeric host: `2852039166` and `0xa9.0xfe.0xa9.0xfe` are 169.254.169.254
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not host or host.strip("0123456789abcdefxABCDEFX."):
        return None
    try:
        found = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None
    return ipaddress.ip_address(found[0][4][0]) if found else None


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64, 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or address.packed[:12] == bytes(12):
        return ipaddress.IPv4Address(address.packed[12:])
    return None


def refusal(address: Address) -> str | None:
    """Why a connection to `address` is refused, or None when it is not."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None and inner in LINK_LOCAL_V4:
            return f"{address} stands for the IPv4 address {inner}, which is link-local (cloud metadata lives there)"
        if address.scope_id is not None:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        if address == METADATA_V6:
            return f"{address} is the cloud instance metadata service"
        if address in LINK_LOCAL_V6:
            return f"{address} is link-local"
        return None
    if address in LINK_LOCAL_V4:
        return f"{address} is link-local (cloud metadata services answer there: 169.254.169.254, 169.254.170.2)"
    return None


def host_list(value: Any) -> list[str]:
    """Host patterns from configuration: a list, a JSON array, or a comma-separated string (environment variables)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as error:
                raise ConfigurationError(f"allowed_hosts {value!r} starts like a JSON array but is not one ({error}); "
                                         'write it as ["api.example.com", "*.example.com"] or as '
                                         "api.example.com,*.example.com") from error
        else:
            value = text.split(",")
    if not isinstance(value, Iterable):
        raise ConfigurationError(f"allowed_hosts must be a list of host names, not {type(value).__name__}")
    patterns = [str(item).strip().lower().rstrip(".") for item in value if str(item).strip()]
    for pattern in patterns:
        name = pattern[2:] if pattern.startswith("*.") else pattern
        if not name or "*" in name or "/" in name or (":" in name and literal_address(name) is None):
            raise ConfigurationError(f"allowed_hosts entry {pattern!r} is not a host: give a name (api.example.com), "
                                     "an address (127.0.0.1), or *. and a domain (*.example.com), without scheme, "
                                     "port or path")
    return patterns


def host_matches(host: str, pattern: str) -> bool:
    """`api.example.com` matches itself; `*.example.com` matches any name below example.com, not example.com."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    literal = literal_address(host)
    if literal is not None and literal_address(pattern) is not None:
        return literal == literal_address(pattern)
    return host == pattern


@dataclass(frozen=True)
class UrlPolicy:
    """Which URIs may be fetched: http(s), no link-local address, and the allow-listed hosts when there are any."""

    allowed_hosts: tuple[str, ...] = ()
    resolve: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_config(cls, value: Any, resolve: Resolver = system_resolver) -> UrlPolicy:
        """The policy for a configured `allowed_hosts` (see `host_list`); nothing configured is the default one."""
        hosts = tuple(host_list(value))
        if not hosts and resolve is system_resolver:
            return DEFAULT_URL_POLICY
        return cls(hosts, resolve)

    def check_url(self, url: str) -> str:
        """The URL's host, once its scheme, host and literal address pass; no name is resolved here."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
        except ValueError as error:
            raise URLRefused("", f"resource URI is not a valid URL ({error})") from error
        scheme = parts.scheme.lower()
        if not scheme:
            raise SchemeMissing(host, f"resource URI has no scheme (host {host or 'missing'}): "
                                "only http and https URIs are fetched")
        if scheme not in SCHEMES:
            raise SchemeRefused(host, f"resource URI scheme {scheme!r} (host {host or 'missing'}) is refused: "
                                "only http and https URIs are fetched")
        if not host:
            raise URLRefused(host, f"resource URI has no host ({scheme}: without a host name)")
        # An address never fetched from is named as such: allowing it would not help
        literal = literal_address(host)
        if literal is not None:
            self.check_address(host, literal)
        if self.allowed_hosts and not any(host_matches(host, pattern) for pattern in self.allowed_hosts):
            allowed = ", ".join(self.allowed_hosts)
            raise URLRefused(host, f"resource URI host {host} is not in allowed_hosts ({allowed}): "
                             "add it to allowed_hosts on the handler's binding if this service should read from it")
        return host

    def check_address(self, host: str, address: Address, resolved: bool = False) -> None:
        """:raises URLRefused: `address` (what `host` spells or resolves to) is never fetched from"""
        why = refusal(address)
        if why is None:
            return
        how = f" (it resolves to {address})" if resolved else ""
        raise URLRefused(host, f"resource URI host {host} is refused{how}: {why}; a message may not point the "
                         f"consumer there ({HOW_TO_ALLOW})")

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for `host`: all of them checked, so none may be refused."""
        # A trailing dot names the same host (fully qualified); the address is read without it
        literal = literal_address(host.rstrip("."))
        if literal is not None:
            self.check_address(host, literal)
            return [str(literal)]
        found = list(self.resolve(host, port))
        for text in found:
            address = literal_address(text)
            if address is None:
                raise URLRefused(host, f"resource URI host {host} resolved to {text!r}, which is not an address")
            self.check_address(host, address, resolved=True)
        return found


DEFAULT_URL_POLICY = UrlPolicy()
