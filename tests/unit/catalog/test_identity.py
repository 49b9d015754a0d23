"""A server's identity: domains that cannot break a header, and a DKIM key that can really sign."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from services.catalog.domain.identity import validate_identity
from shared.dkim_keys import parse_dkim_key
from shared.errors import InvalidInput
from tests.unit.catalog.dkim_keys import RSA_512_PEM, ec_key, ed25519_key, pem, rsa_key


def errors(raw: dict) -> list[tuple[tuple, str]]:
    with pytest.raises(InvalidInput) as refused:
        validate_identity(raw)
    return [(error.loc, error.message) for error in refused.value.errors]


def test_an_rsa_key_gives_its_dns_record_and_stays_out_of_the_public_part():
    key = rsa_key()
    identity, private_pem = validate_identity(
        {
            "from_domains": ["News.Example.com", "shop.example"],
            "dkim_selector": "s2026",
            "dkim_private_key": pem(key, serialization.PrivateFormat.TraditionalOpenSSL),
            "return_path_domain": "bounce.example.com",
        }
    )

    assert identity.public.from_domains == ["news.example.com", "shop.example"]
    assert identity.dkim_algorithm == "rsa"
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert identity.dns_records() == [
        (f"s2026._domainkey.{domain}", f"v=DKIM1; k=rsa; p={base64.b64encode(public_der).decode()}")
        for domain in ("news.example.com", "shop.example")
    ]
    # Stored in one canonical form, whatever PEM flavour was given.
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert (
        serialization.load_pem_private_key(private_pem.encode(), None).private_numbers()
        == key.private_numbers()
    )
    assert "PRIVATE" not in repr(identity) and "PRIVATE" not in str(identity.public.model_dump())


def test_an_ed25519_key_publishes_its_raw_public_key():
    key = ed25519_key()
    identity, _ = validate_identity(
        {"from_domains": ["example.com"], "dkim_selector": "ed", "dkim_private_key": pem(key)}
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert identity.dkim_algorithm == "ed25519"
    assert identity.dns_records() == [
        ("ed._domainkey.example.com", f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}")
    ]


def test_an_identity_without_dkim_has_no_key_and_no_record():
    identity, key = validate_identity({"from_domains": ["example.com"]})
    assert (key, identity.dkim_algorithm, identity.dns_records()) == (None, None, [])
    assert identity.values(None) == {
        "from_domains": ["example.com"],
        "dkim_selector": None,
        "return_path_domain": None,
        "dkim_private_key": None,
    }


@pytest.mark.parametrize(
    ("key_pem", "problem"),
    [
        ("not a key at all", "is not a PEM private key"),
        (pem(ec_key()), "DKIM signs with RSA or Ed25519 keys only"),
        (
            pem(rsa_key(), encryption=serialization.BestAvailableEncryption(b"passphrase")),
            "is encrypted with a passphrase",
        ),
    ],
)
def test_a_key_that_cannot_sign_is_refused_without_echoing_it(key_pem, problem):
    with pytest.raises(ValueError, match=problem) as refused:
        parse_dkim_key(key_pem)
    lines = key_pem.strip().splitlines()
    assert (lines[1] if len(lines) > 2 else key_pem) not in str(refused.value)

    [(loc, message)] = errors(
        {"from_domains": ["example.com"], "dkim_selector": "s1", "dkim_private_key": key_pem}
    )
    assert loc == ("identity", "dkim_private_key") and problem in message


def test_a_short_rsa_key_is_refused():
    with pytest.raises(ValueError, match="an RSA key of 512 bits; DKIM needs at least 1024"):
        parse_dkim_key(RSA_512_PEM)


@pytest.mark.parametrize(
    ("raw", "loc", "problem"),
    [
        ({"from_domains": []}, ("identity", "from_domains"), "at least 1"),
        (
            {"from_domains": ["example.com\r\nBcc: victim@example.org"]},
            ("identity", "from_domains", 0),
            "CR, LF or NUL",
        ),
        ({"from_domains": ["not a domain"]}, ("identity", "from_domains", 0), "whitespace"),
        ({"from_domains": ["localhost"]}, ("identity", "from_domains", 0), "domain name such as example.com"),
        (
            {"from_domains": ["a.example", "A.example"]},
            ("identity", "from_domains"),
            "a.example more than once",
        ),
        (
            {"from_domains": ["example.com"], "return_path_domain": "bounce.example.com\nX: y"},
            ("identity", "return_path_domain"),
            "CR, LF or NUL",
        ),
        (
            {"from_domains": ["example.com"], "dkim_selector": "s 1"},
            ("identity", "dkim_selector"),
            "whitespace",
        ),
        (
            {"from_domains": ["example.com"], "dkim_selector": "s1"},
            ("identity", "dkim_private_key"),
            "go together",
        ),
        (
            {"from_domains": ["example.com"], "dkim_private_key": pem(ed25519_key())},
            ("identity", "dkim_selector"),
            "go together",
        ),
        ({"from_domains": ["example.com"], "selector": "s1"}, ("identity", "selector"), "Extra inputs"),
    ],
)
def test_bad_identities_name_the_field_and_the_problem(raw, loc, problem):
    [(found_loc, message)] = errors(raw)
    assert found_loc == loc
    assert problem in message
