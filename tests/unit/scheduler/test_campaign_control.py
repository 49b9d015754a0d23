"""Campaign control's rules: which transitions are allowed, when a scheduled campaign starts (time
zones, daylight-saving gaps and folds, absurd times), the From check, and `cancelled` as a final state."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.scheduler.domain.campaign import (
    Campaign,
    CampaignState,
    InvalidTransition,
    Run,
    RunState,
    counts_with_unpublished,
)
from services.scheduler.domain.paging import decode_cursor, encode_cursor
from services.scheduler.domain.schedule import start_time
from services.scheduler.domain.senders import check_from_address
from services.scheduler.domain.status import Progress, advances
from shared.contracts import MessageContent
from shared.errors import InvalidInput

CONTENT = MessageContent(from_address="news@shop.example", subject="Spring sale")
NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


def _campaign(state: CampaignState) -> Campaign:
    return Campaign(uuid4(), uuid4(), "sale", uuid4(), CONTENT, state, None, NOW, NOW)


ALLOWED = {
    "launch": {CampaignState.DRAFT},
    "pause": {CampaignState.RUNNING},
    "resume": {CampaignState.PAUSED, CampaignState.STOPPED},
    "cancel": {CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.STOPPED},
}


@pytest.mark.parametrize("action", sorted(ALLOWED))
@pytest.mark.parametrize("state", list(CampaignState))
def test_each_action_is_allowed_from_its_states_only_and_a_refusal_names_the_state(action, state):
    check = getattr(_campaign(state), f"check_can_{action}")
    if state in ALLOWED[action]:
        check()
    else:
        with pytest.raises(InvalidTransition, match=f"is {state.value}; only a .* campaign can be"):
            check()


def test_a_cancelled_campaign_is_final():
    cancelled = _campaign(CampaignState.CANCELLED)
    for action in ALLOWED:
        with pytest.raises(InvalidTransition):
            getattr(cancelled, f"check_can_{action}")()


# --------------------------------------------------------------------------- start times


def test_a_send_at_with_an_offset_is_that_instant_and_the_zone_only_recorded():
    start = start_time(datetime(2030, 5, 1, 9, 0, tzinfo=UTC), "Asia/Tokyo", now=NOW)
    assert start.send_at == datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
    assert start.time_zone == "Asia/Tokyo"


def test_a_local_send_at_is_read_in_its_time_zone():
    # Paris is UTC+2 in May (summer time), UTC+1 in January.
    summer = start_time(datetime(2030, 5, 1, 9, 0), "Europe/Paris", now=NOW)
    assert summer.send_at == datetime(2030, 5, 1, 7, 0, tzinfo=UTC)
    winter = start_time(datetime(2031, 1, 15, 9, 0), "Europe/Paris", now=NOW)
    assert winter.send_at == datetime(2031, 1, 15, 8, 0, tzinfo=UTC)


def test_a_local_time_the_clocks_skip_is_refused():
    # 2030-03-31 02:00 → 03:00 in Paris: 02:30 never happens.
    with pytest.raises(InvalidInput, match="does not exist in Europe/Paris") as refused:
        start_time(datetime(2030, 3, 31, 2, 30), "Europe/Paris", now=NOW)
    assert refused.value.errors[0].loc == ("send_at",)


def test_a_local_time_that_happens_twice_is_refused_with_both_readings():
    # 2030-10-27 03:00 → 02:00 in Paris: 02:30 happens at +02:00 and again at +01:00.
    with pytest.raises(InvalidInput, match="ambiguous in Europe/Paris") as refused:
        start_time(datetime(2030, 10, 27, 2, 30), "Europe/Paris", now=NOW)
    assert "+02:00" in str(refused.value) and "+01:00" in str(refused.value)


def test_the_same_local_time_with_an_offset_is_accepted_in_a_fold():
    start = start_time(
        datetime(2030, 10, 27, 2, 30, tzinfo=datetime.fromisoformat("2030-10-27T02:30+01:00").tzinfo),
        "Europe/Paris",
        now=NOW,
    )
    assert start.send_at == datetime(2030, 10, 27, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "../../etc/passwd", "", " Europe/Paris", "Europe/" + "x" * 200, "Europe"]
)
def test_an_unknown_time_zone_is_refused_naming_time_zone(zone):
    with pytest.raises(InvalidInput) as refused:
        start_time(datetime(2030, 5, 1, 9, 0), zone, now=NOW)
    assert refused.value.errors[0].loc == ("time_zone",)


def test_a_local_time_without_a_zone_is_refused():
    with pytest.raises(InvalidInput, match="offset") as refused:
        start_time(datetime(2030, 5, 1, 9, 0), None, now=NOW)
    assert refused.value.errors[0].loc == ("send_at",)


def test_the_past_and_the_far_future_are_refused_but_a_slow_clock_is_forgiven():
    start_time(NOW - timedelta(seconds=50), "UTC", now=NOW)  # within a minute: it starts at once
    with pytest.raises(InvalidInput, match="in the past"):
        start_time(NOW - timedelta(minutes=2), "UTC", now=NOW)
    start_time(NOW + timedelta(days=364), "UTC", now=NOW)
    with pytest.raises(InvalidInput, match="days ahead"):
        start_time(NOW + timedelta(days=366), "UTC", now=NOW)
    with pytest.raises(InvalidInput, match="days ahead"):
        start_time(datetime(9999, 12, 31, tzinfo=UTC), None, now=NOW)


# --------------------------------------------------------------------------- the From check


def test_a_from_in_a_declared_domain_or_its_subdomain_passes():
    check_from_address("news@shop.example", ["shop.example", "other.example"])
    check_from_address("news@Mail.Shop.Example", ["shop.example"])


@pytest.mark.parametrize(
    "address", ["news@evil.example", "news@notshop.example", "news@shop.example.evil", "news@example"]
)
def test_a_from_outside_the_declared_domains_is_refused_naming_the_field_and_the_allowed(address):
    with pytest.raises(InvalidInput) as refused:
        check_from_address(address, ["shop.example", "", "other.example"])
    error = refused.value.errors[0]
    assert error.loc == ("content", "from_address")
    assert "other.example, shop.example" in error.message


def test_servers_that_declare_no_domain_hold_the_from_to_nothing():
    check_from_address("news@anything.example", [])


# --------------------------------------------------------------------------- cancelled messages


def test_cancelled_is_final_but_a_servers_outcome_after_it_tells_the_truth():
    cancelled = Progress("cancelled")
    assert cancelled.is_final
    for outcome in ("sent", "failed", "unknown"):
        assert advances(cancelled, Progress(outcome, attempt=2))
    for late in ("routed", "deferred", "held", "waiting", "queued", "suppressed", "cancelled"):
        assert not advances(cancelled, Progress(late, attempt=3))
    # ... and a real outcome is never replaced by `cancelled`.
    assert not advances(Progress("sent"), cancelled)
    assert advances(Progress("routed"), cancelled)


def test_a_cancelled_runs_unpublished_recipients_are_counted_cancelled():
    run = Run(uuid4(), uuid4(), RunState.COMPLETED, 100, 40, 40, 100, NOW, NOW)
    counts = {"sent": 30, "cancelled": 10}
    assert counts_with_unpublished(counts, _campaign(CampaignState.CANCELLED), run) == {
        "sent": 30,
        "cancelled": 70,
    }
    assert counts_with_unpublished(counts, _campaign(CampaignState.PAUSED), run) == counts


def test_a_page_cursor_round_trips_and_a_forged_one_is_refused():
    campaign_id = uuid4()
    assert decode_cursor(encode_cursor(NOW, campaign_id)) == (NOW, campaign_id)
    for forged in ["not base64!", "bm90IGEgY3Vyc29y", "x" * 500, encode_cursor(NOW, campaign_id)[:-3]]:
        with pytest.raises(InvalidInput) as refused:
            decode_cursor(forged)
        assert refused.value.errors[0].loc == ("cursor",)
