"""What a set of servers adds up to: states, vendor mix, hourly throughput, warmup progress and
bounce and complaint rates. Pure."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from shared.contracts import SendingLimits, ServerState, ServerView, WarmupSchedule


@dataclass(frozen=True)
class StateCounts:
    total: int
    active: int
    inactive: int
    disabled: int
    paused: int

    @classmethod
    def of(cls, servers: Iterable[ServerView]) -> "StateCounts":
        states = Counter(server.state for server in servers)
        return cls(
            total=sum(states.values()),
            active=states[ServerState.ACTIVE],
            inactive=states[ServerState.INACTIVE],
            disabled=states[ServerState.DISABLED],
            paused=states[ServerState.PAUSED],
        )


@dataclass(frozen=True)
class Throughput:
    """What the active servers may send in one hour, by their limits and today's warmup caps."""

    per_hour: int  # summed over the active servers that have a limit
    unlimited_servers: int  # active servers without any limit: they add an unknown amount


WarmupPhase = Literal["not_started", "warming", "warm"]


@dataclass(frozen=True)
class WarmupProgress:
    server_id: UUID
    name: str
    phase: WarmupPhase
    day: int  # 1 on the schedule's start date; 0 before it
    days: int  # length of the ramp
    todays_cap: int | None  # None once warm


@dataclass(frozen=True)
class ServerRates:
    """A server's rates as the bounces service last reported them, against the limits set on it."""

    server_id: UUID
    name: str
    state: ServerState
    window_hours: int
    sent: int
    bounced: int
    complained: int
    bounce_rate: float | None
    complaint_rate: float | None
    over_limits: list[Literal["bounce", "complaint"]]  # the limits its rates are above (after min_volume)
    measured_at: datetime

    @classmethod
    def of(cls, server: ServerView) -> "ServerRates | None":
        reputation = server.reputation
        if reputation is None:
            return None
        return cls(
            server_id=server.id,
            name=server.name,
            state=server.state,
            window_hours=reputation.window_hours,
            sent=reputation.sent,
            bounced=reputation.bounced,
            complained=reputation.complained,
            bounce_rate=reputation.bounce_rate,
            complaint_rate=reputation.complaint_rate,
            over_limits=server.bounce_handling.over_limits(
                reputation.sent, reputation.bounced, reputation.complained
            ),
            measured_at=reputation.measured_at,
        )


@dataclass(frozen=True)
class ReputationSummary:
    reported: int  # servers with rates reported
    # The highest rates among the servers that sent at least their `min_volume` (the rates that count):
    # a server with one message sent and one bounce is no worst server.
    worst_bounce: ServerRates | None
    worst_complaint: ServerRates | None
    over_limits: list[ServerRates]  # whatever their state: a paused one shows why it is paused


def summarise_reputation(servers: Iterable[ServerView]) -> ReputationSummary:
    rated = [(server, rates) for server in servers if (rates := ServerRates.of(server)) is not None]
    counting = [rates for server, rates in rated if rates.sent >= server.bounce_handling.min_volume]
    return ReputationSummary(
        reported=len(rated),
        worst_bounce=max(counting, key=lambda rates: rates.bounce_rate or 0.0, default=None),
        worst_complaint=max(counting, key=lambda rates: rates.complaint_rate or 0.0, default=None),
        over_limits=[rates for _, rates in rated if rates.over_limits],
    )


@dataclass(frozen=True)
class ServerSummary:
    counts: StateCounts
    vendors: dict[str, int]  # servers per vendor, whatever their state
    throughput: Throughput
    warmup: list[WarmupProgress]
    reputation: ReputationSummary


def hourly_capacity(limits: SendingLimits, warmup: WarmupSchedule | None, today: date) -> int | None:
    """The most one server may send in an hour: the tightest of its limits, None if nothing limits it.

    A daily limit or today's warmup cap bounds an hour too: all of it might go out in that hour.
    """
    bounds = [
        limits.per_hour,
        limits.per_minute * 60 if limits.per_minute else None,
        limits.per_second * 3600 if limits.per_second else None,
        limits.per_day,
        warmup.daily_cap(today) if warmup else None,
    ]
    present = [bound for bound in bounds if bound is not None]
    return min(present) if present else None


def ramp_length(warmup: WarmupSchedule) -> int:
    if warmup.kind == "table":
        return len(warmup.table)
    assert warmup.days is not None, "WarmupSchedule requires the days of a linear or exponential ramp"
    return warmup.days


def warmup_progress(server: ServerView, today: date) -> WarmupProgress | None:
    warmup = server.warmup
    if warmup is None:
        return None
    days = ramp_length(warmup)
    day = (today - warmup.start_date).days + 1
    phase: WarmupPhase
    if day < 1:
        phase, day = "not_started", 0
    elif day > days:
        phase = "warm"
    else:
        phase = "warming"
    return WarmupProgress(
        server_id=server.id,
        name=server.name,
        phase=phase,
        day=min(day, days),
        days=days,
        # Before the start the router already applies the first day's cap, so that is today's.
        todays_cap=warmup.daily_cap(today),
    )


def summarise(servers: Iterable[ServerView], today: date) -> ServerSummary:
    servers = list(servers)
    per_hour, unlimited = 0, 0
    for server in servers:
        if server.state is not ServerState.ACTIVE:
            continue
        capacity = hourly_capacity(server.limits, server.warmup, today)
        if capacity is None:
            unlimited += 1
        else:
            per_hour += capacity
    return ServerSummary(
        counts=StateCounts.of(servers),
        vendors=dict(sorted(Counter(server.vendor for server in servers).items())),
        throughput=Throughput(per_hour=per_hour, unlimited_servers=unlimited),
        warmup=[progress for server in servers if (progress := warmup_progress(server, today))],
        reputation=summarise_reputation(servers),
    )
