"""How many more sends a server's limits allow now, window by window, for monitoring. Pure.

The counters hold one `day` window whose limit is the tighter of the server's daily limit and its
warmup schedule's cap for today (`limits.windows_for`); here the two are told apart, each against
the same count, so a dashboard shows which of them is binding. Sends a replica has claimed and not
spent yet count as used (`CapacityLedger` leases): the headroom errs low by at most a claim.
"""

from collections.abc import Mapping
from datetime import UTC, datetime

from shared.contracts import ServerView

WARMUP = "warmup"
"""The headroom under the warmup schedule's cap for today (counted in the `day` window)."""


def server_headroom(server: ServerView, now: datetime, used: Mapping[str, int]) -> dict[str, int]:
    """Sends each of the server's limits still allows now (`second`, `minute`, `hour`, `day`,
    `warmup`), from what its windows have `used`; a window it has no limit for is left out."""
    limits = server.limits
    per_window = {
        "second": limits.per_second,
        "minute": limits.per_minute,
        "hour": limits.per_hour,
        "day": limits.per_day,
        WARMUP: server.warmup.daily_cap(now.astimezone(UTC).date()) if server.warmup else None,
    }
    return {
        window: max(0, limit - used.get("day" if window == WARMUP else window, 0))
        for window, limit in per_window.items()
        if limit
    }
