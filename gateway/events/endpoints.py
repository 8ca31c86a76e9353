"""Push endpoints partners register for Security Event Tokens (RFC 8935), checked against SSRF.

A registered URL is a request the gateway will later make on a partner's say-so, from inside
its own network. So a URL may only lead to a public address: never loopback, private,
link-local, multicast, reserved or otherwise special-purpose space, nor an IPv6 form that embeds
such an IPv4 address, unless an operator allowed that network explicitly (tests run receivers on
127.0.0.1). Three checks, at three moments:

- ``EndpointPolicy.check_url`` when the URL is registered: its syntax, and an IP-literal host;
- ``EndpointPolicy.resolve`` before each delivery: every address the name resolves to;
- ``pinned_request``: the delivery connects to the address that was checked, not to whatever a
  second DNS lookup returns (DNS rebinding), while TLS still verifies the certificate for the
  registered name.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

import idna  # IDNA 2008 with UTS #46, as httpx and anyio encode names (anyio depends on it)

from gateway.errors import InvalidArgument, Unavailable

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"https": 443, "http": 80}

# Whitespace and control characters are silently dropped or split on by some URL parsers and not
# by others; a backslash is a path separator to WHATWG parsers only. Either lets the URL checked
# here differ from the URL a client sends.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_PORT = re.compile(r"[0-9]{1,5}")
# A last label of digits (or 0x...) makes inet_aton-style parsers read the host as an IPv4
# address ("127.1", "0x7f.1", "2130706433" are 127.0.0.1 to getaddrinfo).
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)

# Ranges the ipaddress properties refuse (is_global is False) but cannot name, or (for Python
# before 3.11.10 / 3.12.4) do not know: documentation 3fff::/20 (RFC 9637) and the local-use
# NAT64 prefix (RFC 8215) are is_global there.
_NAMED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ip_network(net), name)
    for net, name in (
        ("0.0.0.0/8", "in 0.0.0.0/8 ('this network')"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("fc00::/7", "a private (unique local) address"),
        ("100.64.0.0/10", "in the shared address space 100.64.0.0/10"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("2001:2::/48", "a benchmarking address"),
        ("64:ff9b:1::/48", "in the local-use NAT64 prefix 64:ff9b:1::/48"),
    )
)
# RFC 6052's well-known NAT64 prefix: the IPv4 address is the last 32 bits.
_NAT64 = IPv6Network("64:ff9b::/96")
_GLOBAL_UNICAST = IPv6Network("2000::/3")  # all IANA has allocated for global unicast
_LOOPBACKS = (IPv4Address("127.0.0.1"), IPv6Address("::1"))


@dataclass(frozen=True)
class PushEndpoint:
    """A push endpoint as registered: ``url`` normalized (scheme and host lower-case, default
    port dropped, path and query as given); ``host`` lower-case, IDNA (punycode) form for names,
    IP literals without brackets."""

    url: str
    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class EndpointPolicy:
    """What push endpoints may point at. ``allow_http`` is for development only;
    ``allowed_networks`` are networks an operator explicitly allowed despite not being public
    (e.g. 127.0.0.1/32 for a local receiver)."""

    allow_http: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_strings(cls, *, allow_http: bool, allowed_networks: str) -> EndpointPolicy:
        """From configuration text: networks separated by commas ("127.0.0.1/32, ::1/128").
        Host bits set ("10.0.0.1/8") are refused as the likely typo they are."""
        networks: list[IPNetwork] = []
        for entry in (item.strip() for item in allowed_networks.split(",")):
            if not entry:
                continue
            try:
                networks.append(ip_network(entry, strict=True))
            except ValueError as exc:
                raise ValueError(
                    f"allowed network {entry!r} is not a valid network: {exc}"
                ) from exc
        return cls(allow_http=allow_http, allowed_networks=tuple(networks))

    def is_allowed(self, address: IPAddress) -> bool:
        """Whether an operator allowed ``address`` explicitly (the address itself, not one it
        embeds: allowing 127.0.0.1 does not allow ::ffff:127.0.0.1)."""
        return any(address in network for network in self.allowed_networks)

    def check_url(self, url: str, field: str = "endpoint") -> PushEndpoint:
        """The endpoint ``url`` names, normalized; InvalidArgument naming ``field`` for the first
        rule it breaks. An IP-literal host is checked here; a name is checked by ``resolve``."""

        def refuse(message: str) -> InvalidArgument:
            return InvalidArgument(message, field=field)

        if len(url) > MAX_URL_LENGTH:
            raise refuse(f"is longer than {MAX_URL_LENGTH} characters")
        if _UNSAFE.search(url):
            raise refuse("must not contain whitespace, control characters or backslashes")
        if "#" in url:
            raise refuse("must not have a fragment")
        scheme, netloc, path, query = _split(url)
        if scheme not in _DEFAULT_PORTS or (scheme == "http" and not self.allow_http):
            raise refuse("must use https")
        if netloc is None:
            raise refuse("host is missing")
        if "@" in netloc:
            raise refuse("must not carry a user name or password")

        address: IPAddress | None
        if netloc.startswith("["):
            end = netloc.find("]")
            if end < 0:
                raise refuse("has an IPv6 literal without its closing bracket")
            literal, rest = netloc[1:end], netloc[end + 1 :]
            if rest and not rest.startswith(":"):
                raise refuse("has text after the IPv6 literal that is not a port")
            port_text = rest[1:] if rest else ""
            if "%" in literal:
                raise refuse("must not carry an IPv6 zone identifier")
            try:
                address = IPv6Address(literal)
            except ValueError:
                raise refuse(f"host [{literal}] is not a valid IPv6 address") from None
            host = str(address)
        else:
            host_text, _, port_text = netloc.partition(":")
            if not host_text:
                raise refuse("host is missing")
            address, host = self._host(host_text, refuse)

        port = _DEFAULT_PORTS[scheme]
        if port_text:
            if not _PORT.fullmatch(port_text):
                raise refuse(f"port {port_text!r} is not a number")
            port = int(port_text)
            if port == 0:
                raise refuse("port 0 is not allowed")
            if port > 65535:
                raise refuse(f"port {port} is out of range 1-65535")
        if address is not None:
            self.check_address(address, field)

        authority = _authority(host, port, scheme)
        return PushEndpoint(f"{scheme}://{authority}{path}{query}", scheme, host, port)

    def _host(
        self, text: str, refuse: Callable[[str], InvalidArgument]
    ) -> tuple[IPAddress | None, str]:
        """(address, host) for a host that is not bracketed: a dotted-quad IPv4 address, or a
        name in its lower-case IDNA form."""
        address = _parse_ip(text)
        if isinstance(address, IPv4Address):
            return address, str(address)
        if text.endswith("."):
            raise refuse(f"host {text!r} must not end with a dot")
        if _NUMERIC_LABEL.fullmatch(text.rsplit(".", 1)[-1]):
            raise refuse(f"host {text!r} is neither a dotted-quad IPv4 address nor a host name")
        try:
            host = idna.encode(text, uts46=True).decode("ascii").lower()
        except (idna.IDNAError, UnicodeError) as exc:
            raise refuse(f"host {text!r} is not a valid host name: {exc}") from None
        if (host == "localhost" or host.endswith(".localhost")) and not any(
            self.is_allowed(loopback) for loopback in _LOOPBACKS
        ):
            # RFC 6761: resolvers may answer these with loopback without asking DNS.
            raise refuse(f"host {host} is a loopback name; only public hosts are allowed")
        return None, host

    async def resolve(self, endpoint: PushEndpoint, field: str = "endpoint") -> list[IPAddress]:
        """Every address ``endpoint``'s host resolves to, distinct and in resolver order, once
        each is checked: one refused address refuses the endpoint, as a client may try them all.
        Connect only to these (``pinned_request``), never through a second lookup."""
        literal = _parse_ip(endpoint.host)
        if literal is not None:
            self.check_address(literal, field)
            return [literal]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                endpoint.host, endpoint.port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise Unavailable(f"host {endpoint.host} does not resolve: {exc}", field=field) from exc
        addresses: list[IPAddress] = []
        for *_, sockaddr in infos:
            address = ip_address(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise Unavailable(f"host {endpoint.host} does not resolve", field=field)
        for address in addresses:
            reason = None if self.is_allowed(address) else _refusal(address)
            if reason is not None:
                raise InvalidArgument(
                    f"host {endpoint.host} resolves to a non-public address: {address} is {reason}",
                    field=field,
                )
        return addresses

    def check_address(self, address: IPAddress, field: str = "endpoint") -> None:
        """InvalidArgument naming ``field`` unless ``address`` is globally routable unicast (or
        inside an allowed network)."""
        if self.is_allowed(address):
            return
        reason = _refusal(address)
        if reason is not None:
            raise InvalidArgument(f"address {address} is not public: it is {reason}", field=field)


def pinned_request(
    endpoint: PushEndpoint, address: IPAddress
) -> tuple[str, dict[str, str], dict[str, object]]:
    """URL, headers and httpx request extensions that make httpx connect to exactly ``address``
    (checked) while sending Host and TLS SNI / certificate checks for the endpoint's name: no
    second DNS lookup between the check and the connection (DNS rebinding).

    ``address`` must come from ``EndpointPolicy.resolve`` (or ``check_address``). httpcore passes
    the ``sni_hostname`` extension to TLS as ``server_hostname``, which is both the SNI and the
    name the certificate is verified against. Send with ``follow_redirects=False`` and
    ``trust_env=False``: a redirect is a new, unchecked URL, and httpcore's HTTP proxy tunnel
    ignores ``sni_hostname``. httpcore pools connections by (scheme, address, port) only, so a
    connection opened for one name would carry requests for another name at the same address
    without its certificate being checked: use one client per endpoint.
    """
    _, _, path, query = _split(endpoint.url)
    target = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
    url = f"{endpoint.scheme}://{target}:{endpoint.port}{path or '/'}{query}"
    headers = {"Host": _authority(endpoint.host, endpoint.port, endpoint.scheme)}
    extensions: dict[str, object] = {}
    if endpoint.scheme == "https" and _parse_ip(endpoint.host) is None:
        extensions["sni_hostname"] = endpoint.host
    return url, headers, extensions


def _split(url: str) -> tuple[str, str | None, str, str]:
    """(scheme lower-case, authority or None when there is no "//", path, "?query" or "") of a
    URL without a fragment, split as RFC 3986 appendix B does. Here rather than urlsplit, whose
    bracket checks (and so its errors) differ between Python patch releases."""
    scheme, colon, rest = url.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        return "", None, "", ""
    if not rest.startswith("//"):
        return scheme.lower(), None, rest, ""
    rest = rest[2:]
    end = next((i for i, char in enumerate(rest) if char in "/?"), len(rest))
    path, _, query = rest[end:].partition("?")
    return scheme.lower(), rest[:end], path, f"?{query}" if query else ""


def _parse_ip(text: str) -> IPAddress | None:
    """An IP address in canonical text form (dotted quad, or IPv6 without zone), else None."""
    try:
        return ip_address(text)
    except ValueError:
        return None


def _authority(host: str, port: int, scheme: str) -> str:
    """host[:port] for a URL or Host header: IPv6 bracketed, the scheme's default port left out."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"


