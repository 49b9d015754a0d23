"""What a set of servers adds up to: counts, vendor mix, hourly throughput and warmup progress."""

from datetime import date, timedelta
from uuid import uuid4

import pytest

from services.catalog.domain.summary import (
    StateCounts,
    Throughput,
    WarmupProgress,
    hourly_capacity,
    summarise,
    warmup_progress,
)
from shared.contracts import SendingLimits, ServerState, ServerView, WarmupSchedule

TODAY = date(2026, 3, 10)


def server(vendor="smtp", state=ServerState.ACTIVE, warmup=None, **limits) -> ServerView:
    return ServerView(
        id=uuid4(), name=f"{vendor}-server", type=vendor, vendor=vendor, state=state,
        limits=SendingLimits(**limits), warmup=warmup,
    )  # fmt: skip


def ramp(start: date, **fields) -> WarmupSchedule:
    fields = {"kind": "linear", "start_volume": 100, "target_volume": 1000, "days": 10} | fields
    return WarmupSchedule(start_date=start, **fields)


@pytest.mark.parametrize(
    ("limits", "capacity"),
    [
        ({}, None),
        ({"per_hour": 5000}, 5000),
        ({"per_minute": 50}, 3000),
        ({"per_second": 2}, 7200),
        ({"per_second": 2, "per_minute": 100, "per_hour": 9000}, 6000),
        ({"per_hour": 9000, "per_day": 4000}, 4000),  # the whole day's allowance could go out in one hour
    ],
)
def test_hourly_capacity_is_the_tightest_limit(limits, capacity):
    assert hourly_capacity(SendingLimits(**limits), None, TODAY) == capacity


def test_todays_warmup_cap_bounds_the_hour_too():
    warming = ramp(TODAY, start_volume=300)
    assert hourly_capacity(SendingLimits(per_hour=1000), warming, TODAY) == 300
    assert hourly_capacity(SendingLimits(), warming, TODAY) == 300
    assert hourly_capacity(SendingLimits(per_hour=1000), ramp(TODAY - timedelta(days=30)), TODAY) == 1000


def test_warmup_progress_is_day_n_of_m_with_todays_cap():
    warming = warmup_progress(server(warmup=ramp(TODAY - timedelta(days=2))), TODAY)
    assert (warming.phase, warming.day, warming.days, warming.todays_cap) == ("warming", 3, 10, 300)

    table = warmup_progress(server(warmup=ramp(TODAY, kind="table", table=[50, 80, 120])), TODAY)
    assert (table.phase, table.day, table.days, table.todays_cap) == ("warming", 1, 3, 50)

    warm = warmup_progress(server(warmup=ramp(TODAY - timedelta(days=10))), TODAY)
    assert (warm.phase, warm.day, warm.days, warm.todays_cap) == ("warm", 10, 10, None)

    # Before the start the router already holds the server to the first day's cap.
    early = warmup_progress(server(warmup=ramp(TODAY + timedelta(days=5))), TODAY)
    assert (early.phase, early.day, early.todays_cap) == ("not_started", 0, 100)

    assert warmup_progress(server(), TODAY) is None


def test_summary_counts_states_and_vendors_and_sums_active_throughput():
    warming = server("ses", warmup=ramp(TODAY), per_hour=5000)
    servers = [
        server("smtp", per_minute=100),  # 6000 an hour
        server("smtp"),  # active without limits
        warming,  # 100 today
        server("sendgrid", ServerState.PAUSED, per_hour=10_000),
        server("sendgrid", ServerState.DISABLED),
        server("mailgun", ServerState.INACTIVE, per_second=10),
    ]

    summary = summarise(servers, TODAY)

    assert summary.counts == StateCounts(total=6, active=3, inactive=1, disabled=1, paused=1)
    assert summary.vendors == {"mailgun": 1, "sendgrid": 2, "ses": 1, "smtp": 2}
    assert summary.throughput == Throughput(per_hour=6100, unlimited_servers=1)
    assert summary.warmup == [
        WarmupProgress(
            server_id=warming.id, name="ses-server", phase="warming", day=1, days=10, todays_cap=100
        )
    ]


def test_an_empty_summary():
    summary = summarise([], TODAY)
    assert summary.counts == StateCounts(0, 0, 0, 0, 0)
    assert (summary.vendors, summary.throughput, summary.warmup) == ({}, Throughput(0, 0), [])
