"""Delivery straight to MX hosts, against a local DNS server and aiosmtpd MX hosts on 127.0.0.x."""

import asyncio
from uuid import uuid4

import pytest
from aiosmtpd.controller import Controller

from services.delivery.adapters.direct_mx import MailHost, MxOptions, MxResolver
from services.delivery.adapters.smtp import SmtpOptions
from services.delivery.adapters.vendors import VendorSenders
from services.delivery.domain.outcomes import Deferred, Failed, SendOutcome, Sent
from shared.contracts import ServerConnectionSettings
from tests.integration.delivery.smtp_scripts import ScriptedHandler, self_signed_tls
from tests.integration.delivery.vendors.messages import outgoing
from tests.support.dns import FakeDns
from tests.support.egress import LOCAL_SINKS
from tests.support.infra import free_port


class MxHost:
    """An aiosmtpd server on one loopback address, as one MX host of a domain."""

    def __init__(self, address: str, port: int, **options) -> None:
        self.address = address
        self.handler = ScriptedHandler()
        self.controller = Controller(self.handler, hostname=address, port=port, **options)

    @property
    def recipients(self) -> list[str]:
        return [address for message in self.handler.messages for address in message.rcpt_tos]

    @property
    def connections(self) -> int:
        return self.handler.ehlo_count

    def __enter__(self) -> "MxHost":
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture(scope="module")
def dns():
    with FakeDns() as server:
        yield server


@pytest.fixture(scope="module")
def mx_port() -> int:
    return free_port()


@pytest.fixture
def mx1(mx_port):
    with MxHost("127.0.0.2", mx_port) as host:
        yield host


@pytest.fixture
def mx2(mx_port):
    with MxHost("127.0.0.3", mx_port) as host:
        yield host


@pytest.fixture
def domain() -> str:
    """A domain of the test's own, so that answers cached or counted by one test do not leak into another."""
    return f"d{uuid4().hex[:10]}.test"


def mx_sender(dns: FakeDns, port: int, *, probe_domain: str = "probe.test"):
    senders = VendorSenders(
        SmtpOptions(max_connections=2, timeout_seconds=5, egress=LOCAL_SINKS),
        mx=MxOptions(dns_servers=(dns.nameserver,), port=port, probe_domain=probe_domain),
    )
    return senders("direct_mx", ServerConnectionSettings(helo_hostname="mta.sendpool.test"))


async def sent_by_mx(dns: FakeDns, port: int, *recipients: str) -> list[SendOutcome]:
    """A message to each recipient, one after the other through one direct-to-MX sender, then closed."""
    sender = mx_sender(dns, port)
    outcomes = [await sender.send(outgoing(to)) for to in recipients]
    await sender.close()
    return outcomes


async def test_the_message_goes_to_the_most_preferred_mx_host(dns, mx_port, mx1, mx2, domain):
    dns.mx(domain, (20, f"backup.{domain}"), (10, f"mx.{domain}"))
    dns.a(f"mx.{domain}", mx1.address)
    dns.a(f"backup.{domain}", mx2.address)
    to = f"ada@{domain}"

    [outcome] = await sent_by_mx(dns, mx_port, to)

    assert isinstance(outcome, Sent), outcome
    assert (mx1.recipients, mx2.recipients) == ([to], [])


async def test_a_host_that_takes_no_connection_hands_over_to_the_next(dns, mx_port, mx2, domain):
    dns.mx(domain, (10, f"down.{domain}"), (20, f"backup.{domain}"))
    dns.a(f"down.{domain}", "127.0.0.4")  # nothing listens there
    dns.a(f"backup.{domain}", mx2.address)

    [outcome] = await sent_by_mx(dns, mx_port, f"ada@{domain}")

    assert isinstance(outcome, Sent), outcome
    assert mx2.recipients == [f"ada@{domain}"]


async def test_a_domain_without_mx_records_receives_at_its_own_address(dns, mx_port, mx1, domain):
    dns.a(domain, mx1.address)

    [outcome] = await sent_by_mx(dns, mx_port, f"ada@{domain}")

    assert isinstance(outcome, Sent), outcome
    assert mx1.recipients == [f"ada@{domain}"]
    assert dns.questions[(domain, "MX")] == 1


