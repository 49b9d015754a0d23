"""What a delivery worker knows of paused and cancelled campaigns: the latest decision wins, a late
copy of an older one changes nothing, a cancellation is final, and the events heard while a router's
answer was on its way win over that answer."""

from datetime import timedelta
from uuid import uuid4

from services.delivery.app.campaign_holds import (
    CampaignHold,
    HeldCampaigns,
    NoRouterRunning,
    load_held_campaigns,
)
from shared.contracts import CampaignEvent, CampaignEventKind, CampaignHolds, utcnow

TENANT = uuid4()


def decided(kind: CampaignEventKind, campaign, seconds_ago: float = 0.0) -> CampaignEvent:
    return CampaignEvent(
        kind=kind,
        tenant_id=TENANT,
        campaign_id=campaign,
        occurred_at=utcnow() - timedelta(seconds=seconds_ago),
    )


def test_a_pause_holds_and_a_resume_lifts_it():
    held, campaign = HeldCampaigns(), uuid4()
    held.apply(decided(CampaignEventKind.PAUSED, campaign))
    assert held.hold_of(campaign) is CampaignHold.PAUSED
    held.apply(decided(CampaignEventKind.RESUMED, campaign))
    assert held.hold_of(campaign) is None


def test_a_late_copy_of_an_older_pause_does_not_pause_again():
    held, campaign = HeldCampaigns(), uuid4()
    held.apply(decided(CampaignEventKind.RESUMED, campaign))
    held.apply(decided(CampaignEventKind.PAUSED, campaign, seconds_ago=10))
    assert held.hold_of(campaign) is None


def test_a_cancellation_is_final():
    held, campaign = HeldCampaigns(), uuid4()
    held.apply(decided(CampaignEventKind.CANCELLED, campaign, seconds_ago=10))
    held.apply(decided(CampaignEventKind.RESUMED, campaign))
    held.apply(decided(CampaignEventKind.PAUSED, campaign))
    assert held.hold_of(campaign) is CampaignHold.CANCELLED


def test_other_campaign_events_change_nothing():
    held, campaign = HeldCampaigns(), uuid4()
    held.apply(decided(CampaignEventKind.STOPPED, campaign))
    held.apply(decided(CampaignEventKind.COMPLETED, campaign))
    assert held.hold_of(campaign) is None


def test_events_heard_while_loading_win_over_the_routers_answer():
    held = HeldCampaigns()
    resumed, paused, cancelled = uuid4(), uuid4(), uuid4()
    held.apply(decided(CampaignEventKind.RESUMED, resumed))  # heard after the router read its table
    held.load(CampaignHolds(paused=[resumed, paused], cancelled=[cancelled]))
    assert held.hold_of(resumed) is None
    assert held.hold_of(paused) is CampaignHold.PAUSED
    assert held.hold_of(cancelled) is CampaignHold.CANCELLED
    assert held.loaded


async def test_loading_gives_up_after_its_attempts_without_failing_the_worker():
    held, asked = HeldCampaigns(), []

    async def no_router() -> CampaignHolds:
        asked.append(1)
        raise TimeoutError

    assert not await load_held_campaigns(held, no_router, attempts=2, retry_seconds=0)
    assert len(asked) == 2 and not held.loaded


async def test_loading_does_not_wait_when_no_router_is_running():
    """A worker started while every router is down sends at once (and asks again later) instead of
    sitting idle through every attempt's timeout."""
    held, asked = HeldCampaigns(), []

    async def nobody_consumes() -> CampaignHolds:
        asked.append(1)
        raise NoRouterRunning("no router consumes router.campaign-holds")

    assert not await load_held_campaigns(held, nobody_consumes, attempts=3, retry_seconds=60)
    assert len(asked) == 1 and not held.loaded
