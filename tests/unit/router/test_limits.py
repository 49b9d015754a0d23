from datetime import UTC, date, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.app.capacity import CapacityLedger
from services.router.domain.dry_run import WindowRoom, forecast, share_out
from services.router.domain.limits import (
    Bucket,
    claim_size,
    destination_bucket,
    receiver_of,
    server_bucket,
    window_start,
    windows_for,
)
from shared.contracts import DestinationRule, SendingLimits, ServerState, ServerView, WarmupSchedule

NOW = datetime(2026, 11, 22, 14, 37, 42, 500_000, tzinfo=UTC)


def server(**kw) -> ServerView:
    return ServerView(id=uuid4(), name="s", type="smtp", vendor="smtp", state=ServerState.ACTIVE, **kw)


def test_sends_are_counted_in_slots_aligned_in_utc():
    assert window_start("second", NOW) == NOW.replace(microsecond=0)
    assert window_start("minute", NOW) == NOW.replace(microsecond=0)
    assert window_start("hour", NOW) == datetime(2026, 11, 22, 14, 37, tzinfo=UTC)
    assert window_start("day", NOW) == datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    assert window_start("day", NOW.astimezone(timezone(timedelta(hours=-5)))) == window_start("day", NOW)


def test_a_window_counts_its_length_before_the_current_slot_and_the_second_only_itself():
    minute, hour, day, second = (
        windows_for(SendingLimits(per_second=1, per_minute=1, per_hour=1, per_day=1), NOW)[i]
        for i in (1, 2, 3, 0)
    )
    assert (minute.counted_from, minute.end) == (
        datetime(2026, 11, 22, 14, 36, 42, tzinfo=UTC),
        minute.start + timedelta(seconds=1),
    )
    assert hour.counted_from == datetime(2026, 11, 22, 13, 37, tzinfo=UTC)
    assert day.counted_from == datetime(2026, 11, 21, 14, 30, tzinfo=UTC)
    assert second.counted_from == second.start
    assert minute.all_counted_free_at == datetime(2026, 11, 22, 14, 38, 43, tzinfo=UTC)
    assert second.all_counted_free_at == second.end


def test_only_the_limits_that_are_set_become_windows():
    windows = windows_for(SendingLimits(per_minute=50, per_day=1000), NOW)
    assert [(w.kind, w.limit) for w in windows] == [("minute", 50), ("day", 1000)]
    assert server_bucket(server(), NOW) is None


def test_warmup_cap_tightens_the_daily_limit():
    warm = WarmupSchedule(kind="linear", start_date=NOW.date(), start_volume=30, target_volume=1000, days=10)
    bucket = server_bucket(server(limits=SendingLimits(per_day=500), warmup=warm), NOW)
    assert [(w.kind, w.limit) for w in bucket.windows] == [("day", 30)]
    assert "warmup day cap 30" in bucket.label
    # After the ramp the server is warm: only its own limit is left.
    later = NOW + timedelta(days=11)
    assert [
        (w.kind, w.limit)
        for w in server_bucket(server(limits=SendingLimits(per_day=500), warmup=warm), later).windows
    ] == [("day", 500)]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("linear", [100, 325, 550, 775, 1000, None]),
        ("exponential", [100, 178, 316, 562, 1000, None]),
    ],
)
def test_warmup_ramps(kind, expected):
    schedule = WarmupSchedule(
        kind=kind, start_date=date(2026, 1, 1), start_volume=100, target_volume=1000, days=5
    )
    assert [schedule.daily_cap(date(2026, 1, d)) for d in range(1, 7)] == expected


def test_warmup_table_and_validation():
    schedule = WarmupSchedule(kind="table", start_date=date(2026, 1, 1), table=[20, 40, 80])
    assert [schedule.daily_cap(date(2026, 1, d)) for d in range(1, 5)] == [20, 40, 80, None]
    assert schedule.daily_cap(date(2025, 12, 1)) == 20  # before the start counts as day 1
    with pytest.raises(ValueError, match="start_volume, target_volume and days"):
        WarmupSchedule(kind="linear", start_date=date(2026, 1, 1), start_volume=10)
    with pytest.raises(ValueError, match="table"):
        WarmupSchedule(kind="table", start_date=date(2026, 1, 1))


def test_destination_rule_covers_every_domain_of_the_provider():
    s = server(destination_rules=[DestinationRule(domain="gmail.com", limits=SendingLimits(per_second=2))])
    assert destination_bucket(s, "a@googlemail.com", NOW).key == f"server:{s.id}:to:gmail"
    assert destination_bucket(s, "a@GMAIL.com", NOW).windows[0].limit == 2
    assert destination_bucket(s, "a@yahoo.com", NOW) is None
    assert receiver_of("hotmail.com") == receiver_of("outlook.com") == "microsoft"
    assert receiver_of("example.org") == "example.org"


