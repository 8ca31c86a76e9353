"""Push endpoints (gateway.events.endpoints): every refusal rule of a registered URL, every
address class refused as non-public, DNS answers checked whole, and a real TLS delivery pinned to
a checked address that still verifies the certificate for the registered name.

Nothing here sends traffic beyond 127.0.0.1; DNS is either /etc/hosts (localhost) or faked."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidArgument, Unavailable
from gateway.events.endpoints import EndpointPolicy, PushEndpoint, pinned_request

FIELD = "/delivery/endpoint_url"
STRICT = EndpointPolicy()
LOCAL = EndpointPolicy.from_strings(allow_http=False, allowed_networks="127.0.0.1/32, ::1/128")


def refused(call: Callable[[], object]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        call()
    assert caught.value.field == FIELD
    return caught.value


# --- check_url: syntax rules ----------------------------------------------------------------

URL_REFUSALS = [
    ("http://example.com/events", "must use https"),
    ("ftp://example.com/events", "must use https"),
    ("javascript:alert(1)", "must use https"),
    ("//example.com/events", "must use https"),
    ("https://user:secret@example.com/events", "must not carry a user name or password"),
    ("https://user@example.com/events", "must not carry a user name or password"),
    ("https://:@example.com/events", "must not carry a user name or password"),
    ("https://example.com/events#part", "must not have a fragment"),
    ("https://example.com/events#", "must not have a fragment"),
    ("https://example.com/" + "e" * 2029, "is longer than 2048 characters"),
    ("https://example.com:0/events", "port 0 is not allowed"),
    ("https://example.com:65536/events", "port 65536 is out of range 1-65535"),
    ("https://example.com:99999/events", "port 99999 is out of range 1-65535"),
    ("https://example.com:https/events", "port 'https' is not a number"),
    ("https://example.com:-1/events", "port '-1' is not a number"),
    ("https://example.com:١٢٣/events", "port '١٢٣' is not a number"),  # Arabic-Indic digits
    ("https://example.com:443:443/events", "port '443:443' is not a number"),
    ("https:///events", "host is missing"),
    ("https:events", "host is missing"),
    ("https://:8443/events", "host is missing"),
    ("https://exa mple.com/", "must not contain whitespace, control characters or backslashes"),
    ("https://example.com/\nx", "must not contain whitespace, control characters or backslashes"),
    (
        "https://example.com\\@evil.com/",
        "must not contain whitespace, control characters or backslashes",
    ),
    ("https://example.com./events", "host 'example.com.' must not end with a dot"),
    ("https://localhost./events", "host 'localhost.' must not end with a dot"),
    (
        "https://-bad-.com/",
        "host '-bad-.com' is not a valid host name: Label must not start or end with a hyphen",
    ),
    ("https://a..b.com/", "host 'a..b.com' is not a valid host name: Empty Label"),
    (
        "https://exa_mple.com/",
        "host 'exa_mple.com' is not a valid host name: Codepoint U+005F at position 4 of 'exa_mple' not allowed",
    ),
    (
        "https://%6cocalhost/",
        "host '%6cocalhost' is not a valid host name: Codepoint U+0025 at position 1 of '%6cocalhost' not allowed",
    ),
    ("https://127.1/", "host '127.1' is neither a dotted-quad IPv4 address nor a host name"),
    (
        "https://2130706433/",
        "host '2130706433' is neither a dotted-quad IPv4 address nor a host name",
    ),
    ("https://0x7f.1/", "host '0x7f.1' is neither a dotted-quad IPv4 address nor a host name"),
    (
        "https://127.000.000.001/",
        "host '127.000.000.001' is neither a dotted-quad IPv4 address nor a host name",
    ),
    ("https://[::1/events", "has an IPv6 literal without its closing bracket"),
    ("https://[2606:4700::1111]x/", "has text after the IPv6 literal that is not a port"),
    ("https://[fe80::1%25eth0]/", "must not carry an IPv6 zone identifier"),
    ("https://[example.com]/", "host [example.com] is not a valid IPv6 address"),
    ("https://[127.0.0.1]/", "host [127.0.0.1] is not a valid IPv6 address"),
    (
        "https://localhost/events",
        "host localhost is a loopback name; only public hosts are allowed",
    ),
    (
        "https://LocalHost:8443/events",
        "host localhost is a loopback name; only public hosts are allowed",
    ),
    (
        "https://api.localhost/events",
        "host api.localhost is a loopback name; only public hosts are allowed",
    ),
]


@pytest.mark.parametrize(("url", "message"), URL_REFUSALS)
def test_check_url_refuses(url: str, message: str) -> None:
    assert refused(lambda: STRICT.check_url(url, FIELD)).message == message


def test_longest_url_is_accepted() -> None:
    url = "https://example.com/" + "e" * 2028
    assert len(url) == 2048
    assert STRICT.check_url(url).url == url


def test_field_defaults_to_endpoint() -> None:
    with pytest.raises(InvalidArgument) as caught:
        STRICT.check_url("http://example.com/")
    assert (caught.value.field, caught.value.message) == ("endpoint", "must use https")


URL_ACCEPTED = [
    # url, expected PushEndpoint(url, scheme, host, port)
    (
        "HTTPS://Receiver.Example.COM/Events/SET?Tenant=A&x=%2F",
        (
            "https://receiver.example.com/Events/SET?Tenant=A&x=%2F",
            "https",
            "receiver.example.com",
            443,
        ),
    ),
    ("https://example.com:443/events", ("https://example.com/events", "https", "example.com", 443)),
    ("https://example.com:8443", ("https://example.com:8443", "https", "example.com", 8443)),
    ("https://example.com:/e", ("https://example.com/e", "https", "example.com", 443)),
    ("https://example.com:00443/e", ("https://example.com/e", "https", "example.com", 443)),
    ("https://example.com:65535/e", ("https://example.com:65535/e", "https", "example.com", 65535)),
    (
        "https://Bücher.Example/set",
        ("https://xn--bcher-kva.example/set", "https", "xn--bcher-kva.example", 443),
    ),
    (
        "https://xn--bcher-kva.example/",
        ("https://xn--bcher-kva.example/", "https", "xn--bcher-kva.example", 443),
    ),
    (
        "https://接收.中国/set",
        ("https://xn--gzuu8a.xn--fiqs8s/set", "https", "xn--gzuu8a.xn--fiqs8s", 443),
    ),
    ("https://8.8.8.8/events", ("https://8.8.8.8/events", "https", "8.8.8.8", 443)),
    ("https://1.1.1.1:8443/e", ("https://1.1.1.1:8443/e", "https", "1.1.1.1", 8443)),
    (
        "https://[2606:4700:4700:0:0:0:0:1111]:8443/e",
        ("https://[2606:4700:4700::1111]:8443/e", "https", "2606:4700:4700::1111", 8443),
    ),
    (
        "https://[2001:4860:4860::8888]/e",
        ("https://[2001:4860:4860::8888]/e", "https", "2001:4860:4860::8888", 443),
    ),
]


@pytest.mark.parametrize(("url", "expected"), URL_ACCEPTED)
def test_check_url_normalizes(url: str, expected: tuple[str, str, str, int]) -> None:
    assert STRICT.check_url(url) == PushEndpoint(*expected)


def test_http_only_when_allowed() -> None:
    dev = EndpointPolicy(allow_http=True)
    assert dev.check_url("HTTP://Example.com/e") == PushEndpoint(
        "http://example.com/e", "http", "example.com", 80
    )
    assert dev.check_url("http://example.com:80/e").url == "http://example.com/e"
    assert dev.check_url("https://example.com/e").port == 443
    # Allowing http allows nothing else.
    assert refused(lambda: dev.check_url("ws://example.com/", FIELD)).message == "must use https"
    assert (
        refused(lambda: dev.check_url("http://10.0.0.1/", FIELD)).message
        == "address 10.0.0.1 is not public: it is a private address"
    )


def test_localhost_name_allowed_with_loopback_network() -> None:
    assert LOCAL.check_url("https://localhost:8443/events") == PushEndpoint(
        "https://localhost:8443/events", "https", "localhost", 8443
    )
    only_v6 = EndpointPolicy.from_strings(allow_http=False, allowed_networks="::1/128")
    assert only_v6.check_url("https://api.localhost/").host == "api.localhost"
    # 127.0.0.2 is loopback, but 127.0.0.1 is what localhost names; allowing another network
    # says nothing about loopback.
    other = EndpointPolicy.from_strings(
        allow_http=False, allowed_networks="127.0.0.2/32, 10.0.0.0/8"
    )
    assert (
        refused(lambda: other.check_url("https://localhost/", FIELD)).message
        == "host localhost is a loopback name; only public hosts are allowed"
    )


# --- check_address: address classes ----------------------------------------------------------

ADDRESS_REFUSALS = [
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("::1", "a loopback address"),
    ("10.0.0.1", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fc00::1", "a private (unique local) address"),
    ("fd12:3456::1", "a private (unique local) address"),
    ("169.254.169.254", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("224.0.0.1", "a multicast address"),
    ("233.252.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("ff0e::1", "a multicast address"),  # global scope, but multicast
    ("0.0.0.0", "the unspecified address"),
    ("::", "the unspecified address"),
    ("0.1.2.3", "in 0.0.0.0/8 ('this network')"),
    ("100.64.1.1", "in the shared address space 100.64.0.0/10"),
    ("100.127.255.255", "in the shared address space 100.64.0.0/10"),
    ("192.0.2.1", "a documentation address"),
    ("198.51.100.7", "a documentation address"),
    ("203.0.113.9", "a documentation address"),
    ("2001:db8::1", "a documentation address"),
    ("3fff::1", "a documentation address"),
    ("198.18.0.1", "a benchmarking address"),
    ("198.19.255.255", "a benchmarking address"),
    ("2001:2::1", "a benchmarking address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    ("4000::1", "a reserved address"),
    ("5f00::1", "a reserved address"),
    ("fec0::1", "a site-local address"),
    ("192.0.0.1", "a special-purpose (non-public) address"),
    ("2001::1", "a special-purpose (non-public) address"),  # Teredo
    ("100::1", "a reserved address"),  # discard-only (RFC 6666)
    ("64:ff9b:1::a00:1", "in the local-use NAT64 prefix 64:ff9b:1::/48"),
    ("64:ff9b:1::808:808", "in the local-use NAT64 prefix 64:ff9b:1::/48"),
    # IPv6 forms of refused IPv4 addresses: judged by the IPv4 address they stand for.
    ("::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1, which is a loopback address"),
    ("::ffff:10.0.0.1", "an IPv4-mapped form of 10.0.0.1, which is a private address"),
    (
        "::ffff:169.254.169.254",
        "an IPv4-mapped form of 169.254.169.254, which is a link-local address",
    ),
    ("::ffff:0.0.0.0", "an IPv4-mapped form of 0.0.0.0, which is the unspecified address"),
    (
        "::ffff:100.64.1.1",
        "an IPv4-mapped form of 100.64.1.1, which is in the shared address space 100.64.0.0/10",
    ),
    ("64:ff9b::7f00:1", "a NAT64 form of 127.0.0.1, which is a loopback address"),
    ("64:ff9b::a9fe:a9fe", "a NAT64 form of 169.254.169.254, which is a link-local address"),
    ("64:ff9b::c0a8:101", "a NAT64 form of 192.168.1.1, which is a private address"),
    ("2002:7f00:1::", "a 6to4 form of 127.0.0.1, which is a loopback address"),
    ("2002:a00:1::1", "a 6to4 form of 10.0.0.1, which is a private address"),
    ("2002:e000:1::", "a 6to4 form of 224.0.0.1, which is a multicast address"),
    ("::127.0.0.1", "an IPv4-compatible form of 127.0.0.1, which is a loopback address"),
    ("::10.0.0.1", "an IPv4-compatible form of 10.0.0.1, which is a private address"),
]


@pytest.mark.parametrize(("address", "reason"), ADDRESS_REFUSALS)
def test_check_address_refuses(address: str, reason: str) -> None:
    ip = ip_address(address)
    message = f"address {ip} is not public: it is {reason}"
    assert refused(lambda: STRICT.check_address(ip, FIELD)).message == message
    # An IP-literal host is checked when the URL is registered, with the same message.
    host = f"[{ip}]" if isinstance(ip, IPv6Address) else str(ip)
    assert (
        refused(lambda: STRICT.check_url(f"https://{host}:8443/events", FIELD)).message == message
    )


PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "9.9.9.9",
    "192.0.0.9",  # PCP anycast, globally reachable (RFC 7723)
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001::1",
    "::ffff:8.8.8.8",  # forms of public IPv4 addresses are as public as those
    "64:ff9b::808:808",
    "2002:808:808::1",
    "::8.8.8.8",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_accepted(address: str) -> None:
    ip = ip_address(address)
    STRICT.check_address(ip, FIELD)
    host = f"[{ip}]" if isinstance(ip, IPv6Address) else str(ip)
    assert STRICT.check_url(f"https://{host}/events").host == str(ip)


def test_allowed_networks_let_exactly_those_through() -> None:
    policy = EndpointPolicy.from_strings(allow_http=False, allowed_networks="127.0.0.1/32")
    policy.check_address(IPv4Address("127.0.0.1"), FIELD)
    assert policy.check_url("https://127.0.0.1:8443/events").host == "127.0.0.1"
    assert (
        refused(lambda: policy.check_address(IPv4Address("127.0.0.2"), FIELD)).message
        == "address 127.0.0.2 is not public: it is a loopback address"
    )
    # Allowing an IPv4 address does not allow its IPv6 forms: the operator named one address.
    mapped = IPv6Address("::ffff:127.0.0.1")
    assert (
        refused(lambda: policy.check_address(mapped, FIELD)).message
        == f"address {mapped} is not public: it is an IPv4-mapped form of 127.0.0.1, which is a loopback address"
    )
    assert (
        refused(lambda: policy.check_address(IPv6Address("::1"), FIELD)).message
        == "address ::1 is not public: it is a loopback address"
    )
    wide = EndpointPolicy.from_strings(allow_http=False, allowed_networks="10.0.0.0/8,fd00::/8")
    wide.check_address(IPv4Address("10.200.3.4"), FIELD)
    wide.check_address(IPv6Address("fd00::5"), FIELD)
    assert (
        refused(lambda: wide.check_address(IPv4Address("192.168.0.1"), FIELD)).message
        == "address 192.168.0.1 is not public: it is a private address"
    )


def test_from_strings() -> None:
    policy = EndpointPolicy.from_strings(
        allow_http=True, allowed_networks=" 127.0.0.1/32 , ::1/128,,10.1.0.0/16 "
    )
    assert policy == EndpointPolicy(
        allow_http=True,
        allowed_networks=(
            ip_network("127.0.0.1/32"),
            ip_network("::1/128"),
            ip_network("10.1.0.0/16"),
        ),
    )
    assert EndpointPolicy.from_strings(allow_http=False, allowed_networks="") == EndpointPolicy()
    assert EndpointPolicy.from_strings(
        allow_http=False, allowed_networks="127.0.0.1"
    ).allowed_networks == (ip_network("127.0.0.1/32"),)


@pytest.mark.parametrize(
    "entry", ["127.0.0.1/33", "10.0.0.1/8", "localhost", "::1/129", "10.0.0.0/8/8"]
)
def test_from_strings_names_a_malformed_entry(entry: str) -> None:
    with pytest.raises(ValueError, match=rf"^allowed network '{entry}' is not a valid network: "):
        EndpointPolicy.from_strings(allow_http=False, allowed_networks=f"127.0.0.1/32, {entry}")


# --- properties ------------------------------------------------------------------------------

ALLOWED = ("127.0.0.0/8", "10.0.0.0/8", "fe80::/10", "::ffff:0:0/96", "64:ff9b::/96")


def accepts(policy: EndpointPolicy, ip: IPv4Address | IPv6Address) -> bool:
    try:
        policy.check_address(ip, FIELD)
    except InvalidArgument as exc:
        assert exc.field == FIELD
        assert exc.message.startswith(f"address {ip} is not public: it is ")
        return False
    return True


@settings(max_examples=2000)
@given(ip=st.ip_addresses(), allowed=st.sets(st.sampled_from(ALLOWED)))
def test_never_accepts_a_non_global_address_unless_allowed(
    ip: IPv4Address | IPv6Address, allowed: set[str]
) -> None:
    policy = EndpointPolicy.from_strings(
        allow_http=False, allowed_networks=",".join(sorted(allowed))
    )
    in_allowed = any(ip in ip_network(net) for net in allowed)
    if accepts(policy, ip) and not in_allowed:
        assert ip.is_global
        assert not ip.is_multicast
    if in_allowed:
        assert accepts(policy, ip)


@settings(max_examples=1000)
@given(v4=st.ip_addresses(v=4))
def test_ipv6_forms_are_judged_by_their_ipv4_address(v4: IPv4Address) -> None:
    forms = [
        IPv6Address(f"::ffff:{v4}"),
        IPv6Address((0x2002 << 112) | (int(v4) << 80) | 1),
        IPv6Address(int(IPv6Address("64:ff9b::")) | int(v4)),
    ]
    if not accepts(STRICT, v4):
        for form in forms:
            assert not accepts(STRICT, form), form


# --- resolve ---------------------------------------------------------------------------------

Resolver = Callable[..., Awaitable[list[tuple[Any, ...]]]]


def run_with_resolver(resolver: Resolver | None, coro: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``coro`` on a fresh loop whose getaddrinfo is ``resolver`` (None: the real one)."""

    async def main() -> Any:
        if resolver is not None:
            loop = asyncio.get_running_loop()
            loop.getaddrinfo = resolver  # type: ignore[method-assign, assignment]
        return await coro()

    return asyncio.run(main())