def _embedded_ipv4(address: IPv6Address) -> tuple[IPv4Address, str] | None:
    """The IPv4 address an IPv6 address stands for, and the form: mapped (::ffff:0:0/96),
    6to4 (2002::/16), NAT64 (64:ff9b::/96) or compatible (::/96, deprecated; :: and ::1 are not
    IPv4 addresses). Connecting to one of these may reach that IPv4 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "an IPv4-mapped"
    if address.sixtofour is not None:
        return address.sixtofour, "a 6to4"
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF), "a NAT64"
    if int(address) >> 32 == 0 and int(address) > 1:
        return IPv4Address(int(address)), "an IPv4-compatible"
    return None


def _refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (a phrase following "it is"), or None.

    ``is_global`` decides; the rest names the class, and refuses what ``is_global`` lets
    through here: multicast (is_global covers scope, not unicast), reserved space, IPv6 outside
    2000::/3 and the ranges of ``_NAMED``."""
    if isinstance(address, IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner, form = embedded
            reason = _refusal(inner)
            if reason is not None:
                return f"{form} form of {inner}, which is {reason}"
            return None if address.is_global else "not globally routable"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    for network, name in _NAMED:
        if address in network:
            return name
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a special-purpose (non-public) address"
    if not address.is_global:
        return "not globally routable"
    if isinstance(address, IPv6Address) and address not in _GLOBAL_UNICAST:
        return "outside the IPv6 global unicast range 2000::/3"
    return None
