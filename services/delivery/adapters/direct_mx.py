"""Delivery straight to the recipient domain's mail servers (type `direct_mx`, vendor `mx`).

The domain's MX hosts are looked up with aiodns (A/AAAA of the domain itself when it has no
MX), their addresses too, and the answers kept as long as their TTL allows. The message goes to
the best host that takes a connection, with STARTTLS when the host offers it, without checking
its certificate (MX hosts rarely have one for the name they are reached by; encryption against
passive eavesdropping is the point) and in clear text when it does not. A host that cannot be
connected to hands over to the next; a host that answers decides the message.

Each MX host's addresses pass the egress policy before a connection is tried: a recipient domain
is anyone's to publish, and its MX records may name 127.0.0.1 or the platform's private network.
"""

import asyncio
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiodns
import pycares
from aiodns.error import DNSError
from pydantic import Field

from services.delivery.adapters.server_settings import AdapterSettings
from services.delivery.adapters.smtp import ConnectionSetupFailed, SmtpOptions, SmtpSender, SmtpSettings
from services.delivery.domain.mime import OutgoingMessage
from services.delivery.domain.mx import MxRecord, NullMx, TtlCache, exchanges_in_order
from services.delivery.domain.outcomes import Deferred, Failed, SendOutcome
from shared.contracts import ProbeResult

# RFC 3463 codes for the ways a route can be missing.
BAD_DESTINATION = "5.1.2"
NULL_MX = "5.1.10"  # RFC 7505
NO_ANSWER = "4.4.1"
DNS_FAILURE = "4.4.3"

DNS_TIMEOUT_SECONDS = 5.0

RECORD_TYPES = {"A": pycares.QUERY_TYPE_A, "AAAA": pycares.QUERY_TYPE_AAAA, "MX": pycares.QUERY_TYPE_MX}


@dataclass(frozen=True)
class MxOptions:
    """Where this worker asks DNS and which port MX hosts listen on (25, but for tests)."""

    dns_servers: tuple[str, ...] = ()
    """`address` or `address:port`; none means the system's resolvers."""
    port: int = 25
    max_hosts: int = 256
    """Hosts whose connections are kept open at once; the least recently used are closed beyond it."""
    probe_domain: str = "gmail.com"
    """A domain whose best MX host a probe connects to: it shows that DNS answers and that
    outgoing port 25, which many networks block, is open."""


class DirectMxSettings(AdapterSettings):
    helo_hostname: str | None = Field(None, min_length=1, pattern=r"^\S+$")


@dataclass(frozen=True)
class MailHost:
    name: str
    addresses: tuple[str, ...]


class NoSuchDomain(Exception):
    pass


class DnsUnavailable(Exception):
    pass


