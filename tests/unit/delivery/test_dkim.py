"""DKIM signatures made by sendpool, checked by dkimpy's verifier against the published key."""

import base64
from datetime import UTC, datetime
from uuid import UUID

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import ValidationError

from services.delivery.domain.dkim import SIGNED_HEADERS, dkim_signed
from services.delivery.domain.identity import InvalidIdentity, SenderIdentity, identity_from_settings
from services.delivery.domain.mime import OutgoingMessage, compose
from shared.contracts import MessageContent, ServerConnectionSettings, ServerIdentitySettings

MESSAGE_ID = UUID("5d0c1e2a-8f3b-4c7d-9e6f-0a1b2c3d4e5f")
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CONTENT = MessageContent(
    from_address="news@shop.example",
    from_name="Shop News",
    subject="Spring sale: 20 % off",
    text="Everything is 20% off.\n.A line that starts with a dot\n",
    html="<p>Everything is <b>20%</b> off.</p>",
    reply_to="help@shop.example",
    unsubscribe_url="https://shop.example/u/42",
)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
).decode()
PUBLIC_RECORD = (
    "v=DKIM1; k=rsa; p="
    + base64.b64encode(
        KEY.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
)


def identity(**changes) -> SenderIdentity:
    settings = {"from_domains": ["shop.example"], "dkim_selector": "s2026", "dkim_private_key": PRIVATE_PEM}
    return identity_from_settings(ServerIdentitySettings(**{**settings, **changes}))


def message(content: MessageContent = CONTENT) -> OutgoingMessage:
    return compose(MESSAGE_ID, content, "ada@inbox.example", recipient_name="Ada Lovelace", now=NOW)


class PublishedKeys:
    """The DNS a verifier asks: TXT records by name, and which names it asked for."""

    def __init__(self, records: dict[str, str]) -> None:
        self.records = records
        self.asked: list[str] = []

    def __call__(self, name: bytes, timeout: int = 5) -> bytes | None:
        self.asked.append(name.decode())
        found = self.records.get(name.decode())
        return found.encode() if found else None


DNS = {"s2026._domainkey.shop.example.": PUBLIC_RECORD}


def test_a_signed_message_verifies_with_the_published_key():
    signed = dkim_signed(message(), identity())
    dns = PublishedKeys(DNS)

    assert dkim.verify(signed.as_bytes(), dnsfunc=dns)
    assert dns.asked == ["s2026._domainkey.shop.example."]


def test_an_ed25519_key_signs_as_rfc_8463_describes_and_verifies():
    """Ed25519 keys, which the catalog accepts, used to fail every send: dkimpy needs PyNaCl."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    dns = PublishedKeys(
        {"ed26._domainkey.shop.example.": f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}"}
    )

    signed = dkim_signed(message(), identity(dkim_selector="ed26", dkim_private_key=pem))

    assert b"a=ed25519-sha256" in signed.dkim_signature
    assert dkim.verify(signed.as_bytes(), dnsfunc=dns)
    assert not dkim.verify(signed.as_bytes().replace(b"20% off", b"90% off"), dnsfunc=dns)


def test_the_signature_covers_the_listed_headers_with_relaxed_canonicalisation():
    signed = dkim_signed(message(), identity())

    tags = dict(
        tag.strip().split("=", 1)
        for tag in signed.dkim_signature.decode()
        .removeprefix("DKIM-Signature:")
        .replace("\r\n", "")
        .split(";")
        if tag.strip()
    )
    assert (tags["d"], tags["s"], tags["c"], tags["a"]) == (
        "shop.example",
        "s2026",
        "relaxed/relaxed",
        "rsa-sha256",
    )
    assert [name.strip() for name in tags["h"].split(":")] == [name.lower() for name in SIGNED_HEADERS]
    assert signed.as_bytes().startswith(b"DKIM-Signature: ")
    assert signed.dkim_signature.endswith(b"\r\n")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda data: data.replace(b"Everything is 20% off.", b"Everything is 90% off."), id="body"
        ),
        pytest.param(
            lambda data: data.replace(b"Subject: Spring sale", b"Subject: Sprint sale"), id="subject"
        ),
        pytest.param(lambda data: data.replace(b"news@shop.example", b"news@sh0p.example", 1), id="from"),
        pytest.param(
            lambda data: data.replace(b"https://shop.example/u/42", b"https://evil.example/u/42"),
            id="list-unsubscribe",
        ),
    ],
)
def test_a_tampered_message_fails_verification(tamper):
    data = dkim_signed(message(), identity()).as_bytes()
    tampered = tamper(data)

    assert tampered != data
    assert not dkim.verify(tampered, dnsfunc=PublishedKeys(DNS))


def test_relaxed_canonicalisation_survives_a_relay_refolding_a_header():
    data = dkim_signed(message(), identity()).as_bytes()
    refolded = data.replace(b"Subject: Spring sale: 20 % off", b"Subject: Spring sale:\r\n   20 %   off")

    assert refolded != data
    assert dkim.verify(refolded, dnsfunc=PublishedKeys(DNS))


def test_headers_the_message_lacks_are_not_signed():
    content = CONTENT.model_copy(update={"unsubscribe_url": None})

    signed = dkim_signed(message(content), identity())

    assert b"list-unsubscribe" not in signed.dkim_signature
    assert dkim.verify(signed.as_bytes(), dnsfunc=PublishedKeys(DNS))


def test_a_subdomain_sender_is_signed_for_the_listed_domain():
    content = CONTENT.model_copy(update={"from_address": "news@mail.shop.example"})

    signed = dkim_signed(message(content), identity())

    assert b"d=shop.example;" in signed.dkim_signature
    assert dkim.verify(signed.as_bytes(), dnsfunc=PublishedKeys(DNS))


def test_a_from_domain_the_identity_does_not_list_is_sent_unsigned():
    content = CONTENT.model_copy(update={"from_address": "news@elsewhere.example"})

    assert dkim_signed(message(content), identity()).dkim_signature == b""


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"identity": None},
        {"identity": {"from_domains": ["shop.example"]}},
        {"identity": {"from_domains": ["shop.example"], "dkim_selector": "s2026"}},
        {"identity": {"from_domains": ["shop.example"], "dkim_private_key": PRIVATE_PEM}},
        {"identity": {"from_domains": ["shop.example"], "dkim_selector": "", "dkim_private_key": ""}},
    ],
)
def test_without_both_a_selector_and_a_key_nothing_is_signed(settings):
    found = identity_from_settings(ServerConnectionSettings.model_validate(settings).identity)

    assert found is None or not found.signs
    assert dkim_signed(message(), found).dkim_signature == b""


def test_a_key_pasted_with_crlf_line_endings_still_signs():
    signed = dkim_signed(message(), identity(dkim_private_key=PRIVATE_PEM.replace("\n", "\r\n")))

    assert dkim.verify(signed.as_bytes(), dnsfunc=PublishedKeys(DNS))


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"dkim_private_key": "not a key"}, "identity.dkim_private_key is not a PEM private key"),
        (
            {
                "dkim_private_key": ec.generate_private_key(ec.SECP256R1())
                .private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                .decode()
            },
            "DKIM signs with RSA or Ed25519 keys only",
        ),
        ({"dkim_selector": "s1\r\nBcc: all@example.com"}, "identity.dkim_selector"),
        ({"return_path_domain": "bounce.example>\r\nRCPT TO:<x@y.example"}, "identity.return_path_domain"),
        ({"from_domains": ["shop.example", "not a domain"]}, "identity.from_domains"),
    ],
)
def test_an_identity_that_cannot_be_used_safely_is_refused_naming_the_field(changes, complaint):
    with pytest.raises(InvalidIdentity) as refused:
        identity(**changes)

    assert str(refused.value).startswith("identity.")
    assert complaint in str(refused.value)


def test_a_refused_key_is_never_repeated_in_the_complaint():
    with pytest.raises(InvalidIdentity) as refused:
        identity(dkim_private_key=PRIVATE_PEM[:200])

    assert PRIVATE_PEM[40:80] not in str(refused.value)


def test_an_identity_of_the_wrong_shape_is_refused_with_the_settings_naming_the_field_but_no_value():
    with pytest.raises(ValidationError) as refused:
        ServerConnectionSettings.model_validate(
            {"password": "never-shown", "identity": {"from_domains": "shop.example"}}
        )

    assert [error["loc"] for error in refused.value.errors()] == [("identity", "from_domains")]
    assert "never-shown" not in str(refused.value) and "shop.example" not in str(refused.value)
