"""Sending limits as counting windows, and which windows a message to a recipient draws from. Pure.

A server's limits (per second, minute, hour, day), its warmup schedule's daily cap, and any
rule for the recipient's mailbox provider each become a `Window`: a calendar-aligned period
(UTC) with a limit. Counts live in PostgreSQL, shared by every router replica.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.contracts import DestinationRule, SendingLimits, ServerView

WINDOW_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

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
    limit: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=WINDOW_SECONDS[self.kind])

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
    now = now.astimezone(UTC)
    match kind:
        case "second":
            return now.replace(microsecond=0)
        case "minute":
            return now.replace(second=0, microsecond=0)
        case "hour":
            return now.replace(minute=0, second=0, microsecond=0)
        case _:
            return now.replace(hour=0, minute=0, second=0, microsecond=0)


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
