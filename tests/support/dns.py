"""A DNS server on a local UDP port that answers from records a test sets, counting the questions."""

import socket
import threading
from collections import Counter

from dnslib import AAAA, MX, QTYPE, RCODE, RR, TXT, A, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.support.infra import free_port


class FakeDns(BaseResolver):
    def __init__(self) -> None:
        self.port = free_port(socket.SOCK_DGRAM)
        self.questions: Counter[tuple[str, str]] = Counter()
        self._records: dict[tuple[str, str], list[RR]] = {}
        self._rcodes: dict[str, int] = {}
        self._silent: set[str] = set()
        self._lock = threading.Lock()
        self._server = DNSServer(
            self, address="127.0.0.1", port=self.port, logger=DNSLogger(logf=lambda _: None)
        )

    @property
    def nameserver(self) -> str:
        """As aiodns takes it: `address:port`."""
        return f"127.0.0.1:{self.port}"

    def mx(self, domain: str, *exchanges: tuple[int, str], ttl: int = 300) -> None:
        self._add(domain, "MX", [MX(exchange, preference) for preference, exchange in exchanges], ttl)

    def a(self, name: str, *addresses: str, ttl: int = 300) -> None:
        self._add(name, "A", [A(address) for address in addresses], ttl)

    def aaaa(self, name: str, *addresses: str, ttl: int = 300) -> None:
        self._add(name, "AAAA", [AAAA(address) for address in addresses], ttl)

    def txt(self, name: str, *values: str | list[str], ttl: int = 300) -> None:
        """One TXT record per value; a list is one record of those strings, and a text longer than a
        string's 255 characters is split as a DNS provider splits a long DKIM key."""
        strings = [
            [value[i : i + 255] for i in range(0, len(value), 255)] if isinstance(value, str) else value
            for value in values
        ]
        self._add(name, "TXT", [TXT(parts) for parts in strings], ttl)

    def remove(self, name: str, record_type: str) -> None:
        self._records.pop((_fqdn(name), record_type), None)

    def silent(self, name: str) -> None:
        """Never answer questions about `name`, as a name server that is down: the asker times out."""
        self._silent.add(_fqdn(name))

    def nxdomain(self, name: str) -> None:
        self._rcodes[_fqdn(name)] = RCODE.NXDOMAIN

    def servfail(self, name: str) -> None:
        self._rcodes[_fqdn(name)] = RCODE.SERVFAIL

    def _add(self, name: str, record_type: str, rdatas: list, ttl: int) -> None:
        self._records[(_fqdn(name), record_type)] = [
            RR(_fqdn(name), getattr(QTYPE, record_type), rdata=rdata, ttl=ttl) for rdata in rdatas
        ]

    def resolve(self, request: DNSRecord, handler) -> DNSRecord:
        name, record_type = str(request.q.qname).lower(), QTYPE[request.q.qtype]
        with self._lock:
            self.questions[(name.rstrip("."), record_type)] += 1
        if name in self._silent:
            raise DNSError(f"staying silent about {name}")  # dnslib's server then sends nothing
        reply = request.reply()
        if name in self._rcodes:
            reply.header.rcode = self._rcodes[name]
            return reply
        for record in self._records.get((name, record_type), []):
            reply.add_answer(record)
        known_name = any(known == name for known, _ in self._records)
        if not known_name:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def __enter__(self) -> "FakeDns":
        self._server.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


def _fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."
