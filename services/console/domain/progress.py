"""A campaign's progress for people: what is done of the total, counts per state in the order a
message goes through them, per server counts with their shares, and whether to keep watching."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.console.domain.shares import percentages
from shared.contracts import FEEDBACK_STATUSES, FINAL_STATUSES, MessageStatus

FINAL_CAMPAIGN_STATES = frozenset({"completed", "cancelled"})
"""Nothing changes any more: the progress view stops polling."""
WATCHED_STATES = frozenset({"scheduled", "running", "paused", "stopped"})
"""States in which counts may still move: the progress view polls."""
ACTIONS = {
    "launch": frozenset({"draft"}),
    "pause": frozenset({"running"}),
    "resume": frozenset({"paused", "stopped"}),
    "cancel": frozenset({"scheduled", "running", "paused", "stopped"}),
}
"""Which states each of the scheduler's actions may start from (as its `domain/campaign.py` says)."""

MESSAGE_STATES = (
    "queued",
    "waiting",
    "routed",
    "held",
    "deferred",
    "sent",
    "failed",
    "unknown",
    "suppressed",
    "cancelled",
)
DONE_STATES = frozenset(status.value for status in FINAL_STATUSES)
"""A message in these states has left the pipeline."""
AFTER_SENDING = tuple(status.value for status in MessageStatus if status in FEEDBACK_STATUSES)
"""Reported later about sent messages (counted in `sent` too): `bounced`, `complained`."""

STATE_SENTENCES = {
    "draft": "Not launched yet.",
    "scheduled": "Scheduled: the run starts at its send time.",
    "running": "Sending.",
    "paused": "Paused: nothing more is sent until it is resumed.",
    "stopped": "Stopped by the router: no eligible server. Resume it once a server can send.",
    "completed": "Completed: every message has reached a final state.",
    "cancelled": "Cancelled.",
}


def available_actions(state: str) -> list[str]:
    return [action for action, states in ACTIONS.items() if state in states]


@dataclass(frozen=True)
class ServerCount:
    server_id: str
    name: str
    sent: int
    share: float


@dataclass(frozen=True)
class Progress:
    state: str
    total: int
    done: int
    counts: list[tuple[str, int]]
    """Message states with a count above 0, in pipeline order (states unknown to the console last)."""
    after_sending: list[tuple[str, int]]
    servers: list[ServerCount]
    send_rate_per_minute: float
    estimated_completion_at: str | None
    stop_reason: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_CAMPAIGN_STATES

    @property
    def polling(self) -> bool:
        return self.state in WATCHED_STATES

    @property
    def sentence(self) -> str:
        return STATE_SENTENCES.get(self.state, self.state)

    @property
    def percent_done(self) -> float:
        return round(100 * self.done / self.total, 1) if self.total else 0.0


def progress_of(report: Mapping[str, Any], server_names: Mapping[str, str]) -> Progress:
    """The scheduler's `CampaignProgressOut` (or `CampaignReportOut`) as the page shows it."""
    counts: dict[str, int] = {str(k): int(v) for k, v in (report.get("counts") or {}).items()}
    ordered = [(state, counts[state]) for state in MESSAGE_STATES if counts.get(state)]
    ordered += sorted(
        (state, count)
        for state, count in counts.items()
        if state not in MESSAGE_STATES and state not in AFTER_SENDING and count
    )
    per_server = {str(k): int(v) for k, v in (report.get("per_server") or {}).items()}
    shares = percentages(per_server)
    servers = [
        ServerCount(server_id, server_names.get(server_id, server_id[:8]), sent, shares[server_id])
        for server_id, sent in sorted(per_server.items(), key=lambda item: (-item[1], item[0]))
    ]
    completion = report.get("estimated_completion_at")
    return Progress(
        state=str(report.get("state", "")),
        total=int(report.get("total") or 0),
        done=sum(count for state, count in counts.items() if state in DONE_STATES),
        counts=ordered,
        after_sending=[(state, counts[state]) for state in AFTER_SENDING if counts.get(state)],
        servers=servers,
        send_rate_per_minute=float(report.get("send_rate_per_minute") or 0.0),
        estimated_completion_at=str(completion) if completion else None,
        stop_reason=report.get("stop_reason"),
    )


def describe_seconds(seconds: float | None) -> str:
    """A dry run's time to send: `about 3 min`; null means a server without limits bounds nothing."""
    if seconds is None:
        return "not bounded: a server without sending limits can take them all at once"
    if seconds < 0:
        return "more than a year at the current caps"
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"about {round(seconds)} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"about {seconds / 3600:.1f} h"
    return f"about {seconds / 86400:.1f} days"
