"""Sending limits as counting windows, and which windows a message to a recipient draws from. Pure.

A server's limits (per second, minute, hour, day), its warmup schedule's daily cap, and any
rule for the recipient's mailbox provider each become a `Window`. Counts live in PostgreSQL,
shared by every router replica.

A limit holds over every span of its length, not per calendar period: "50 per minute" means
no 60 seconds carry more than 50, as a vendor that counts the last minute (or SES its last 24
hours) sees it. Calendar minutes would allow 50 at 12:00:59 and 50 more at 12:01:00. Sends are
counted in short slots; a window is its current slot and the slots of the length before it,
the slot the span begins in counted whole, so the count errs on the safe side by at most one
slot: 1/60 of a minute or an hour, 1/144 of a day. A per-second limit is counted per calendar
second, since a slot as long as its window would count every send twice.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.contracts import DestinationRule, SendingLimits, ServerView

WINDOW_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SLOT_SECONDS = {"second": 1, "minute": 1, "hour": 60, "day": 600}
_LOOKBACK_SECONDS = {"second": 0, "minute": 60, "hour": 3600, "day": 86400}
"""How far before the current slot a window reaches: the slots that still count."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Receivers that answer for several domains count as one: a rule for gmail.com also throttles
# googlemail.com, because the receiver's tolerance is per provider, not per domain name.
PROVIDER_DOMAINS = {
    "gmail": ("gmail.com", "googlemail.com"),
    "yahoo": (
        "yahoo.com",
        "ymail.com",
        "rocketmail.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.co.jp",
    ),
    "microsoft": ("outlook.com", "hotmail.com", "live.com", "msn.com", "hotmail.co.uk", "outlook.fr"),
    "aol": ("aol.com", "aim.com"),
    "apple": ("icloud.com", "me.com", "mac.com"),
    "gmx": ("gmx.com", "gmx.de", "gmx.net", "web.de"),
    "yandex": ("yandex.ru", "yandex.com", "ya.ru"),
    "mailru": ("mail.ru", "bk.ru", "inbox.ru", "list.ru"),
}
_PROVIDER_OF = {domain: provider for provider, domains in PROVIDER_DOMAINS.items() for domain in domains}


def receiver_of(domain: str) -> str:
    """The mailbox provider a domain belongs to, or the domain itself."""
    domain = domain.lower().rstrip(".")
    return _PROVIDER_OF.get(domain, domain)


@dataclass(frozen=True)
class Window:
    kind: str
    start: datetime
    """The start of the current slot: sends taken now are counted there."""
    limit: int

    @property
    def end(self) -> datetime:
        """The end of the current slot: a replica's batch claimed in it is spent by then."""
        return self.start + timedelta(seconds=SLOT_SECONDS[self.kind])

    @property
    def counted_from(self) -> datetime:
        """The oldest slot that still counts toward the limit (the current one for a second)."""
        return self.start - timedelta(seconds=_LOOKBACK_SECONDS[self.kind])

    @property
    def all_counted_free_at(self) -> datetime:
        """When every send counted so far, the current slot's too, has stopped counting: by then
        the whole limit is free again."""
        return self.end + timedelta(seconds=_LOOKBACK_SECONDS[self.kind])

    def describe(self) -> str:
        return f"{self.limit} per {self.kind}"


@dataclass(frozen=True)
class Bucket:
    """One thing that is counted: a server, or a server's traffic to one receiver."""

    key: str
    windows: tuple[Window, ...]
    label: str

    @property
    def tightest_limit(self) -> int:
        return min(w.limit for w in self.windows)


def window_start(kind: str, now: datetime) -> datetime:
    """The start of the slot, aligned in UTC, that a send at `now` is counted in."""
    slot = timedelta(seconds=SLOT_SECONDS[kind])
    return _EPOCH + (now.astimezone(UTC) - _EPOCH) // slot * slot


def windows_for(limits: SendingLimits, now: datetime, daily_cap: int | None = None) -> tuple[Window, ...]:
    per_kind = {
        "second": limits.per_second,
        "minute": limits.per_minute,
        "hour": limits.per_hour,
        "day": min(v for v in (limits.per_day, daily_cap) if v is not None)
        if (limits.per_day or daily_cap)
        else None,
    }
    return tuple(Window(kind, window_start(kind, now), limit) for kind, limit in per_kind.items() if limit)


def server_bucket(server: ServerView, now: datetime) -> Bucket | None:
    cap = server.warmup.daily_cap(now.astimezone(UTC).date()) if server.warmup else None
    windows = windows_for(server.limits, now, cap)
    if not windows:
        return None
    label = "server limits" + (f" (warmup day cap {cap})" if cap is not None else "")
    return Bucket(f"server:{server.id}", windows, label)


def destination_bucket(server: ServerView, recipient: str, now: datetime) -> Bucket | None:
    receiver = receiver_of(recipient.rpartition("@")[2])
    rule: DestinationRule | None = next(
        (r for r in server.destination_rules if receiver_of(r.domain) == receiver), None
    )
    if rule is None:
        return None
    windows = windows_for(rule.limits, now)
    if not windows:
        return None
    return Bucket(f"server:{server.id}:to:{receiver}", windows, f"rule for {rule.domain}")


def claim_size(bucket: Bucket) -> int:
    """How many sends to claim at once: enough to spare the database, small enough to share fairly."""
    return max(1, min(100, bucket.tightest_limit // 10))
