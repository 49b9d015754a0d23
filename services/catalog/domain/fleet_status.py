"""What monitoring says of the servers: each one's state and, when paused, why. Pure.

A pause's cause is one of a few words, for a metric label an alert can match: the bounces service
pauses a server past its bounce or complaint rate (its reason says which, first), the operator
pauses as a sanction, and anything else (the owner, another service) is `other`.
"""

from dataclasses import dataclass
from uuid import UUID

from services.catalog.domain.servers import OPERATOR_PAUSE
from shared.contracts import ServerState

BOUNCES_PAUSE = "bounces"
"""Who the bounces service's pauses are by (`PauseServerRequest.requested_by`)."""

PAUSE_REASON_SHOWN = 120
"""Characters of a pause's reason a metric label carries: enough to read, short enough for a label."""


@dataclass(frozen=True)
class ServerStatus:
    id: UUID
    vendor: str
    state: ServerState
    paused_by: str | None
    pause_reason: str | None


def pause_cause(paused_by: str | None, reason: str | None) -> str:
    """`bounce_rate`, `complaint_rate`, `operator` or `other`."""
    if paused_by == OPERATOR_PAUSE:
        return "operator"
    if paused_by == BOUNCES_PAUSE and reason:
        # "bounce rate 7.2 % over ... ; complaint rate ...": the first limit crossed names the cause.
        for cause in ("bounce_rate", "complaint_rate"):
            if reason.startswith(cause.replace("_", " ")):
                return cause
    return "other"


def shown_reason(reason: str | None) -> str:
    return (reason or "")[:PAUSE_REASON_SHOWN]
