"""Campaign control against a real scheduler, PostgreSQL and RabbitMQ: scheduling for later (started
by the sweeper), pause and resume (expansion stops and continues from its cursor), cancel (every
message final), the From check with the catalog, listing, and hostile requests."""

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from shared.auth import issue_tenant_token
from shared.contracts import MessageStatus, StatusEvent, status_event_id
from tests.integration.scheduler.harness import CATALOGS, Bus, SchedulerApi


class Tenant(SchedulerApi):
    def __init__(self, http, env) -> None:
        self.id = uuid4()
        super().__init__(http, issue_tenant_token(env["SENDPOOL_TOKEN_SECRET"], self.id))

    async def draft(self, size: int, **content) -> str:
        recipient_list = await self.create_list()
        for start in range(0, size, 10_000):
            emails = (f"user{i}@example.com" for i in range(start, min(size, start + 10_000)))
            await self.add_recipients(recipient_list["id"], emails)
        return (await self.create_campaign(recipient_list["id"], **content))["id"]

    async def post(self, campaign_id: str, action: str, body=None):
        return await self.request("POST", f"/campaigns/{campaign_id}/{action}", body)


@pytest.fixture
def me(http, scheduler_env) -> Tenant:
    return Tenant(http, scheduler_env)


@pytest.fixture
def catalog(scheduler_env):
    return CATALOGS[scheduler_env["SENDPOOL_AMQP_URL"]]


async def test_a_scheduled_campaign_is_started_by_the_sweeper_at_its_time(me: Tenant, bus: Bus):
    campaign_id = await me.draft(3)
    send_at = datetime.now(UTC) + timedelta(seconds=2)
    async with bus.listen(f"{me.id}.{campaign_id}.*") as heard:
        response = await me.post(
            campaign_id, "launch", {"send_at": send_at.isoformat(), "time_zone": "Europe/Paris"}
        )
        assert response.status_code == 202, response.text
        assert response.json()["state"] == "scheduled"
        assert response.json()["run_id"] is None
        assert datetime.fromisoformat(response.json()["send_at"]) == send_at
        [scheduled] = await heard.at_least(1, "campaign_scheduled")
        assert datetime.fromisoformat(scheduled["send_at"]) == send_at

        report = await me.campaign(campaign_id)
        assert report["state"] == "scheduled" and report["total"] == 0
        # Not before its time: nothing published, and a second launch or a pause is refused meanwhile.
        assert (await me.post(campaign_id, "launch")).status_code == 409
        assert (await me.post(campaign_id, "pause")).status_code == 409

        requests = await bus.collect_send_requests(campaign_id, 3, timeout=15, linger=0.5)
        [started] = await heard.at_least(1, "campaign_started")
    assert len({request.message_id for request in requests}) == 3
    assert datetime.fromisoformat(started["occurred_at"]) >= send_at
    assert min(request.first_attempt_at for request in requests) >= send_at
    assert (await me.campaign(campaign_id))["state"] == "running"


async def test_launch_without_a_body_starts_at_once_and_says_so(me: Tenant, bus: Bus):
    campaign_id = await me.draft(2)
    async with bus.listen(f"{me.id}.{campaign_id}.campaign_started") as heard:
        launched = await me.launch(campaign_id)
        assert launched["state"] == "running" and launched["total"] == 2 and launched["run_id"]
        await heard.at_least(1)
    await bus.collect_send_requests(campaign_id, 2, linger=0)


async def test_pause_stops_expansion_and_resume_continues_from_the_cursor(me: Tenant, bus: Bus):
    size = 10_000
    campaign_id = await me.draft(size)
    async with bus.listen(f"{me.id}.{campaign_id}.*") as heard:
        await me.launch(campaign_id)
        await me.wait_for(campaign_id, lambda r: r["expanded"] > 0)  # mid-expansion
        paused = await me.post(campaign_id, "pause")
        assert paused.status_code == 202, paused.text
        assert paused.json()["state"] == "paused"
        await heard.at_least(1, "campaign_paused")

        # The batch in hand finishes, then nothing more: `expanded` stops where the messages stop.
        async def settled() -> int:
            first = (await me.campaign(campaign_id))["expanded"]
            await asyncio.sleep(1.0)
            second = (await me.campaign(campaign_id))["expanded"]
            assert first == second, "expansion went on after the pause"
            return second

        expanded_while_paused = await settled()
        assert 0 < expanded_while_paused < size, "the pause did not land mid-expansion"
        before = await bus.collect_send_requests(campaign_id, expanded_while_paused, timeout=20, linger=1.0)
        assert len(before) == expanded_while_paused
        assert (await me.post(campaign_id, "pause")).status_code == 409  # paused already

        resumed = await me.post(campaign_id, "resume")
        assert resumed.status_code == 202 and resumed.json()["state"] == "running"
        await heard.at_least(1, "campaign_resumed")
        after = await bus.collect_send_requests(campaign_id, size - len(before), timeout=60, linger=1.0)

    recipients = [request.recipient for request in before + after]
    assert len(recipients) == size, "a recipient was published twice"
    assert set(recipients) == {f"user{i}@example.com" for i in range(size)}, "a recipient was skipped"
    assert (await me.campaign(campaign_id))["expanded"] == size


