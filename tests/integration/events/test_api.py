"""The timelines API over the real event log: a tenant sees its own events only, pages are bounded."""

from uuid import uuid4

import pytest

from shared.contracts import MessageStatus, StatusBatch
from tests.integration.events.conftest import OPERATOR, tenant_headers
from tests.integration.events.support import campaign_started, one_message_life, status
from tests.support.waiting import eventually_async


@pytest.fixture(scope="module")
def owner():
    return uuid4(), uuid4()  # tenant, campaign


@pytest.fixture(scope="module")
async def logged_campaign(owner, status_publisher, events_db):
    """One message's whole life, 12 `sent` events of other recipients and a campaign event, logged;
    the message's id."""
    tenant, campaign = owner
    message_id, batches = one_message_life(tenant, campaign, "Ann@Example.com")
    others = [status(MessageStatus.SENT, tenant, campaign, recipient=f"r{i}@example.com") for i in range(12)]
    await status_publisher.publish([*batches, *StatusBatch.of(others), campaign_started(tenant, campaign)])

    async def all_logged() -> bool:
        count = await events_db.pool.fetchval(
            "SELECT count(*) FROM event_log WHERE campaign_id = $1", campaign
        )
        return count == 18

    await eventually_async(all_logged, timeout_seconds=15, interval_seconds=0.05, what="18 events logged")
    return message_id


async def test_a_message_timeline_tells_where_why_each_attempt_and_the_bounce(http, owner, logged_campaign):
    tenant, _ = owner
    answer = await http.get(f"/messages/{logged_campaign}/events", headers=tenant_headers(tenant))
    assert answer.status_code == 200, answer.text
    events = answer.json()["events"]
    assert [(e["type"], e["attempt"]) for e in events] == [
        ("routed", 1), ("deferred", 1), ("routed", 2), ("sent", 2), ("bounced", 2),
    ]  # fmt: skip
    assert events[0]["details"]["decision"]["excluded"][0]["reason"] == "paused by the operator"
    assert events[1]["details"]["reply_code"] == 451 and "retry_at" in events[1]["details"]
    assert events[4]["details"]["feedback_class"] == "hard"
    assert [e["occurred_at"] for e in events] == sorted(e["occurred_at"] for e in events)
    operator = await http.get(f"/messages/{logged_campaign}/events", headers=OPERATOR)
    assert operator.json() == answer.json()


async def test_a_recipients_timeline_within_its_campaign_in_any_case(http, owner, logged_campaign):
    tenant, campaign = owner
    answer = await http.get(
        f"/campaigns/{campaign}/events",
        params={"recipient": "ANN@example.COM"},
        headers=tenant_headers(tenant),
    )
    assert answer.status_code == 200, answer.text
    assert [e["type"] for e in answer.json()["events"]] == ["routed", "deferred", "routed", "sent", "bounced"]
    bounces = await http.get(
        f"/campaigns/{campaign}/events", params={"type": "bounced"}, headers=tenant_headers(tenant)
    )
    assert [e["message_id"] for e in bounces.json()["events"]] == [str(logged_campaign)]


async def test_a_campaigns_events_page_by_page_without_gap_or_repeat(http, owner, logged_campaign):
    tenant, campaign = owner
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 5} | ({"after": after} if after else {})
        answer = await http.get(
            f"/campaigns/{campaign}/events", params=params, headers=tenant_headers(tenant)
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["events"]) <= 5
        seen += page["events"]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert pages == 4 and len(seen) == 18
    assert len({e["event_id"] for e in seen}) == 18
    keys = [(e["occurred_at"], e["event_id"]) for e in seen]
    assert keys == sorted(keys)


async def test_another_tenants_message_and_campaign_are_not_found(http, owner, logged_campaign):
    _, campaign = owner
    intruder = tenant_headers(uuid4())
    assert (await http.get(f"/messages/{logged_campaign}/events", headers=intruder)).status_code == 404
    assert (await http.get(f"/campaigns/{campaign}/events", headers=intruder)).status_code == 404
    # Filters and cursors do not open another tenant's events either.
    answer = await http.get(
        f"/campaigns/{campaign}/events", params={"recipient": "ann@example.com"}, headers=intruder
    )
    assert answer.status_code == 404
    assert (await http.get(f"/messages/{uuid4()}/events", headers=OPERATOR)).status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "A" * 500}, "after"),
        ({"type": "delivered'; DROP TABLE event_log; --"}, "type"),
        ({"recipient": "x" * 400 + "@example.com"}, "recipient"),
    ],
)
async def test_hostile_queries_are_refused_naming_the_field(http, owner, params, field):
    tenant, campaign = owner
    answer = await http.get(f"/campaigns/{campaign}/events", params=params, headers=tenant_headers(tenant))
    assert answer.status_code == 422, answer.text
    assert field in answer.text


async def test_no_token_or_a_forged_one_is_refused(http, owner):
    _, campaign = owner
    assert (await http.get(f"/campaigns/{campaign}/events")).status_code == 401
    forged = {"Authorization": f"Bearer spt_{uuid4()}.abc.0.{'0' * 32}"}
    assert (await http.get(f"/campaigns/{campaign}/events", headers=forged)).status_code == 401