def answers(*addresses: str) -> Resolver:
    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        assert kwargs == {"type": socket.SOCK_STREAM}
        out: list[tuple[Any, ...]] = []
        for text in addresses:
            if ":" in text:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (text, port)))
        return out

    return getaddrinfo


def test_resolve_localhost_is_refused() -> None:
    # check_url refuses the name already; resolve refuses what it resolves to regardless.
    endpoint = PushEndpoint("https://localhost:8443/events", "https", "localhost", 8443)
    with pytest.raises(InvalidArgument) as caught:
        run_with_resolver(None, lambda: STRICT.resolve(endpoint, FIELD))
    assert caught.value.field == FIELD
    assert caught.value.message in (
        "host localhost resolves to a non-public address: 127.0.0.1 is a loopback address",
        "host localhost resolves to a non-public address: ::1 is a loopback address",
    )


def test_resolve_localhost_when_loopback_is_allowed() -> None:
    endpoint = LOCAL.check_url("https://localhost:8443/events")
    addresses = run_with_resolver(None, lambda: LOCAL.resolve(endpoint, FIELD))
    assert IPv4Address("127.0.0.1") in addresses
    assert set(addresses) <= {IPv4Address("127.0.0.1"), IPv6Address("::1")}
    assert len(addresses) == len(set(addresses))


