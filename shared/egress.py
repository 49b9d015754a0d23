"""Where the platform may connect on a tenant's behalf: the egress policy for tenant-defined destinations.

A tenant names the hosts delivery connects to (an SMTP relay, an API's base URL, Google's token
endpoint, the MX hosts of its recipients' domains). Left unchecked, such a name lets a tenant reach
the platform's own network: RabbitMQ, PostgreSQL, the cloud metadata service, other tenants' relays
on private addresses, and read their answers back through a connection test. So every such
connection goes through `EgressPolicy`:

- the host is resolved once, each address it resolves to is checked, and the connection is made
  to a checked address, never to the name again, so a DNS answer that changes between the check
  and the connection (rebinding) cannot point it elsewhere;
- loopback, private, link-local (the metadata address among them), multicast, unspecified,
  reserved, shared (CGNAT) and broadcast addresses are refused, also when written as IPv6 (mapped,
  compatible, 6to4, NAT64, Teredo);
- the operator may allow internal destinations that are real relays, by network and port
  (`SENDPOOL_DELIVERY_EGRESS_ALLOW`).
"""

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import certifi
import httpcore
import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""A host's addresses for TCP connections to `port`, in the resolver's order."""

_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291's deprecated ::a.b.c.d
_METADATA = ipaddress.IPv4Address("169.254.169.254")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")

WHY_REFUSED = "sendpool does not connect to internal addresses unless the operator allows them"


class EgressRefused(Exception):
    """A destination the egress policy does not allow; the message says why, in sendpool's words,
    and is fit to show the tenant who named the destination."""


class UnknownHost(OSError):
    """The host name does not resolve to any address."""


class InvalidAllowEntry(ValueError):
    """An entry of the operator's allow list that is not `CIDR`, `CIDR:port`, `CIDR:low-high` or
    `[IPv6 CIDR]:port`."""


@dataclass(frozen=True)
class AllowedDestination:
    """One entry of the operator's allow list: a network, and the ports allowed on it."""

    network: IpNetwork
    ports: range = range(1, 65536)

    def allows(self, address: IpAddress, port: int) -> bool:
        return address.version == self.network.version and address in self.network and port in self.ports


_ENTRY = re.compile(
    r"^(?:\[(?P<bracketed>[^\]]+)\](?::(?P<v6ports>[^:]+))?|(?P<network>[^\[\]:]+)(?::(?P<ports>[^:]+))?)$"
)


