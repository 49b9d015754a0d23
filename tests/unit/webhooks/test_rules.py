"""Payloads, signatures, backoff, the batching rule and endpoint URLs of the webhooks service."""

import json
import random
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.webhooks.adapters.destinations import EgressDestinationCheck
from services.webhooks.domain.endpoints import UrlRefused, destination_of, new_secret
from services.webhooks.domain.payloads import BATCH_TYPE, StoredEvent, batch_size, payload_of
from services.webhooks.domain.retry import retry_delay, should_disable
from services.webhooks.domain.signing import signed_headers
from shared.egress import EgressPolicy

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def stored(n: int = 1) -> list[StoredEvent]:
    return [
        StoredEvent(uuid4(), "sent", NOW + timedelta(seconds=i), {"event_id": f"e{i}", "type": "sent"})
        for i in range(n)
    ]


def test_a_single_event_is_its_own_request_with_the_event_id_as_webhook_id():
    [event] = stored(1)
    payload = payload_of(uuid4(), [event])
    assert payload.webhook_id == str(event.event_id)
    assert json.loads(payload.body) == {
        "type": "sent",
        "timestamp": "2026-12-06T12:00:00Z",
        "data": event.body,
    }


def test_a_batch_holds_every_event_in_order_under_a_deterministic_id():
    endpoint, events = uuid4(), stored(3)
    payload = payload_of(endpoint, events)
    document = json.loads(payload.body)
    assert document["type"] == BATCH_TYPE
    assert document["data"]["events"] == [event.body for event in events]
    assert document["timestamp"] == "2026-12-06T12:00:02Z"
    assert payload.webhook_id.startswith("batch_")
    assert payload_of(endpoint, events).webhook_id == payload.webhook_id
    assert payload_of(uuid4(), events).webhook_id != payload.webhook_id
    assert payload_of(endpoint, events[:2]).webhook_id != payload.webhook_id


@pytest.mark.parametrize(("due", "expected"), [(0, 0), (1, 1), (2, 2), (100, 100), (101, 100), (5000, 100)])
def test_one_event_per_request_until_the_endpoint_falls_behind(due, expected):
    assert batch_size(due, 100) == expected


def test_the_signature_verifies_with_the_secret_and_with_either_during_a_rotation():
    new, old = new_secret(), new_secret()
    assert new.startswith("whsec_") and new != old
    payload = payload_of(uuid4(), stored(2))
    headers = signed_headers(payload.webhook_id, datetime.now(UTC), payload.body, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        assert Webhook(secret).verify(payload.body, headers)["type"] == "batch"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(payload.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(payload.body + b" ", headers)


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter():
    rand = random.Random(7)
    for failures in range(1, 20):
        ceiling = min(3600.0, 5.0 * 2 ** (failures - 1))
        delays = [retry_delay(failures, base_seconds=5, max_seconds=3600, rand=rand) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered
    assert retry_delay(0, base_seconds=5, max_seconds=3600) == 0
    assert retry_delay(10_000, base_seconds=5, max_seconds=3600) <= 3600


def test_an_endpoint_is_disabled_only_after_the_whole_failure_period():
    period = timedelta(days=3)
    assert not should_disable(None, NOW, period)
    assert not should_disable(NOW - timedelta(days=2, hours=23), NOW, period)
    assert should_disable(NOW - period, NOW, period)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "https"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https:///hook", "no host"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/" + "a" * 3000, "longer"),
        ("https://example.com:99999/", "not a URL"),
    ],
)
def test_url_forms_refused(url, why):
    with pytest.raises(UrlRefused, match=why):
        destination_of(url, max_length=2048, allow_http=False)


def test_http_only_where_the_operator_allowed_it():
    assert destination_of("http://example.com/x", max_length=2048, allow_http=True).port == 80
    assert destination_of("https://example.com:8443/x", max_length=2048, allow_http=False).port == 8443


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("169.254.169.254", "169.254.169.254"),
        ("127.0.0.1", "127.0.0.1"),
        ("internal.example", "10.1.2.3"),  # a name that resolves to a private address
        ("rebind.example", "::ffff:192.168.0.1"),
    ],
)
async def test_internal_destinations_are_refused(host, address):
    async def resolve(name: str, port: int) -> list[str]:
        return [address]

    check = EgressDestinationCheck(EgressPolicy((), resolve))
    refusal = await check.refusal(host, 443)
    assert refusal is not None and "internal addresses" in refusal


async def test_a_public_destination_is_accepted():
    async def resolve(name: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    assert await EgressDestinationCheck(EgressPolicy((), resolve)).refusal("example.com", 443) is None


async def test_a_request_is_refused_when_the_name_resolves_to_an_internal_address_at_delivery_time():
    from services.webhooks.adapters.http_client import HttpWebhookClient

    answers = {"hooks.example": "10.0.0.9"}  # public at registration, rebound to a private address since

    async def resolve(name: str, port: int) -> list[str]:
        return [answers[name]]

    client = HttpWebhookClient(
        EgressPolicy((), resolve),
        tls_ca_file=None,
        timeout_seconds=2,
        response_max_bytes=10,
        max_connections=2,
    )
    try:
        response = await client.post("https://hooks.example/in", b"{}", {"webhook-id": "x"})
    finally:
        await client.close()
    assert response.status_code is None
    assert response.error is not None and "egress policy" in response.error and "10.0.0.9" in response.error
