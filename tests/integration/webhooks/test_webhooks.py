"""The webhooks service against real PostgreSQL and RabbitMQ, delivering to a local https receiver."""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from standardwebhooks import Webhook

from shared.auth import issue_tenant_token
from shared.events import Event, EventBatch, EventType
from tests.integration.webhooks.conftest import REQUEST_TIMEOUT_SECONDS
from tests.support.waiting import eventually_async

BASE = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def events(tenant_id: UUID, campaign_id: UUID, count: int, *, start: int = 0) -> list[Event]:
    return [
        Event(
            event_id=uuid4(),
            type=EventType("sent"),
            occurred_at=BASE + timedelta(minutes=start + i),
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            message_id=uuid4(),
            recipient=f"r{start + i}@example.com",
            attempt=1,
            details={"reply_code": 250},
        )
        for i in range(count)
    ]


def event_ids_of(body: bytes) -> list[str]:
    document = json.loads(body)
    if document["type"] == "batch":
        return [event["event_id"] for event in document["data"]["events"]]
    return [document["data"]["event_id"]]


async def register(http, headers, url: str, **fields) -> dict:
    answer = await http.post("/webhooks/endpoints", json={"url": url, **fields}, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_an_endpoint_failing_three_times_then_recovering_gets_every_event_once_and_a_replay(
    http, tenant, receiver, publish
):
    tenant_id, headers = tenant
    path = f"/flaky-{uuid4().hex[:6]}"
    receiver.failures_first[path] = 3
    endpoint = await register(http, headers, receiver.url(path), event_types=["sent", "bounced"])
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    assert "secret" not in (await http.get(f"/webhooks/endpoints/{endpoint['id']}", headers=headers)).json()

    campaign = uuid4()
    first, rest = events(tenant_id, campaign, 1), events(tenant_id, campaign, 5, start=1)
    await publish(EventBatch.of(first)[0])
    await eventually_async(lambda: len(receiver.received(path)) >= 1, timeout_seconds=10, what="a first try")
    later = EventBatch.of(rest)[0]
    await publish(later)
    await publish(later)  # at least once: a copy queues nothing again
    # Another tenant's events, and a type the endpoint did not ask for, never reach it.
    await publish(EventBatch.of(events(uuid4(), campaign, 2))[0])
    skipped = events(tenant_id, campaign, 1, start=50)[0].model_copy(update={"type": EventType("routed")})
    await publish(EventBatch.of([skipped])[0])
    last = events(tenant_id, campaign, 1, start=60)
    await publish(EventBatch.of(last)[0])

    wanted = {str(event.event_id) for event in first + rest + last}

    def accepted_ids() -> list[str]:
        return [
            i for request in receiver.received(path, accepted_only=True) for i in event_ids_of(request.body)
        ]

    await eventually_async(
        lambda: set(accepted_ids()) >= wanted, timeout_seconds=20, what="every event accepted"
    )
    assert sorted(accepted_ids()) == sorted(wanted)  # each exactly once, nothing else
    tries = receiver.received(path)
    assert [r.status for r in tries[:4]] == [500, 500, 500, 200]
    for request in tries:
        Webhook(secret).verify(request.body, request.headers)  # raises unless the signature is valid
    single = json.loads(tries[0].body)
    assert single["type"] == "sent" and tries[0].headers["webhook-id"] == str(first[0].event_id)
    ids_by_content: dict[tuple[str, ...], set[str]] = {}
    for request in tries:
        ids_by_content.setdefault(tuple(event_ids_of(request.body)), set()).add(request.headers["webhook-id"])
    assert all(len(ids) == 1 for ids in ids_by_content.values())  # a retry of the same events: the same id
    assert any(json.loads(r.body)["type"] == "batch" for r in tries)  # fell behind: batched

    log = (await http.get(f"/webhooks/endpoints/{endpoint['id']}/deliveries", headers=headers)).json()
    oldest_first = list(reversed(log["items"]))
    assert [entry["status_code"] for entry in oldest_first[:4]] == [500, 500, 500, 200]
    assert all(entry["duration_ms"] >= 0 and entry["event_ids"] for entry in oldest_first)
    page = (
        await http.get(f"/webhooks/endpoints/{endpoint['id']}/deliveries?limit=2", headers=headers)
    ).json()
    assert len(page["items"]) == 2 and page["next"] == page["items"][-1]["id"]

    # Rotation: both secrets sign during the grace period.
    rotated = (await http.post(f"/webhooks/endpoints/{endpoint['id']}/rotate-secret", headers=headers)).json()
    assert rotated["secret"] != secret

    # A replay of a window re-sends exactly the events that occurred in it, with their ids.
    before = len(receiver.received(path))
    window = {
        "from": (BASE + timedelta(minutes=2)).isoformat(),
        "to": (BASE + timedelta(minutes=5)).isoformat(),
    }
    answer = await http.post(f"/webhooks/endpoints/{endpoint['id']}/replay", json=window, headers=headers)
    assert answer.status_code == 202 and answer.json() == {"queued": 3}
    replayed_ids = {str(event.event_id) for event in rest[1:4]}

    def replayed() -> list[str]:
        # `before` counts this path's requests (the receiver is shared by the package's tests).
        return [
            i
            for request in receiver.received(path)[before:]
            if request.status == 200
            for i in event_ids_of(request.body)
        ]

    await eventually_async(lambda: len(replayed()) >= 3, timeout_seconds=10, what="the replay")
    assert sorted(replayed()) == sorted(replayed_ids)
    for request in receiver.received(path)[before:]:
        Webhook(rotated["secret"]).verify(request.body, request.headers)
        Webhook(secret).verify(request.body, request.headers)


async def test_a_slow_tenant_does_not_delay_another_tenants_endpoint(
    http, tenant, receiver, publish, webhooks_env
):
    slow_tenant, slow_headers = tenant
    for n in range(3):
        path = f"/slow-{n}-{uuid4().hex[:6]}"
        receiver.delay_seconds[path] = REQUEST_TIMEOUT_SECONDS * 3
        await register(http, slow_headers, receiver.url(path))
    await publish(EventBatch.of(events(slow_tenant, uuid4(), 20))[0])
    await asyncio.sleep(0.3)  # the slow endpoints hold their slots now

    fast_tenant = uuid4()
    fast_headers = {
        "Authorization": f"Bearer {issue_tenant_token(webhooks_env['SENDPOOL_TOKEN_SECRET'], fast_tenant)}"
    }
    fast_path = f"/fast-{uuid4().hex[:6]}"
    await register(http, fast_headers, receiver.url(fast_path))
    latencies = []
    for n in range(5):
        published = time.monotonic()
        await publish(EventBatch.of(events(fast_tenant, uuid4(), 1, start=n))[0])
        await eventually_async(
            lambda n=n: len(receiver.received(fast_path)) > n,
            timeout_seconds=10,
            interval_seconds=0.02,
            what="fast",
        )
        latencies.append(receiver.received(fast_path)[n].at - published)
    assert max(latencies) < REQUEST_TIMEOUT_SECONDS, latencies


async def test_internal_urls_are_refused(http, tenant):
    _, headers = tenant
    for url, why in [
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://127.0.0.1/hook", "loopback"),  # the test allowance covers ports 1024-65535 only
        ("https://localhost/hook", "loopback"),  # a name resolving to an internal address
        ("https://10.0.0.7:8443/hook", "private"),
        ("http://example.com/hook", "https"),
        ("https://example.com/" + "a" * 3000, "longer"),
    ]:
        answer = await http.post("/webhooks/endpoints", json={"url": url}, headers=headers)
        assert answer.status_code == 422, (url, answer.text)
        assert "url" in answer.text and why in answer.text, (url, answer.text)


async def test_another_tenants_endpoint_is_not_found_and_limits_hold(http, tenant, receiver, webhooks_env):
    owner_id, owner = tenant
    endpoint = await register(http, owner, receiver.url("/owned"))
    intruder = {
        "Authorization": f"Bearer {issue_tenant_token(webhooks_env['SENDPOOL_TOKEN_SECRET'], uuid4())}"
    }
    base = f"/webhooks/endpoints/{endpoint['id']}"
    for method, path, body in [
        ("GET", base, None),
        ("PATCH", base, {"description": "mine now"}),
        ("DELETE", base, None),
        ("POST", f"{base}/rotate-secret", None),
        ("GET", f"{base}/deliveries", None),
        ("POST", f"{base}/replay", {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}),
    ]:
        answer = await http.request(method, path, json=body, headers=intruder)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await http.get("/webhooks/endpoints", headers=intruder)).json() == {"items": []}
    assert (await http.get(base, headers=owner)).json()["description"] == ""

    operator = {"Authorization": f"Bearer {webhooks_env['SENDPOOL_OPERATOR_TOKEN']}"}
    assert (await http.get("/webhooks/endpoints", headers=operator)).status_code == 403
    bad_type = await http.post(
        "/webhooks/endpoints", json={"url": receiver.url("/x"), "event_types": ["nope"]}, headers=owner
    )
    assert bad_type.status_code == 422 and "event_types" in bad_type.text
    for _ in range(4):
        await register(http, owner, receiver.url("/more"))
    sixth = await http.post("/webhooks/endpoints", json={"url": receiver.url("/more")}, headers=owner)
    assert sixth.status_code == 409 and "5 webhook endpoints" in sixth.text
    patched = await http.patch(base, json={"enabled": False, "event_types": ["bounced"]}, headers=owner)
    assert patched.json()["enabled"] is False and patched.json()["event_types"] == ["bounced"]
    assert (await http.delete(base, headers=owner)).status_code == 204
    assert (await http.get(base, headers=owner)).status_code == 404
    assert owner_id
