"""What the receiving server sees: a DKIM signature that verifies, and a VERP Return-Path that names
the message, through the worker process and a real SMTP server."""

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from shared.contracts import DeliveryRequested, StatusEvent
from shared.topology import delivery_queue_name
from shared.verp import parse_verp
from tests.integration.delivery.conftest import VERP_SECRET
from tests.integration.delivery.messages import CONTENT, recipient
from tests.integration.delivery.smtp_scripts import ScriptedSink
from tests.support.smtp import Received

pytestmark = pytest.mark.usefixtures("worker")

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED25519_KEY = ed25519.Ed25519PrivateKey.generate()
PUBLISHED = {
    "mail2026._domainkey.shop.example.": "v=DKIM1; k=rsa; p="
    + base64.b64encode(
        KEY.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode(),
    "ed2026._domainkey.shop.example.": "v=DKIM1; k=ed25519; p="
    + base64.b64encode(
        ED25519_KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode(),
}


def dns(name: bytes, timeout: int = 5) -> bytes | None:
    found = PUBLISHED.get(name.decode())
    return found.encode() if found else None


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def sent_through_a_server_with(
    bus, catalog, identity: dict | None, status: str
) -> tuple[DeliveryRequested, StatusEvent, list[Received]]:
    """A message sent through a new server with `identity` (and a sink of its own) until it is
    `status`: the request, its status event, and what the sink received for it."""
    with ScriptedSink() as sink:
        settings = {"host": "127.0.0.1", "port": sink.port, "encryption": "none"}
        if identity is not None:
            settings["identity"] = identity
        server = catalog.put_server(settings)
        await bus.publish_catalog_event(catalog.changed_event(server))
        await bus.wait_until_consumed(delivery_queue_name("smtp", server.id))
        to = recipient()

        request = await bus.send(server.id, to)
        event = await bus.wait_for_status(request.send.message_id, status)

        return request, event, sink.to(to)


async def test_a_message_from_a_server_with_an_identity_is_signed_and_bounces_to_its_return_path(
    bus, catalog
):
    identity = {
        "from_domains": ["shop.example"],
        "dkim_selector": "mail2026",
        "dkim_private_key": pem(KEY),
        "return_path_domain": "bounces.shop.example",
    }

    request, _, [received] = await sent_through_a_server_with(bus, catalog, identity, "sent")

    assert received.mail_from.startswith("bounces+")
    assert received.mail_from.endswith("@bounces.shop.example")
    assert parse_verp(received.mail_from, VERP_SECRET) == request.send.message_id
    assert parse_verp(received.mail_from, "another secret") is None
    assert received.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example;")
    assert dkim.verify(received.data, dnsfunc=dns)
    assert not dkim.verify(received.data.replace(b"20%", b"90%"), dnsfunc=dns)


async def test_a_server_without_an_identity_sends_unsigned_with_a_return_path_at_the_from_domain(
    bus, catalog
):
    request, _, [received] = await sent_through_a_server_with(bus, catalog, None, "sent")

    assert received.mail_from.endswith("@shop.example")
    assert parse_verp(received.mail_from, VERP_SECRET) == request.send.message_id
    assert b"DKIM-Signature" not in received.data


async def test_a_key_the_worker_cannot_sign_with_defers_the_message_naming_the_field(bus, catalog):
    identity = {
        "from_domains": ["shop.example"],
        "dkim_selector": "mail2026",
        "dkim_private_key": pem(ec.generate_private_key(ec.SECP256R1())),
    }

    _, deferred, received = await sent_through_a_server_with(bus, catalog, identity, "deferred")

    assert "identity.dkim_private_key" in deferred.reply_text
    assert "DKIM signs with RSA or Ed25519 keys only" in deferred.reply_text
    assert received == [], "never sent unsigned when the server is meant to sign"


async def test_a_server_whose_key_cannot_sign_fails_its_test_so_it_is_never_enabled(bus, sink):
    settings = {
        "host": "127.0.0.1",
        "port": sink.port,
        "encryption": "none",
        "identity": {
            "from_domains": ["shop.example"],
            "dkim_selector": "mail2026",
            "dkim_private_key": pem(ec.generate_private_key(ec.SECP256R1())),
        },
    }

    result = await bus.probe(settings)

    assert not result.ok
    assert result.message.startswith("Connection failed: identity.dkim_private_key is an ECPrivateKey")


@pytest.mark.parametrize(
    ("selector", "key"), [("mail2026", KEY), ("ed2026", ED25519_KEY)], ids=["rsa", "ed25519"]
)
async def test_a_test_message_is_signed_and_carries_a_verp_return_path(bus, sink, selector, key):
    settings = {
        "host": "127.0.0.1",
        "port": sink.port,
        "encryption": "none",
        "identity": {
            "from_domains": ["shop.example"],
            "dkim_selector": selector,
            "dkim_private_key": pem(key),
        },
    }
    to = recipient()

    result = await bus.probe(settings, test_recipient=to, test_content=CONTENT)

    assert result.ok, result.message
    [received] = sink.to(to)
    assert parse_verp(received.mail_from, VERP_SECRET) is not None
    assert received.mail_from.endswith("@shop.example")
    assert dkim.verify(received.data, dnsfunc=dns)