def parse_allow_entry(entry: str) -> AllowedDestination:
    """`10.0.0.0/8`, `10.1.2.3:25`, `10.1.0.0/16:2525-2530`, `[fd00::/8]:587`, `[fd00::/8]` (all ports).
    An IPv6 network is always in brackets: `fd00::1:25` could be a port or part of the address."""
    found = _ENTRY.match(entry.strip())
    if found is None:
        raise InvalidAllowEntry(
            f"egress allow entry {entry!r}: expected CIDR, CIDR:port or CIDR:low-high, "
            "with an IPv6 network in brackets ([fd00::/8]:25)"
        )
    network_text, ports_text = found["bracketed"] or found["network"], found["v6ports"] or found["ports"]
    try:
        network = ipaddress.ip_network(network_text, strict=True)
    except ValueError as exc:
        raise InvalidAllowEntry(f"egress allow entry {entry!r}: {exc}") from None
    if ports_text is None:
        return AllowedDestination(network)
    if not re.fullmatch(r"\d{1,5}(-\d{1,5})?", ports_text):
        raise InvalidAllowEntry(f"egress allow entry {entry!r}: {ports_text!r} is not a port or a port range")
    low_text, _, high_text = ports_text.partition("-")
    low, high = int(low_text), int(high_text or low_text)
    if not 1 <= low <= high <= 65535:
        raise InvalidAllowEntry(
            f"egress allow entry {entry!r}: ports must be between 1 and 65535, the lower first"
        )
    return AllowedDestination(network, range(low, high + 1))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, for the forms that reach it."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _internal_kind(address: IpAddress) -> str | None:
    """What makes `address` internal ("a loopback address"), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(address)) is not None:
        kind = _internal_kind(embedded)
        if kind is not None:
            return f"{kind} written as IPv6"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address == _METADATA:
        return "the cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address == _BROADCAST:
        return "the broadcast address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "a non-public address"
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses from the system's resolver (hosts file, then DNS), as a connect would use them."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnknownHost(f"{host} could not be resolved: {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class EgressPolicy:
    """Which addresses delivery may connect to for a tenant: public ones, and internal ones the
    operator allowed. The default allows no internal address at all."""

    allowed: tuple[AllowedDestination, ...] = ()
    resolve: Resolve = field(default=system_resolve, compare=False, repr=False)

    @classmethod
    def from_entries(cls, entries: Iterable[str], resolve: Resolve = system_resolve) -> "EgressPolicy":
        return cls(tuple(parse_allow_entry(entry) for entry in entries if entry.strip()), resolve)

    def refusal(self, address: str, port: int, *, host: str | None = None) -> str | None:
        """Why connecting to `address`:`port` is refused (in sendpool's words), or None when it is allowed.
        `host` is the name it was resolved from, for the message."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope (fe80::1%eth0) is no part of it
        kind = _internal_kind(ip)
        if kind is None:
            return None
        candidates = [ip] + ([_embedded_ipv4(ip)] if isinstance(ip, ipaddress.IPv6Address) else [])
        if any(
            entry.allows(candidate, port) for entry in self.allowed for candidate in candidates if candidate
        ):
            return None
        where = f"{host} resolves to {address}" if host and host != address else str(address)
        return f"{where}, {kind}; {WHY_REFUSED}"

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` that may be connected to on `port`, to connect to as they are.
        Raises `UnknownHost`, or `EgressRefused` when none is allowed (naming the first refused)."""
        name = host.strip("[]")  # an IPv6 literal as a URL writes it
        resolved = await self.resolve(name, port)
        if not resolved:
            raise UnknownHost(f"{name} could not be resolved")
        refusals = [self.refusal(address, port, host=name) for address in resolved]
        permitted = [address for address, refused in zip(resolved, refusals, strict=True) if refused is None]
        if not permitted:
            raise EgressRefused(next(reason for reason in refusals if reason))
        return permitted

    async def connect_socket(self, host: str, port: int, *, timeout: float) -> socket.socket:
        """A TCP socket connected to an allowed address of `host` (the first that answers), for a
        client that is handed a socket and keeps `host` for TLS (SNI and the certificate's name)."""
        loop = asyncio.get_running_loop()
        failures: list[str] = []
        for address in await self.addresses(host, port):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
            except (OSError, TimeoutError) as exc:
                sock.close()
                failures.append(
                    f"{address}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__}"
                )
                continue
            return sock
        raise ConnectionError(f"could not connect to {host} port {port} ({'; '.join(failures)})")


@functools.cache
def tls_client_context(extra_ca_file: Path | str | None = None) -> ssl.SSLContext:
    """A verifying client context: the public CAs (certifi's, as httpx uses) plus the operator's own
    CA bundle, for relays and vendors whose certificates a private CA signed. One per bundle, shared
    by every client: loading the CAs costs more than a request."""
    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca_file is not None:
        context.load_verify_locations(cafile=str(extra_ca_file))
    return context


class EgressNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows. httpcore starts
    TLS on the stream with the URL's host name, so SNI and certificate checks use the name while
    the TCP connection goes to the checked address."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._policy.addresses(host, port)
        except UnknownHost as exc:
            raise httpcore.ConnectError(str(exc)) from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # `addresses` is never empty
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("a Unix socket is never a tenant's destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class EgressHttpTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections go only where the policy allows, with no proxy from the
    environment (a proxy would connect for us, unchecked)."""

    def __init__(self, policy: EgressPolicy, *, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        # httpx offers no way to hand httpcore a network backend; its pool is replaced by one built
        # the same way, with the checking backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=EgressNetworkBackend(policy),
        )


def egress_http_client(
    policy: EgressPolicy, *, tls_ca_file: Path | str | None, limits: httpx.Limits, **client: Any
) -> httpx.AsyncClient:
    """An httpx client that connects only where `policy` allows, verifying TLS against the public CAs
    and `tls_ca_file`, following no redirect and no proxy from the environment: a redirect or a
    proxy would take the request somewhere the policy never checked."""
    return httpx.AsyncClient(
        transport=EgressHttpTransport(policy, ssl_context=tls_client_context(tls_ca_file), limits=limits),
        trust_env=False,
        follow_redirects=False,
        **client,
    )
