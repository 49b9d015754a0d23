"""The egress policy: which addresses are internal, how the operator's allow list reads, and that a
connection goes to the address that was checked, never to the name again (DNS rebinding)."""

import httpcore
import pytest

from shared.egress import (
    EgressNetworkBackend,
    EgressPolicy,
    EgressRefused,
    InvalidAllowEntry,
    parse_allow_entry,
)


async def fixed(addresses: list[str], calls: list[str] | None = None):
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        return addresses

    return resolve


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "the cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "an unspecified address"),
        ("0.1.2.3", "a private address"),
        ("255.255.255.255", "the broadcast address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fd12::1", "a private address"),
        ("fe80::1", "a link-local address"),
        ("ff02::1", "a multicast address"),
        ("::ffff:10.0.0.1", "a private address written as IPv6"),
        ("::127.0.0.1", "a loopback address written as IPv6"),
        ("2002:a9fe:a9fe::1", "the cloud metadata address written as IPv6"),
        ("64:ff9b::7f00:1", "a loopback address written as IPv6"),
    ],
)
def test_internal_addresses_are_refused_by_default(address, kind):
    reason = EgressPolicy().refusal(address, 25, host="relay.example.com")

    assert reason == (
        f"relay.example.com resolves to {address}, {kind}; "
        "sendpool does not connect to internal addresses unless the operator allows them"
    )


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert EgressPolicy().refusal(address, 25) is None


def test_the_allow_list_opens_networks_and_ports_and_nothing_else():
    policy = EgressPolicy.from_entries(
        ["10.20.0.0/16:587", "10.30.0.0/16:2525-2530", "[fd00::/8]:25", "10.9.9.9"]
    )

    assert policy.refusal("10.20.1.1", 587) is None
    assert policy.refusal("10.20.1.1", 25) is not None
    assert policy.refusal("10.30.0.1", 2530) is None
    assert policy.refusal("10.30.0.1", 2531) is not None
    assert policy.refusal("fd00::5", 25) is None
    assert policy.refusal("::ffff:10.20.0.9", 587) is None  # the same address, written as IPv6
    assert policy.refusal("10.9.9.9", 5432) is None  # a whole host, every port
    assert policy.refusal("10.21.0.1", 587) is not None


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("10.0.0.1/8", "has host bits set"),
        ("relay.internal", "does not appear to be an IPv4 or IPv6 network"),
        ("10.0.0.0/8:0", "between 1 and 65535"),
        ("10.0.0.0/8:30-20", "the lower first"),
        ("10.0.0.0/8:smtp", "is not a port or a port range"),
        ("10.0.0.0/8:25-", "is not a port or a port range"),
        ("fd00::/8:25", "with an IPv6 network in brackets"),
        ("fd00::1:25", "with an IPv6 network in brackets"),
    ],
)
def test_an_allow_entry_that_cannot_be_read_is_named(entry, says):
    with pytest.raises(InvalidAllowEntry) as refused:
        parse_allow_entry(entry)

    assert repr(entry) in str(refused.value) and says in str(refused.value)


async def test_every_address_a_name_resolves_to_is_checked():
    mixed = EgressPolicy(resolve=await fixed(["93.184.216.34", "10.0.0.5"]))
    internal = EgressPolicy(resolve=await fixed(["10.0.0.5", "127.0.0.1"]))

    assert await mixed.addresses("relay.example.com", 25) == ["93.184.216.34"]
    with pytest.raises(EgressRefused, match="relay.example.com resolves to 10.0.0.5, a private address"):
        await internal.addresses("relay.example.com", 25)


class RecordingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append((host, port))
        return httpcore.AsyncMockStream([])

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AssertionError("never")

    async def sleep(self, seconds: float) -> None:
        pass


async def test_https_connects_to_the_checked_address_and_never_asks_dns_again():
    """A rebinding name answers a public address to the check and an internal one to the next
    question: there is no next question, the connection goes to the address checked."""
    calls: list[str] = []
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    inner = RecordingBackend()
    backend = EgressNetworkBackend(EgressPolicy(resolve=rebinding), inner)

    await backend.connect_tcp("rebind.example.com", 443)

    assert inner.connected == [("93.184.216.34", 443)]
    assert calls == ["rebind.example.com"]


async def test_https_to_an_internal_name_never_connects():
    inner = RecordingBackend()
    backend = EgressNetworkBackend(EgressPolicy(resolve=await fixed(["169.254.169.254"])), inner)

    with pytest.raises(EgressRefused, match="the cloud metadata address"):
        await backend.connect_tcp("metadata.example.com", 80)
    assert inner.connected == []
