"""What the vendors' webhook modules share: refusals, malformed payloads, bounded fields, replay checks."""

import hmac
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from services.bounces.domain.feedback import Classification, Feedback, RecipientReport
from shared.contracts import FeedbackClass

DIAGNOSTIC_MAX = 1000
"""A vendor's reason text is kept up to this many characters, on one line."""
ADDRESS_MAX = 320
STATUS_MAX = 32
ID_MAX = 256
"""A vendor's event or message id longer than this is cut: ids are short, a long one is hostile."""


@dataclass(frozen=True)
class WebhookServer:
    """The server a webhook URL names, as the catalog describes it."""

    server_id: UUID
    vendor: str
    settings: Mapping[str, Any]
    """The values of its type's settings form, secrets in clear (the webhook keys among them)."""

    def key(self, name: str) -> str | None:
        """The webhook key `name`, None when the server has none set."""
        value = self.settings.get(name)
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Refused:
    """A request whose credentials do not hold: never processed."""

    reason: str
    missing: bool = False
    """True when the request carried no credentials at all (answered 401, else 403)."""


NO_KEY = Refused("no webhook key configured for this server")


class Malformed(ValueError):
    """A verified request whose body is not what the vendor sends; `field` names where."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def same_secret(given: str, expected: str) -> bool:
    """Compare in constant time: how long a comparison takes must not tell how much of a guess was right."""
    return hmac.compare_digest(given.encode(), expected.encode())


def json_of(body: bytes, field: str = "body") -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Malformed(field, "is not JSON") from None


def raw_of(event: Any) -> bytes:
    """One event as JSON, the same bytes each time the same event comes (so its copies can be told apart)."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(value: Any, limit: int = DIAGNOSTIC_MAX) -> str:
    """A vendor's text as one bounded line with no control characters ("" for what is not text or a number)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return " ".join(_CONTROL.sub(" ", str(value)).split())[:limit]


def address_of(value: Any) -> str:
    """A recipient address, lower-cased; "" when it is not one (too long, no @)."""
    text = one_line(value, ADDRESS_MAX + 1)
    if len(text) > ADDRESS_MAX or "@" not in text or " " in text:
        return ""
    return text.lower()


def message_id_of(value: Any) -> UUID | None:
    """A sendpool message id as the vendor carried it back; None when absent or not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def identifier(value: Any) -> str:
    return one_line(value, ID_MAX)


def time_of_unix(value: Any) -> datetime | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if not 0 < seconds < 32503680000:  # before year 3000: anything else is not a timestamp
        return None
    return datetime.fromtimestamp(seconds, UTC)


def time_of_iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stale(timestamp: Any, now: datetime, tolerance_seconds: int) -> Refused | None:
    """Why a signed timestamp is refused (not a number, too old: a replayed request, too far ahead)."""
    moment = time_of_unix(timestamp) if not isinstance(timestamp, bool) else None
    if moment is None:
        return Refused("the signature's timestamp is not a Unix time")
    if abs((now - moment).total_seconds()) > tolerance_seconds:
        return Refused(
            f"the signature's timestamp is more than {tolerance_seconds}s away from now (replayed?)"
        )
    return None


class SeenTokens:
    """Tokens of requests taken within the timestamp tolerance, to refuse the same request twice.

    A token is remembered once its request was taken (durably), not when it is first verified: a
    request that failed is sent again by the vendor with the same token, and must then be taken.
    Bounded twice: entries older than the tolerance are dropped (their timestamp alone refuses them
    again), and past `capacity` the oldest go first. Per process: a replay to another replica within
    the tolerance is not caught here, and acts once all the same (`FeedbackIntake.take` is idempotent)."""

    def __init__(self, tolerance_seconds: int, capacity: int = 100_000) -> None:
        self._tolerance = timedelta(seconds=tolerance_seconds)
        self._capacity = capacity
        self._seen: OrderedDict[str, datetime] = OrderedDict()

    def __contains__(self, token: str) -> bool:
        return token in self._seen

    def remember(self, token: str, now: datetime) -> None:
        while self._seen and (
            len(self._seen) >= self._capacity or now - next(iter(self._seen.values())) > self._tolerance
        ):
            self._seen.popitem(last=False)
        self._seen[token] = now


def vendor_feedback(
    *,
    vendor: str,
    event: Any,
    feedback_class: FeedbackClass,
    rule: str,
    recipients: tuple[RecipientReport, ...],
    server_id: UUID,
    message_id: UUID | None,
    vendor_message_id: str,
    occurred_at: datetime | None,
    event_id: str,
    feedback_type: str = "",
    raw: bytes | None = None,
) -> Feedback:
    """A vendor event as the `Feedback` every intake hands over."""
    details = {"event_id": event_id} if event_id else {}
    return Feedback(
        source=vendor,
        raw=raw if raw is not None else raw_of(event),
        classification=Classification(
            feedback_class=feedback_class,
            rule=rule,
            recipients=recipients,
            feedback_type=feedback_type,
            original_message_id=message_id,
        ),
        message_id=message_id,
        server_id=server_id,
        vendor_message_id=vendor_message_id or None,
        occurred_at=occurred_at,
        details=details,
    )
