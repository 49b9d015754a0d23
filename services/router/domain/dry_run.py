"""What a campaign's routing would do with N messages under today's limits. Pure.

The model: messages go out by weight; a server whose limits cannot take its share within the
time needed gives the rest to the others (as routing does live). The time to send is the
shortest time in which the eligible servers' combined capacity covers every message.
"""

import math
from dataclasses import dataclass
from uuid import UUID

from services.router.domain.limits import WINDOW_SECONDS


@dataclass(frozen=True)
class WindowRoom:
    kind: str
    limit: int
    room_now: int
    seconds_until_all_free: float
    """Until every send counted now has stopped counting. Sends counted now free up gradually
    before that; the forecast counts them free only then, so it errs toward the longer time."""

    def capacity_within(self, seconds: float) -> float:
        if seconds < self.seconds_until_all_free:
            return self.room_now
        return self.room_now + self.limit * (
            1 + math.floor((seconds - self.seconds_until_all_free) / WINDOW_SECONDS[self.kind])
        )


@dataclass(frozen=True)
class ServerForecast:
    server_id: UUID
    weight: float
    messages: int
    share: float
    limited: bool


@dataclass(frozen=True)
class Forecast:
    servers: list[ServerForecast]
    seconds_to_send: float | None
    """None when some eligible server has no limit: the caps do not bound the time."""


def capacity_within(rooms: list[WindowRoom] | None, seconds: float) -> float:
    return math.inf if not rooms else min(r.capacity_within(seconds) for r in rooms)


def share_out(total: int, weights: dict[UUID, float], capacity: dict[UUID, float]) -> dict[UUID, float]:
    """Split `total` by weight; what a server cannot take flows to the others by their weights."""
    given = dict.fromkeys(weights, 0.0)
    open_ = set(weights)
    left = float(total)
    while left > 1e-9 and open_:
        weight_sum = sum(weights[s] for s in open_)
        portion = {s: left * weights[s] / weight_sum for s in open_}
        full = {s for s in open_ if given[s] + portion[s] >= capacity[s]}
        if not full:
            for s in open_:
                given[s] += portion[s]
            break
        for s in full:
            left -= capacity[s] - given[s]
            given[s] = capacity[s]
        open_ -= full
    return given


def forecast(total: int, weights: dict[UUID, float], rooms: dict[UUID, list[WindowRoom] | None]) -> Forecast:
    if not weights:
        return Forecast([], None)
    unlimited = any(not rooms.get(s) for s in weights)
    seconds: float | None = None
    if not unlimited:
        low, high = 0.0, 366 * 86400.0
        if sum(capacity_within(rooms[s], high) for s in weights) < total:
            seconds = math.inf
        else:
            while high - low > 0.5:
                middle = (low + high) / 2
                if sum(capacity_within(rooms[s], middle) for s in weights) >= total:
                    high = middle
                else:
                    low = middle
            seconds = high
    horizon = seconds if seconds is not None and math.isfinite(seconds) else 366 * 86400.0
    capacity = {s: capacity_within(rooms.get(s), horizon) for s in weights}
    given = share_out(total, weights, capacity)
    return Forecast(
        servers=[
            ServerForecast(
                s, weights[s], round(given[s]), given[s] / total if total else 0.0, bool(rooms.get(s))
            )
            for s in weights
        ],
        seconds_to_send=seconds,
    )
