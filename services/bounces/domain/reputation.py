"""A server's bounce and complaint rates over a window of its outcome counters, and whether they are
past the limits set on it (`BounceHandling`). Pure: no I/O.

The bounce rate counts hard bounces only: a soft bounce (a full mailbox, a greylisting delay) says
nothing about the list a server sends to, and the receiving side retries it anyway. A `bounced`
counter without a class (published before bounces were classified) counts as a hard bounce.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from services.bounces.domain.outcomes import outcome_status
from shared.contracts import BounceHandling, FeedbackClass, MessageStatus, ServerReputation

SENT = outcome_status(MessageStatus.SENT)
HARD_BOUNCES = frozenset(
    {outcome_status(MessageStatus.BOUNCED), outcome_status(MessageStatus.BOUNCED, FeedbackClass.HARD)}
)
COMPLAINTS = outcome_status(MessageStatus.COMPLAINED)


@dataclass(frozen=True)
class WindowCounts:
    """What a server's counters add up to over a window."""

    sent: int = 0
    bounced: int = 0
    """Hard bounces."""
    complained: int = 0

    @classmethod
    def of(cls, by_status: Mapping[str, int]) -> "WindowCounts":
        """From counters per status (`outcome_status`). A sum below zero (more taken back by
        re-classification than the window still holds) is none."""
        return cls(
            sent=max(by_status.get(SENT, 0), 0),
            bounced=max(sum(by_status.get(status, 0) for status in HARD_BOUNCES), 0),
            complained=max(by_status.get(COMPLAINTS, 0), 0),
        )


@dataclass(frozen=True)
class ServerWindow:
    """A server's counters over the rate window."""

    whole: WindowCounts
    """Every hour of the window: the rates the pool views show."""
    since_pause: WindowCounts
    """The hours after the bounces service last paused the server, within the window: what decides
    a pause again. Once an operator resumes the server, the hours that caused the pause do not
    pause it again; it is judged on what it sends after (and needs `min_volume` sent again)."""
    paused_at: datetime | None = None
    """When the bounces service last paused it, if that is within the window."""

    def judged(self, window_hours: int) -> tuple[WindowCounts, str]:
        """The counts a pause is decided on, and the span they cover, in words."""
        if self.paused_at is None:
            return self.whole, f"the last {window_hours} h"
        return self.since_pause, f"the hours since its last pause ({self.paused_at:%Y-%m-%d %H:%M} UTC)"


def measure(counts: WindowCounts, window_hours: int, at: datetime) -> ServerReputation:
    """The rates the pool views show: None before anything was sent."""
    return ServerReputation(
        window_hours=window_hours,
        sent=counts.sent,
        bounced=counts.bounced,
        complained=counts.complained,
        bounce_rate=counts.bounced / counts.sent if counts.sent else None,
        complaint_rate=counts.complained / counts.sent if counts.sent else None,
        measured_at=at,
    )


@dataclass(frozen=True)
class PauseVerdict:
    """The server is past a limit set on it: pause it, saying why."""

    reason: str


def judge(counts: WindowCounts, handling: BounceHandling, span: str) -> PauseVerdict | None:
    """A pause, with a reason a person can act on, when `counts` (over `span`, e.g. "the last 24 h")
    are past `handling`'s limits; None while they are within them or fewer than `min_volume` were sent."""
    over = handling.over_limits(counts.sent, counts.bounced, counts.complained)
    reasons = []
    if "bounce" in over:
        assert handling.max_bounce_rate is not None  # over_limits names only the limits that are set
        reasons.append(_rate_reason("bounce", counts.bounced, counts.sent, handling.max_bounce_rate, span))
    if "complaint" in over:
        assert handling.max_complaint_rate is not None
        reasons.append(
            _rate_reason("complaint", counts.complained, counts.sent, handling.max_complaint_rate, span)
        )
    return PauseVerdict(reason="; ".join(reasons)) if reasons else None


def _rate_reason(what: str, count: int, sent: int, limit: float, span: str) -> str:
    """E.g. "bounce rate 7.2 % over the last 24 h (36 of 500 sent) is above this server's 5 % limit"."""
    return (
        f"{what} rate {percent(count / sent)} % over {span} ({count} of {sent} sent) "
        f"is above this server's {percent(limit)} % limit"
    )


def percent(rate: float) -> str:
    """A rate as a percentage of three significant digits at most, without trailing zeros: 7.2, 5, 0.1."""
    return f"{float(f'{rate * 100:.3g}'):g}"
