"""Server protection's pure part: counters into rates, rates against a server's limits, and the reason."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.bounces.domain.outcomes import hour_of, outcome_status, tally
from services.bounces.domain.reputation import ServerWindow, WindowCounts, judge, measure, percent
from shared.contracts import BounceHandling, FeedbackClass, MessageStatus, StatusEvent

LIMITS = BounceHandling(max_bounce_rate=0.05, max_complaint_rate=0.001, min_volume=200)
SPAN = "the last 24 h"
AT = datetime(2026, 12, 6, 7, 15, tzinfo=UTC)


def test_below_min_volume_nothing_pauses_however_bad_the_rates():
    assert judge(WindowCounts(sent=199, bounced=199, complained=199), LIMITS, SPAN) is None


def test_a_rate_exactly_at_its_limit_is_within_it():
    assert judge(WindowCounts(sent=200, bounced=10, complained=0), LIMITS, SPAN) is None
    # Limits that are no exact binary fraction: 29 of 100 is 0.29, not above 0.29.
    assert (
        judge(WindowCounts(sent=100, bounced=29), BounceHandling(max_bounce_rate=0.29, min_volume=1), SPAN)
        is None
    )


def test_over_the_bounce_limit_pauses_with_a_reason_a_person_can_act_on():
    verdict = judge(WindowCounts(sent=500, bounced=36, complained=0), LIMITS, SPAN)

    assert verdict is not None
    assert verdict.reason == (
        "bounce rate 7.2 % over the last 24 h (36 of 500 sent) is above this server's 5 % limit"
    )


def test_one_bounce_past_the_limit_is_enough():
    assert judge(WindowCounts(sent=200, bounced=11), LIMITS, SPAN) is not None


def test_over_the_complaint_limit_pauses_and_says_so():
    verdict = judge(WindowCounts(sent=2000, bounced=0, complained=3), LIMITS, SPAN)

    assert verdict is not None
    assert verdict.reason == (
        "complaint rate 0.15 % over the last 24 h (3 of 2000 sent) is above this server's 0.1 % limit"
    )


def test_both_limits_crossed_name_both():
    verdict = judge(WindowCounts(sent=1000, bounced=80, complained=5), LIMITS, SPAN)

    assert verdict is not None
    assert verdict.reason.startswith("bounce rate 8 % ")
    assert "; complaint rate 0.5 % over the last 24 h (5 of 1000 sent)" in verdict.reason


def test_none_limits_never_pause():
    never = BounceHandling(max_bounce_rate=None, max_complaint_rate=None, min_volume=1)
    assert judge(WindowCounts(sent=10, bounced=10, complained=10), never, SPAN) is None
    bounces_only = BounceHandling(max_bounce_rate=0.05, max_complaint_rate=None, min_volume=1)
    verdict = judge(WindowCounts(sent=10, bounced=0, complained=10), bounces_only, SPAN)
    assert verdict is None


def test_the_reason_fits_a_pause_request():
    from shared.contracts import PauseServerRequest

    verdict = judge(WindowCounts(sent=10**12, bounced=10**12, complained=10**12), LIMITS, SPAN)
    assert verdict is not None
    PauseServerRequest(server_id=uuid4(), reason=verdict.reason)  # at most 500 characters, no CR/LF


def test_only_hard_bounces_and_unclassified_ones_count_towards_the_bounce_rate():
    counts = WindowCounts.of(
        {
            "sent": 1000,
            "bounced:hard": 30,
            "bounced": 5,  # published before bounces had a class
            "bounced:soft": 400,
            "complained": 2,
            "deferred": 90,
            "failed": 12,
        }
    )
    assert counts == WindowCounts(sent=1000, bounced=35, complained=2)


def test_counters_taken_back_below_zero_count_as_none():
    assert WindowCounts.of({"sent": -3, "bounced:hard": -1, "complained": -2}) == WindowCounts()


def test_rates_are_none_before_anything_was_sent():
    reputation = measure(WindowCounts(), 24, AT)
    assert (reputation.bounce_rate, reputation.complaint_rate, reputation.sent) == (None, None, 0)

    reputation = measure(WindowCounts(sent=400, bounced=20, complained=1), 24, AT)
    assert (reputation.bounce_rate, reputation.complaint_rate) == (0.05, 0.0025)
    assert (reputation.window_hours, reputation.measured_at) == (24, AT)


def test_after_its_pause_a_server_is_judged_on_the_hours_since():
    window = ServerWindow(
        whole=WindowCounts(sent=1000, bounced=100),
        since_pause=WindowCounts(sent=50, bounced=40),
        paused_at=datetime(2026, 12, 6, 3, 20, tzinfo=UTC),
    )
    counts, span = window.judged(24)
    assert counts == WindowCounts(sent=50, bounced=40)
    assert judge(counts, LIMITS, span) is None, "fewer than min_volume sent since the pause"

    counts = WindowCounts(sent=300, bounced=40)
    verdict = judge(counts, LIMITS, span)
    assert verdict is not None
    assert "bounce rate 13.3 % over the hours since its last pause (2026-12-06 03:20 UTC)" in verdict.reason

    never_paused = ServerWindow(whole=WindowCounts(sent=5), since_pause=WindowCounts(sent=5))
    assert never_paused.judged(24) == (WindowCounts(sent=5), "the last 24 h")


@pytest.mark.parametrize(
    ("rate", "shown"),
    [(0.072, "7.2"), (0.05, "5"), (0.001, "0.1"), (1 / 3, "33.3"), (0.0025, "0.25"), (1.0, "100")],
)
def test_percentages_read_as_a_person_writes_them(rate, shown):
    assert percent(rate) == shown


def status(status: MessageStatus, occurred_at: datetime, feedback_class: FeedbackClass | None = None, **kw):
    return StatusEvent(
        status=status,
        message_id=uuid4(),
        tenant_id=uuid4(),
        campaign_id=uuid4(),
        run_id=uuid4(),
        recipient="someone@example.com",
        feedback_class=feedback_class,
        occurred_at=occurred_at,
        **kw,
    )


def test_events_are_counted_per_server_hour_and_bounce_class():
    server = uuid4()
    at = datetime(2026, 12, 6, 7, 59, 59, tzinfo=UTC)
    events = [
        status(MessageStatus.SENT, at, server_id=server),
        status(MessageStatus.SENT, at.replace(minute=0, second=0), server_id=server),
        status(MessageStatus.SENT, datetime(2026, 12, 6, 8, 0, tzinfo=UTC), server_id=server),
        status(MessageStatus.BOUNCED, at, FeedbackClass.HARD, server_id=server),
        status(MessageStatus.BOUNCED, at, FeedbackClass.SOFT, server_id=server),
        status(MessageStatus.COMPLAINED, at, FeedbackClass.COMPLAINT, server_id=server),
        status(MessageStatus.ROUTED, at, server_id=server),  # not counted
        status(MessageStatus.SENT, at),  # no server
    ]
    hour = datetime(2026, 12, 6, 7, tzinfo=UTC)
    assert tally(events) == {
        (server, hour, "sent"): 2,
        (server, datetime(2026, 12, 6, 8, tzinfo=UTC), "sent"): 1,
        (server, hour, "bounced:hard"): 1,
        (server, hour, "bounced:soft"): 1,
        (server, hour, "complained"): 1,
    }
    assert outcome_status(MessageStatus.BOUNCED) == "bounced"


def test_an_hour_is_taken_in_utc_whatever_the_event_s_zone():
    from datetime import timedelta, timezone

    paris = timezone(timedelta(hours=1))
    assert hour_of(datetime(2026, 12, 6, 0, 30, tzinfo=paris)) == datetime(2026, 12, 5, 23, tzinfo=UTC)
    assert hour_of(datetime(2026, 12, 6, 0, 30)) == datetime(2026, 12, 6, 0, tzinfo=UTC)  # naive: UTC