class MemoryStore:
    """The shared counters, in memory: the unit tier's stand-in for PgCapacityStore."""

    def __init__(self):
        self.used: dict[tuple, int] = {}
        """(bucket, kind, slot start) → sends counted there."""
        self.claims = 0

    def used_in(self, bucket_key, window) -> int:
        return sum(
            used
            for (key, kind, slot), used in self.used.items()
            if key == bucket_key and kind == window.kind and window.counted_from <= slot <= window.start
        )

    async def claim(self, bucket, want):
        self.claims += 1
        room = {w: w.limit - self.used_in(bucket.key, w) for w in bucket.windows}
        granted = max(0, min(want, *room.values()))
        for w in bucket.windows:
            self.used[(bucket.key, w.kind, w.start)] = (
                self.used.get((bucket.key, w.kind, w.start), 0) + granted
            )
        exhausted = [w for w in bucket.windows if room[w] - granted <= 0]
        return granted, (
            max(w.all_counted_free_at for w in exhausted) if exhausted and granted < want else None
        )

    async def give_back(self, bucket, windows, count):
        for w in windows:
            key = (bucket.key, w.kind, w.start)
            self.used[key] = max(0, self.used.get(key, 0) - count)


async def test_ledgers_sharing_a_store_never_exceed_the_limit_and_claim_in_batches():
    store = MemoryStore()
    replicas = [CapacityLedger(store), CapacityLedger(store)]
    bucket = Bucket("server:x", windows_for(SendingLimits(per_minute=50), NOW), "server limits")
    granted = [await replicas[i % 2].take(bucket, NOW) for i in range(80)]
    assert sum(v.ok for v in granted) == 50
    refused = [v for v in granted if not v.ok]
    # All 50 were counted in the slot of 14:37:42; they stop counting a minute after it ends.
    assert refused[0].until == datetime(2026, 11, 22, 14, 38, 43, tzinfo=UTC)
    assert "50 per minute" in refused[0].reason
    assert store.claims < 30  # batches of 5, plus one refusal per replica, not one claim per message


async def test_a_new_slot_gives_back_the_unspent_sends_of_the_last_one():
    store = MemoryStore()
    ledger = CapacityLedger(store)
    limits = SendingLimits(per_second=100, per_day=1000)
    first = Bucket("b", windows_for(limits, NOW), "")
    assert (await ledger.take(first, NOW)).ok  # claims 10, spends 1
    next_second = NOW + timedelta(seconds=1)
    second = Bucket("b", windows_for(limits, next_second), "")
    assert (await ledger.take(second, next_second)).ok
    day_used = store.used[("b", "day", window_start("day", NOW))]
    assert day_used == 1 + claim_size(second)  # the 9 unspent of the first lease came back to the day
    assert store.used[("b", "second", window_start("second", NOW))] == 1


async def test_a_minute_limit_holds_over_every_60_seconds_not_per_calendar_minute():
    """Calendar minutes allowed 50 at 12:00:59 and 50 more at 12:01:00."""
    store = MemoryStore()
    ledger = CapacityLedger(store)
    late = datetime(2026, 11, 22, 12, 0, 59, tzinfo=UTC)
    bucket_at = lambda now: Bucket("b", windows_for(SendingLimits(per_minute=50), now), "")  # noqa: E731

    before = [await ledger.take(bucket_at(late), late) for _ in range(50)]
    just_after = late + timedelta(seconds=1)
    after = await ledger.take(bucket_at(just_after), just_after)

    assert all(v.ok for v in before)
    # Waiting messages come back when everything counted so far has stopped counting.
    assert not after.ok and after.until == datetime(2026, 11, 22, 12, 2, 1, tzinfo=UTC)
    assert (await ledger.take(bucket_at(after.until), after.until)).ok


@given(st.integers(1, 5000), st.lists(st.floats(0.1, 10), min_size=1, max_size=5))
def test_share_out_gives_everything_away_without_exceeding_capacity(total, weights):
    ids = [uuid4() for _ in weights]
    capacity = {s: float("inf") for s in ids}
    capacity[ids[0]] = 3
    given = share_out(total, dict(zip(ids, weights, strict=True)), capacity)
    assert given[ids[0]] <= 3 + 1e-9
    if len(ids) > 1:
        assert sum(given.values()) == pytest.approx(total)


def test_forecast_time_and_redistribution_at_caps():
    a, b = uuid4(), uuid4()
    # a: 50 per minute with 20 left in a minute ending in 30 s; b: 10 per second, fresh.
    rooms = {a: [WindowRoom("minute", 50, 20, 30)], b: [WindowRoom("second", 10, 10, 1)]}
    result = forecast(200, {a: 1, b: 1}, rooms)
    assert result.seconds_to_send == pytest.approx(18, abs=1)  # b alone carries 10/s after a's 20
    by_server = {s.server_id: s.messages for s in result.servers}
    assert by_server[a] == 20 and by_server[b] == 180
    assert forecast(10, {a: 1, b: 1}, {a: None, b: rooms[b]}).seconds_to_send is None


@given(
    limit=st.integers(1, 120),
    takes=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), min_size=1, max_size=300),
)
async def test_any_interleaving_of_replicas_and_seconds_never_exceeds_a_minute_cap(limit, takes):
    """Three replicas taking in any order across a few seconds: the minute's total stays within its cap."""
    store = MemoryStore()
    replicas = [CapacityLedger(store) for _ in range(3)]
    granted = 0
    for replica, second in sorted(takes, key=lambda t: t[1]):
        now = NOW.replace(second=second)
        bucket = Bucket(
            "b", windows_for(SendingLimits(per_second=max(1, limit // 3), per_minute=limit), now), ""
        )
        granted += (await replicas[replica].take(bucket, now)).ok
    assert granted <= limit
    assert sum(used for (_, kind, _), used in store.used.items() if kind == "minute") <= limit
