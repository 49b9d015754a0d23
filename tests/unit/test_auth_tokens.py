"""Tenant tokens: what the signature covers, expiry from the payload, earlier tokens, the revoked set."""

import asyncio
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from shared.auth import (
    RevocationsNotLoaded,
    RevokedTokens,
    TokenRefused,
    authenticate,
    issue_tenant_token,
    read_tenant_token,
)
from shared.contracts import RevokedToken

SECRET = "unit-test-token-secret"
OPERATOR = "unit-test-operator-token"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def earlier_format_token(tenant_id) -> str:
    """A token as versions before token ids issued them: `spt_<tenant>.<random>.<signature>`."""
    payload = f"{tenant_id}.{secrets.token_urlsafe(12)}"
    signature = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return f"spt_{payload}.{signature}"


def test_a_token_carries_its_tenant_id_and_expiry_under_the_signature():
    tenant = uuid4()
    token = issue_tenant_token(SECRET, tenant, token_id="a" * 32, expires_at=NOW + timedelta(hours=1))

    read = read_tenant_token(token, SECRET)

    assert read is not None
    assert (read.tenant_id, read.token_id, read.expires_at) == (tenant, "a" * 32, NOW + timedelta(hours=1))
    prefix, tenant_part, token_id, expires, signature = token.replace("_", ".", 1).split(".")
    for forged in (
        f"spt_{uuid4()}.{token_id}.{expires}.{signature}",
        f"spt_{tenant_part}.{'b' * 32}.{expires}.{signature}",
        f"spt_{tenant_part}.{token_id}.0.{signature}",  # expiry removed
        f"spt_{tenant_part}.{token_id}.{int(expires) + 3600}.{signature}",  # expiry moved
        f"spt_{tenant_part}.{token_id}.{expires}",
        token + "0",
    ):
        assert read_tenant_token(forged, SECRET) is None, forged
    assert read_tenant_token(token, "another-secret") is None


def test_an_expired_token_is_refused_from_its_payload_alone():
    token = issue_tenant_token(SECRET, uuid4(), expires_at=NOW + timedelta(seconds=30))

    assert authenticate(token, secret=SECRET, operator_token=OPERATOR, now=NOW)[0].role == "tenant"
    with pytest.raises(TokenRefused, match="token expired"):
        authenticate(token, secret=SECRET, operator_token=OPERATOR, now=NOW + timedelta(seconds=30))


def test_tokens_of_the_earlier_format_still_work_and_their_id_is_their_random_part():
    tenant = uuid4()
    token = earlier_format_token(tenant)

    principal, read = authenticate(token, secret=SECRET, operator_token=OPERATOR, now=NOW)

    assert principal.tenant_id == tenant
    assert read is not None and read.expires_at is None
    assert principal.token_id == token.split(".")[1]
    # An earlier signature cannot be reused for a payload of the current format.
    tenant_part, random_part, signature = token.removeprefix("spt_").split(".")
    assert read_tenant_token(f"spt_{tenant_part}.{random_part}.0.{signature}", SECRET) is None


def test_garbage_and_oversized_tokens_are_refused():
    for garbage in ("", "spt_", "spt_x.y.z", "spt_" + "a." * 200, "operator", f"spt_{uuid4()}.abc.0000"):
        with pytest.raises(TokenRefused, match="invalid token"):
            authenticate(garbage, secret=SECRET, operator_token=OPERATOR, now=NOW)


async def test_revoked_tokens_are_refused_and_nothing_passes_before_the_list_is_loaded():
    revoked = RevokedTokens()
    token = read_tenant_token(issue_tenant_token(SECRET, uuid4()), SECRET)
    assert token is not None

    with pytest.raises(RevocationsNotLoaded):
        await revoked.check(token, wait_seconds=0.01)

    revoked.load([])
    await revoked.check(token, wait_seconds=0)
    revoked.add(RevokedToken(token_id=token.token_id, tenant_id=token.tenant_id, revoked_at=NOW))
    with pytest.raises(TokenRefused, match="token revoked"):
        await revoked.check(token, wait_seconds=0)


async def test_the_background_load_retries_until_the_catalog_answers():
    revoked = RevokedTokens()
    answers: list[object] = [
        TimeoutError(),
        [RevokedToken(token_id="x" * 32, tenant_id=uuid4(), revoked_at=NOW)],
    ]

    async def fetch() -> list[RevokedToken]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    revoked.start_loading(fetch)
    try:
        async with asyncio.timeout(5):
            await revoked.wait_loaded()
    finally:
        await revoked.stop()
    assert "x" * 32 in revoked
