"""Headroom per window: the server's own limits and today's warmup cap, told apart though they share
the day's count."""

from datetime import UTC, date, datetime
from uuid import uuid4

from services.router.domain.headroom import server_headroom
from shared.contracts import SendingLimits, ServerState, ServerView, WarmupSchedule

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def server(**fields) -> ServerView:
    return ServerView(id=uuid4(), name="s", type="smtp", vendor="smtp", state=ServerState.ACTIVE, **fields)


def test_each_limit_against_its_window_and_the_warmup_cap_against_the_day():
    warming = server(
        limits=SendingLimits(per_second=5, per_hour=1000, per_day=5000),
        warmup=WarmupSchedule(kind="table", start_date=date(2026, 3, 1), table=[100, 300, 900]),
    )
    assert server_headroom(warming, NOW, {"second": 2, "hour": 250, "day": 250}) == {
        "second": 3,
        "hour": 750,
        "day": 4750,
        "warmup": 50,  # day 2 of the table: 300 - 250
    }


def test_spent_limits_show_zero_not_less_and_absent_limits_are_left_out():
    capped = server(limits=SendingLimits(per_minute=10))
    assert server_headroom(capped, NOW, {"minute": 12}) == {"minute": 0}
    assert server_headroom(server(), NOW, {}) == {}


def test_a_warm_server_has_no_warmup_window():
    warm = server(warmup=WarmupSchedule(kind="table", start_date=date(2026, 1, 1), table=[100]))
    assert server_headroom(warm, NOW, {"day": 3}) == {}