def test_resolve_refuses_if_any_address_is_refused() -> None:
    endpoint = STRICT.check_url("https://rebind.example/events")
    with pytest.raises(InvalidArgument) as caught:
        run_with_resolver(
            answers("8.8.8.8", "2606:4700:4700::1111", "169.254.169.254"),
            lambda: STRICT.resolve(endpoint, FIELD),
        )
    assert caught.value.field == FIELD
    assert caught.value.message == (
        "host rebind.example resolves to a non-public address: "
        "169.254.169.254 is a link-local address"
    )
    with pytest.raises(InvalidArgument) as caught:
        run_with_resolver(answers("::ffff:10.0.0.1"), lambda: STRICT.resolve(endpoint, FIELD))
    assert caught.value.message == (
        f"host rebind.example resolves to a non-public address: {IPv6Address('::ffff:10.0.0.1')} "
        "is an IPv4-mapped form of 10.0.0.1, which is a private address"
    )


def test_resolve_returns_distinct_addresses_in_order() -> None:
    endpoint = STRICT.check_url("https://receiver.example:8443/events")
    addresses = run_with_resolver(
        answers("2606:4700:4700::1111", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1", "8.8.8.8"),
        lambda: STRICT.resolve(endpoint, FIELD),
    )
    assert addresses == [
        IPv6Address("2606:4700:4700::1111"),
        IPv4Address("8.8.8.8"),
        IPv4Address("1.1.1.1"),
    ]
    # An allowed network lets its addresses through among public ones.
    policy = EndpointPolicy.from_strings(allow_http=False, allowed_networks="10.0.0.0/8")
    assert run_with_resolver(
        answers("8.8.8.8", "10.1.2.3"), lambda: policy.resolve(endpoint, FIELD)
    ) == [IPv4Address("8.8.8.8"), IPv4Address("10.1.2.3")]


def test_resolve_unresolvable_name() -> None:
    async def nowhere(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    endpoint = STRICT.check_url("https://nowhere.example/events")
    for resolver in (nowhere, answers()):
        with pytest.raises(Unavailable) as caught:
            run_with_resolver(resolver, lambda: STRICT.resolve(endpoint, FIELD))
        assert caught.value.field == FIELD
        assert caught.value.message.startswith("host nowhere.example does not resolve")


def test_resolve_ip_literal_without_lookup() -> None:
    async def no_lookup(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        raise AssertionError(f"looked up {host}")

    for url, address in (
        ("https://8.8.8.8/e", IPv4Address("8.8.8.8")),
        ("https://[2606:4700:4700::1111]:8443/e", IPv6Address("2606:4700:4700::1111")),
    ):
        endpoint = STRICT.check_url(url)
        assert run_with_resolver(no_lookup, partial(STRICT.resolve, endpoint, FIELD)) == [address]
    # A literal is checked again (the policy may have changed since registration).
    literal = PushEndpoint("https://10.0.0.1/e", "https", "10.0.0.1", 443)
    with pytest.raises(InvalidArgument) as caught:
        run_with_resolver(no_lookup, lambda: STRICT.resolve(literal, FIELD))
    assert (caught.value.field, caught.value.message) == (
        FIELD,
        "address 10.0.0.1 is not public: it is a private address",
    )


# --- pinned_request --------------------------------------------------------------------------


def test_pinned_request_shapes() -> None:
    dev = EndpointPolicy(allow_http=True)
    cases: list[tuple[str, str, tuple[str, dict[str, str], dict[str, object]]]] = [
        (
            "https://Receiver.Example:8443/events?x=1",
            "8.8.8.8",
            (
                "https://8.8.8.8:8443/events?x=1",
                {"Host": "receiver.example:8443"},
                {"sni_hostname": "receiver.example"},
            ),
        ),
        (
            "https://receiver.example",
            "2606:4700:4700::1111",
            (
                "https://[2606:4700:4700::1111]:443/",
                {"Host": "receiver.example"},
                {"sni_hostname": "receiver.example"},
            ),
        ),
        (
            "https://bücher.example/e",
            "1.1.1.1",
            (
                "https://1.1.1.1:443/e",
                {"Host": "xn--bcher-kva.example"},
                {"sni_hostname": "xn--bcher-kva.example"},
            ),
        ),
        (
            "http://receiver.example/e",
            "8.8.8.8",
            ("http://8.8.8.8:80/e", {"Host": "receiver.example"}, {}),
        ),
        (
            "http://receiver.example:8080/e",
            "8.8.8.8",
            ("http://8.8.8.8:8080/e", {"Host": "receiver.example:8080"}, {}),
        ),
        # An IP-literal endpoint: no SNI (RFC 6066 allows names only); TLS checks the IP SAN.
        (
            "https://[2606:4700:4700::1111]:8443/e",
            "2606:4700:4700::1111",
            ("https://[2606:4700:4700::1111]:8443/e", {"Host": "[2606:4700:4700::1111]:8443"}, {}),
        ),
    ]
    for url, address, expected in cases:
        assert pinned_request(dev.check_url(url), ip_address(address)) == expected


def _certificate(name: str) -> tuple[bytes, bytes]:
    """A throwaway self-signed certificate (PEM) for DNS name ``name``, and its key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, str]]]:
    """PEM certificate text and key file path for receiver.test and other.test."""
    out: dict[str, tuple[str, str]] = {}
    folder = tmp_path_factory.mktemp("receiver-tls")
    for name in ("receiver.test", "other.test"):
        cert_pem, key_pem = _certificate(name)
        (folder / f"{name}.crt").write_bytes(cert_pem)
        (folder / f"{name}.key").write_bytes(key_pem)
        out[name] = (str(folder / f"{name}.crt"), str(folder / f"{name}.key"))
    yield out


@dataclass
class Seen:
    sni: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)


@asynccontextmanager
async def receiver(cert_file: str, key_file: str) -> Any:
    """A TLS receiver on 127.0.0.1 that records the SNI and Host of each request and answers 202."""
    seen = Seen()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    def on_sni(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        seen.sni.append(name)

    context.sni_callback = on_sni
    handlers: list[asyncio.Task[Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            seen.peers.append(writer.get_extra_info("peername")[0])
            lines = head.decode("latin-1").split("\r\n")[1:]
            fields = (line.partition(":") for line in lines)
            headers = {name.strip().lower(): value.strip() for name, _, value in fields if name}
            seen.hosts.append(headers["host"])
            await reader.readexactly(int(headers.get("content-length", "0")))
            writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        # Each handler finishes before the loop ends (asyncio.run would cancel it, and log that).
        await asyncio.gather(*handlers, return_exceptions=True)
        server.close()
        await server.wait_closed()


async def deliver(trusted_cert: str, served: tuple[str, str]) -> tuple[int | Exception, Seen, int]:
    async with receiver(*served) as (port, seen):
        endpoint = LOCAL.check_url(f"https://receiver.test:{port}/events")
        address = IPv4Address("127.0.0.1")
        LOCAL.check_address(address)
        url, headers, extensions = pinned_request(endpoint, address)
        verify = ssl.create_default_context(cafile=trusted_cert)
        async with httpx.AsyncClient(
            verify=verify, trust_env=False, follow_redirects=False
        ) as client:
            try:
                response = await client.post(
                    url,
                    headers={**headers, "Content-Type": "application/secevent+jwt"},
                    content=b"header.payload.signature",
                    extensions=extensions,
                )
            except httpx.ConnectError as exc:
                return exc, seen, port
        return response.status_code, seen, port


def test_pinned_request_end_to_end(certificates: dict[str, tuple[str, str]]) -> None:
    """httpx connects to 127.0.0.1 (never resolving receiver.test, which does not exist), sends
    SNI and Host for receiver.test, and verifies the certificate against that name."""
    trusted, _ = certificates["receiver.test"]
    outcome, seen, port = asyncio.run(deliver(trusted, certificates["receiver.test"]))
    assert outcome == 202
    assert seen.sni == ["receiver.test"]
    assert seen.hosts == [f"receiver.test:{port}"]
    assert seen.peers == ["127.0.0.1"]


def test_pinned_request_refuses_a_certificate_for_another_name(
    certificates: dict[str, tuple[str, str]],
) -> None:
    """The receiver presents a certificate the client trusts, but for other.test: the name check
    uses the SNI name, so the handshake fails and no request is sent."""
    trusted, _ = certificates["other.test"]
    outcome, seen, _ = asyncio.run(deliver(trusted, certificates["other.test"]))
    assert isinstance(outcome, httpx.ConnectError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(outcome)
    assert "Hostname mismatch" in str(outcome)
    assert "receiver.test" in str(outcome)
    assert seen.sni == ["receiver.test"]
    assert seen.hosts == []
