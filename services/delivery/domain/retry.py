"""When a deferred message is tried again, and when it has been deferred long enough to give up.

Waits grow exponentially with the attempt number; a server that says how long to wait is
never asked sooner. A message that keeps being deferred fails after a number of attempts or
an age, so a campaign always ends.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from shared.contracts import SendRequested


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_age_seconds: float


@dataclass(frozen=True)
class RetryLater:
    wait_seconds: float


@dataclass(frozen=True)
class GiveUp:
    reason: str


def plan_retry(
    policy: RetryPolicy,
    *,
    attempt: int,
    first_attempt_at: datetime,
    now: datetime,
    retry_after: float | None = None,
) -> RetryLater | GiveUp:
    if attempt >= policy.max_attempts:
        return GiveUp(f"deferred on each of {attempt} attempts (at most {policy.max_attempts})")
    wait = max(policy.base_seconds * 2 ** (attempt - 1), retry_after or 0.0)
    deadline = first_attempt_at + timedelta(seconds=policy.max_age_seconds)
    if now + timedelta(seconds=wait) > deadline:
        age = int((now - first_attempt_at).total_seconds())
        return GiveUp(
            f"still deferred {age}s after the first attempt (at most {int(policy.max_age_seconds)}s)"
        )
    return RetryLater(wait_seconds=wait)


def next_attempt(send: SendRequested, deferred_by: UUID) -> SendRequested:
    """The same message, counted as the next attempt, steering routing away from the server that deferred it.

    A new attempt is claimed afresh, so whether the previous one was redelivered no longer matters.
    """
    return send.avoiding(deferred_by).model_copy(update={"attempt": send.attempt + 1, "redelivered": False})


def past_max_age(policy: RetryPolicy, *, first_attempt_at: datetime, now: datetime) -> GiveUp | None:
    """A message is not re-routed forever, even when no attempt of it ever reached a server."""
    age = now - first_attempt_at
    if age <= timedelta(seconds=policy.max_age_seconds):
        return None
    return GiveUp(
        f"not delivered {int(age.total_seconds())}s after the first attempt (at most {int(policy.max_age_seconds)}s)"
    )