async def test_cancel_makes_every_message_final_and_a_late_outcome_still_tells_the_truth(
    me: Tenant, bus: Bus
):
    size = 40
    campaign_id = await me.draft(size)
    await me.launch(campaign_id)
    requests = await bus.collect_send_requests(campaign_id, size, linger=0)
    await me.wait_for(campaign_id, lambda r: r["expanded"] == size)
    async with bus.listen(f"{me.id}.{campaign_id}.campaign_cancelled") as heard:
        response = await me.post(campaign_id, "cancel", {"reason": "wrong price in the subject"})
        assert response.status_code == 202, response.text
        assert response.json()["state"] == "cancelled"
        [cancelled] = await heard.at_least(1)
    assert cancelled["reason"] == "wrong price in the subject"
    report = await me.campaign(campaign_id)
    assert report["counts"] == {"cancelled": size}
    assert report["state"] == "cancelled"

    # One message was mid-send: its `sent` arrives after the cancel, and wins.
    first = requests[0]
    await bus.publish_statuses(
        [
            StatusEvent(
                event_id=status_event_id(first.message_id, MessageStatus.SENT, 1),
                status=MessageStatus.SENT,
                message_id=first.message_id,
                tenant_id=first.tenant_id,
                campaign_id=first.campaign_id,
                run_id=first.run_id,
                recipient=first.recipient,
                server_id=uuid4(),
            )
        ]
    )
    report = await me.wait_for(campaign_id, lambda r: r["counts"].get("sent") == 1)
    assert report["counts"] == {"sent": 1, "cancelled": size - 1}

    for action in ("resume", "pause", "launch", "cancel"):
        refused = await me.post(campaign_id, action)
        assert refused.status_code == 409, action
        assert "cancelled" in refused.json()["detail"]


async def test_cancel_while_paused_mid_expansion_counts_the_unpublished_as_cancelled(me: Tenant, bus: Bus):
    size = 10_000
    campaign_id = await me.draft(size)
    await me.launch(campaign_id)
    assert (await me.post(campaign_id, "pause")).status_code == 202
    await asyncio.sleep(0.5)
    assert (await me.post(campaign_id, "cancel")).status_code == 202
    report = await me.campaign(campaign_id)
    assert report["expanded"] < size
    assert report["counts"] == {"cancelled": size}, report["counts"]
    assert report["stop_reason"] == "cancelled by the tenant"
    published = report["expanded"]
    await asyncio.sleep(1.0)
    assert (await me.campaign(campaign_id))["expanded"] == published, "expansion went on after the cancel"


async def test_a_scheduled_campaign_can_be_cancelled_and_then_never_starts(me: Tenant, bus: Bus):
    campaign_id = await me.draft(2)
    send_at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    assert (await me.post(campaign_id, "launch", {"send_at": send_at})).status_code == 202
    assert (await me.post(campaign_id, "cancel")).status_code == 202
    await asyncio.sleep(2.0)
    report = await me.campaign(campaign_id)
    assert report["state"] == "cancelled" and report["total"] == 0