class MxResolver:
    """MX lookups through aiodns, cached by TTL."""

    def __init__(self, dns_servers: tuple[str, ...], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._dns_servers = dns_servers
        self._clock = clock
        self._cache: TtlCache[str, list[MailHost]] = TtlCache()
        self._resolver: aiodns.DNSResolver | None = None

    async def mail_hosts(self, domain: str) -> list[MailHost]:
        """The hosts to try, best first. Raises `NoSuchDomain`, `NullMx` or `DnsUnavailable`."""
        cached = self._cache.get(domain, self._clock())
        if cached is not None:
            return cached
        mx_records, ttl = await self._lookup(domain, "MX")
        if mx_records is None:
            raise NoSuchDomain(f"the recipient's domain {domain} does not exist")
        exchanges = exchanges_in_order(
            domain, [MxRecord(record.data.exchange, record.data.priority) for record in mx_records]
        )
        ttls = [ttl] if mx_records else []
        hosts: list[MailHost] = []
        failures: list[str] = []
        for name in exchanges:
            addresses: list[str] = []
            for record_type in ("A", "AAAA"):  # IPv4 first: many receivers distrust IPv6 senders
                try:
                    records, address_ttl = await self._lookup(name, record_type)
                except DnsUnavailable as exc:  # another host, or the other family, may still do
                    failures.append(str(exc))
                    continue
                addresses += [record.data.addr for record in records or []]
                if records:
                    ttls.append(address_ttl)
            if addresses:
                hosts.append(MailHost(name, tuple(addresses)))
        if not hosts and failures:
            raise DnsUnavailable("; ".join(failures))
        if hosts:
            self._cache.put(domain, hosts, min(ttls), self._clock())
        return hosts

    async def _lookup(self, name: str, record_type: str) -> tuple[list[Any] | None, float]:
        """The records and their least TTL; an empty list when the name has none of that type,
        None when the name does not exist."""
        try:
            result = await self._dns().query_dns(name, record_type)
        except DNSError as exc:
            code = exc.args[0] if exc.args else None
            if code == aiodns.error.ARES_ENODATA:
                return [], 0.0
            if code == aiodns.error.ARES_ENOTFOUND:
                return None, 0.0
            reason = exc.args[1] if len(exc.args) > 1 else exc
            raise DnsUnavailable(f"{record_type} lookup of {name} failed: {reason}") from None
        # An answer may carry the CNAME records that led to the ones asked for.
        wanted = [record for record in result.answer if record.type == RECORD_TYPES[record_type]]
        return wanted, float(min((record.ttl for record in wanted), default=0))

    def _dns(self) -> aiodns.DNSResolver:
        # Made on first use: aiodns binds to the event loop running when it is created.
        if self._resolver is None:
            self._resolver = aiodns.DNSResolver(
                nameservers=list(self._dns_servers) or None, timeout=DNS_TIMEOUT_SECONDS, tries=2
            )
        return self._resolver

    async def close(self) -> None:
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None


class DirectMxSender:
    def __init__(self, settings: DirectMxSettings, smtp: SmtpOptions, mx: MxOptions) -> None:
        self._smtp = dataclasses.replace(smtp, helo_hostname=settings.helo_hostname or smtp.helo_hostname)
        self._mx = mx
        self._resolver = MxResolver(mx.dns_servers)
        self._hosts: OrderedDict[str, SmtpSender] = OrderedDict()

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        domain = message.recipient.rpartition("@")[2].lower()
        try:
            hosts = await self._resolver.mail_hosts(domain.encode("idna").decode("ascii"))
        except UnicodeError:
            return Failed(None, BAD_DESTINATION, f"the recipient's domain {domain} is not a valid host name")
        except NoSuchDomain as exc:
            return Failed(None, BAD_DESTINATION, str(exc))
        except NullMx as exc:
            return Failed(None, NULL_MX, str(exc))
        except DnsUnavailable as exc:
            return Deferred(None, DNS_FAILURE, f"could not find where {domain} receives mail: {exc}")
        if not hosts:
            return Deferred(None, DNS_FAILURE, f"no mail host of {domain} has an address")
        unreachable = []
        for host in hosts:
            for address in host.addresses:
                refusal = self._smtp.egress.refusal(address, self._mx.port, host=host.name)
                if refusal is not None:
                    unreachable.append(f"{host.name} [{address}]: refused by egress policy: {refusal}")
                    continue
                try:
                    return await (await self._sender_for(address)).deliver(message)
                except ConnectionSetupFailed as exc:
                    unreachable.append(f"{host.name} [{address}]: {exc}")
        # Not a connection failure of this server: one domain's hosts being down says nothing about
        # the worker's way out, and must not open the circuit for every other domain.
        return Deferred(
            None, NO_ANSWER, f"no mail host of {domain} took a connection: {'; '.join(unreachable)}"
        )

    async def probe(self) -> ProbeResult:
        """There is no one server to test: look up a well-known domain's MX and connect to it."""
        domain = self._mx.probe_domain
        try:
            hosts = await self._resolver.mail_hosts(domain)
        except (NoSuchDomain, NullMx, DnsUnavailable) as exc:
            return ProbeResult(ok=False, message=f"Connection failed: MX lookup of {domain} failed: {exc}")
        if not hosts:
            return ProbeResult(
                ok=False, message=f"Connection failed: no mail host of {domain} has an address"
            )
        best = hosts[0]
        refusal = self._smtp.egress.refusal(best.addresses[0], self._mx.port, host=best.name)
        if refusal is not None:
            return ProbeResult(ok=False, message=f"Connection failed: refused by egress policy: {refusal}")
        result = await (await self._sender_for(best.addresses[0])).probe()
        if result.ok:
            return result
        return ProbeResult(ok=False, message=f"{result.message} ({best.name}, port {self._mx.port})")

    async def close(self) -> None:
        senders, self._hosts = list(self._hosts.values()), OrderedDict()
        await asyncio.gather(*(sender.close() for sender in senders))
        await self._resolver.close()

    async def _sender_for(self, address: str) -> SmtpSender:
        sender = self._hosts.get(address)
        if sender is not None:
            self._hosts.move_to_end(address)
            return sender
        sender = SmtpSender(
            SmtpSettings(
                host=address, port=self._mx.port, encryption="opportunistic", verify_certificate=False
            ),
            self._smtp,
        )
        self._hosts[address] = sender
        if len(self._hosts) > self._mx.max_hosts:
            _, evicted = self._hosts.popitem(last=False)
            await evicted.close()  # connections in use are closed when they come back
        return sender
