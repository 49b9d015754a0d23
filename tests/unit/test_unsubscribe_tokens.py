"""One-click unsubscribe tokens (`shared.unsubscribe`): round trip, tampering, forgery, rotation."""

import base64
from uuid import uuid4

import pytest

from shared.unsubscribe import UnsubscribeClaim, unsubscribe_token, unsubscribe_url, verify_unsubscribe_token

CURRENT, PREVIOUS = "current-unsubscribe-secret", "previous-unsubscribe-secret"


def claim(recipient: str = "ada@inbox.example") -> UnsubscribeClaim:
    return UnsubscribeClaim(uuid4(), uuid4(), uuid4(), recipient)


@pytest.mark.parametrize(
    "recipient", ["ada@inbox.example", "jörg@bücher.example", "a" * 64 + "@" + "b" * 189]
)
def test_a_token_round_trips_and_is_url_safe(recipient):
    original = claim(recipient)
    token = unsubscribe_token(original, CURRENT)
    assert all(ch.isalnum() or ch in "-_" for ch in token)
    assert verify_unsubscribe_token(token, [CURRENT]) == original


def test_the_url_is_the_base_and_the_token():
    original = claim()
    url = unsubscribe_url("https://u.example/", original, CURRENT)
    assert url == f"https://u.example/unsubscribe/{unsubscribe_token(original, CURRENT)}"


def test_every_tampered_byte_is_refused():
    raw = bytearray(base64.urlsafe_b64decode(unsubscribe_token(claim(), CURRENT) + "=="))
    for index in range(len(raw)):
        tampered = bytearray(raw)
        tampered[index] ^= 0x01
        token = base64.urlsafe_b64encode(bytes(tampered)).rstrip(b"=").decode()
        assert verify_unsubscribe_token(token, [CURRENT]) is None, index


def test_another_recipient_or_tenant_cannot_be_swapped_in():
    token = unsubscribe_token(claim("ada@inbox.example"), CURRENT)
    raw = base64.urlsafe_b64decode(token + "==")
    swapped = base64.urlsafe_b64encode(raw.replace(b"ada@inbox", b"bob@inbox")).rstrip(b"=").decode()
    assert verify_unsubscribe_token(swapped, [CURRENT]) is None


@pytest.mark.parametrize("garbage", ["", "x", "!!!!", "a" * 5000, "é" * 10, "AAAA" * 30])
def test_garbage_is_refused_without_raising(garbage):
    assert verify_unsubscribe_token(garbage, [CURRENT]) is None


def test_a_token_signed_with_another_secret_is_refused():
    assert verify_unsubscribe_token(unsubscribe_token(claim(), "someone-elses-secret"), [CURRENT]) is None


def test_rotation_previous_secrets_still_verify_until_dropped():
    old = claim()
    token = unsubscribe_token(old, PREVIOUS)
    assert verify_unsubscribe_token(token, [CURRENT, PREVIOUS]) == old
    assert verify_unsubscribe_token(token, [CURRENT]) is None
    assert verify_unsubscribe_token(unsubscribe_token(old, CURRENT), [CURRENT, PREVIOUS]) == old