async def test_the_from_must_be_one_of_the_servers_identity_domains(me: Tenant, catalog):
    catalog.domains[me.id] = [["shop.example"], [], ["brand.example"]]
    wrong = await me.draft(1, from_address="news@evil.example")
    refused = await me.post(wrong, "launch")
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "content", "from_address"]
    assert "brand.example, shop.example" in error["msg"]
    assert (await me.campaign(wrong))["state"] == "draft"
    # The same at scheduling.
    later = {"send_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    assert (await me.post(wrong, "launch", later)).status_code == 422

    right = await me.draft(1, from_address="news@mail.shop.example")
    assert (await me.post(right, "launch")).status_code == 202
    asked = [request for request in catalog.asked if request.tenant_id == me.id]
    assert {str(request.campaign_id) for request in asked} == {wrong, right}


async def test_no_answer_from_the_catalog_is_a_503_and_changes_nothing(me: Tenant, catalog):
    catalog.silent.add(me.id)
    campaign_id = await me.draft(1)
    refused = await me.post(campaign_id, "launch")
    assert refused.status_code == 503, refused.text
    assert "catalog" in refused.json()["detail"]
    assert (await me.campaign(campaign_id))["state"] == "draft"
    catalog.silent.discard(me.id)
    assert (await me.post(campaign_id, "launch")).status_code == 202


async def test_the_tenants_campaigns_are_listed_newest_first_a_page_at_a_time(
    me: Tenant, other_tenant: SchedulerApi
):
    ids = [await me.draft(1) for _ in range(5)]
    await me.launch(ids[1])
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        path = "/campaigns?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await me.request("GET", path)).json()
        seen += [campaign["id"] for campaign in page["campaigns"]]
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids)) and cursor is None
    running = (await me.request("GET", "/campaigns?state=running")).json()
    assert [campaign["id"] for campaign in running["campaigns"]] == [ids[1]]
    assert (await other_tenant.request("GET", "/campaigns")).json()["campaigns"] == []


@pytest.mark.parametrize(
    "query", ["limit=501", "limit=0", "state=exploded", "cursor=not-a-cursor", "cursor=" + "A" * 300]
)
async def test_a_bad_listing_query_is_refused_naming_it(me: Tenant, query):
    response = await me.request("GET", f"/campaigns?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == query.split("=")[0]


async def test_another_tenants_campaign_cannot_be_controlled(me: Tenant, other_tenant: SchedulerApi, catalog):
    campaign_id = await me.draft(1)
    for action in ("launch", "pause", "resume", "cancel"):
        response = await other_tenant.request("POST", f"/campaigns/{campaign_id}/{action}")
        assert response.status_code == 404, (action, response.text)
    assert not [request for request in catalog.asked if str(request.campaign_id) == campaign_id]
    assert (await me.campaign(campaign_id))["state"] == "draft"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"send_at": "2030-05-01T09:00:00", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"send_at": "2030-05-01T09:00:00", "time_zone": "../../../etc/passwd"}, "time_zone"),
        ({"send_at": "2030-05-01T09:00:00", "time_zone": "x" * 10_000}, "time_zone"),
        ({"send_at": "2030-05-01T09:00:00"}, "send_at"),
        ({"send_at": "9999-12-31T23:59:59Z"}, "send_at"),
        ({"send_at": "2001-01-01T00:00:00Z"}, "send_at"),
        ({"send_at": "not a time"}, "send_at"),
        ({"send_at": datetime.now(UTC).isoformat(), "surprise": 1}, "surprise"),
    ],
)
async def test_an_absurd_schedule_is_refused_naming_the_field(me: Tenant, body, field):
    campaign_id = await me.draft(1)
    response = await me.post(campaign_id, "launch", body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"]
    assert (await me.campaign(campaign_id))["state"] == "draft"


def _next_spring_forward(zone: str = "Europe/Paris") -> datetime:
    """02:30 local on the next day (within a year) whose clocks skip from 02:00 to 03:00."""
    tz = ZoneInfo(zone)
    day = datetime.now(UTC).date()
    for _ in range(366):
        day += timedelta(days=1)
        before = datetime(day.year, day.month, day.day, 1, 0, tzinfo=tz).utcoffset()
        after = datetime(day.year, day.month, day.day, 4, 0, tzinfo=tz).utcoffset()
        if before is not None and after is not None and after > before:
            return datetime(day.year, day.month, day.day, 2, 30)
    raise AssertionError("no daylight-saving change within a year")


async def test_a_local_time_the_clocks_skip_is_refused_through_the_api(me: Tenant):
    campaign_id = await me.draft(1)
    gap = _next_spring_forward()
    response = await me.post(campaign_id, "launch", {"send_at": gap.isoformat(), "time_zone": "Europe/Paris"})
    assert response.status_code == 422, response.text
    assert "does not exist in Europe/Paris" in response.json()["detail"][0]["msg"]