async def test_starttls_is_used_when_offered_whatever_the_certificate(dns, mx_port, domain, tmp_path):
    # The host refuses MAIL before STARTTLS, so a message it accepted came over TLS; its
    # certificate is self-signed and for another name, as MX certificates often are.
    with MxHost("127.0.0.5", mx_port, tls_context=self_signed_tls(tmp_path), require_starttls=True) as host:
        dns.mx(domain, (10, f"mx.{domain}"))
        dns.a(f"mx.{domain}", host.address)

        [outcome] = await sent_by_mx(dns, mx_port, f"ada@{domain}")

    assert isinstance(outcome, Sent), outcome
    assert host.recipients == [f"ada@{domain}"]


async def test_messages_to_one_domain_share_a_connection_and_one_lookup(dns, mx_port, mx1, domain):
    dns.mx(domain, (10, f"mx.{domain}"))
    dns.a(f"mx.{domain}", mx1.address)

    outcomes = await sent_by_mx(dns, mx_port, *(f"user{i}@{domain}" for i in range(3)))

    assert all(isinstance(outcome, Sent) for outcome in outcomes), outcomes
    assert mx1.connections == 1
    assert dns.questions[(domain, "MX")] == 1


async def test_answers_are_looked_up_again_once_their_ttl_has_passed(dns, domain):
    dns.mx(domain, (10, f"mx.{domain}"), ttl=300)
    dns.a(f"mx.{domain}", "127.0.0.2", ttl=1)  # the shortest TTL of the answer counts
    resolver = MxResolver((dns.nameserver,))

    first = await resolver.mail_hosts(domain)
    again = await resolver.mail_hosts(domain)
    asked_within_ttl = dns.questions[(f"mx.{domain}", "A")]
    await asyncio.sleep(1.2)
    await resolver.mail_hosts(domain)
    await resolver.close()

    assert first == again == [MailHost(f"mx.{domain}", ("127.0.0.2",))]
    assert asked_within_ttl == 1
    assert dns.questions[(f"mx.{domain}", "A")] == 2


async def test_a_domain_that_does_not_exist_fails_for_good(dns, mx_port, domain):
    dns.nxdomain(domain)

    [outcome] = await sent_by_mx(dns, mx_port, f"ada@{domain}")

    assert outcome == Failed(None, "5.1.2", f"the recipient's domain {domain} does not exist")


async def test_a_domain_with_a_null_mx_fails_for_good(dns, mx_port, domain):
    dns.mx(domain, (0, "."))

    [outcome] = await sent_by_mx(dns, mx_port, f"ada@{domain}")

    assert isinstance(outcome, Failed) and outcome.enhanced_code == "5.1.10", outcome
    assert "null MX" in outcome.reply_text


async def test_a_failing_dns_server_defers(dns, mx_port, domain):
    dns.servfail(domain)

    [outcome] = await sent_by_mx(dns, mx_port, f"ada@{domain}")

    assert isinstance(outcome, Deferred) and outcome.enhanced_code == "4.4.3", outcome
    assert f"MX lookup of {domain} failed" in outcome.reply_text


async def test_no_host_taking_a_connection_defers_naming_each_host(dns, mx_port, domain):
    dns.mx(domain, (10, f"a.{domain}"), (20, f"b.{domain}"))
    dns.a(f"a.{domain}", "127.0.0.6")
    dns.a(f"b.{domain}", "127.0.0.7")

    [outcome] = await sent_by_mx(dns, mx_port, f"ada@{domain}")

    assert isinstance(outcome, Deferred) and outcome.enhanced_code == "4.4.1", outcome
    assert f"a.{domain} [127.0.0.6]" in outcome.reply_text
    assert f"b.{domain} [127.0.0.7]" in outcome.reply_text


async def test_probe_connects_to_the_best_mx_of_the_probe_domain(dns, mx_port, mx1, domain):
    dns.mx(domain, (10, f"mx.{domain}"))
    dns.a(f"mx.{domain}", mx1.address)
    sender = mx_sender(dns, mx_port, probe_domain=domain)

    result = await sender.probe()
    await sender.close()

    assert (result.ok, result.message) == (True, "Connection successful.")
    assert mx1.connections == 1 and mx1.recipients == []


async def test_probe_says_when_port_25_is_blocked(dns, mx_port, domain):
    dns.mx(domain, (10, f"mx.{domain}"))
    dns.a(f"mx.{domain}", "127.0.0.8")
    sender = mx_sender(dns, mx_port, probe_domain=domain)

    result = await sender.probe()
    await sender.close()

    assert not result.ok
    assert result.message.startswith("Connection failed: ")
    assert result.message.endswith(f"(mx.{domain}, port {mx_port})")
