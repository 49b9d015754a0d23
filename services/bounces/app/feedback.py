"""Take feedback in, match it to the messages it is about, and act on it.

Every intake (the bounce mail endpoint, each vendor webhook) hands its `Feedback` to
`TakeFeedback.take`, which returns once everything is durable: in one transaction the feedback
is stored (once: a copy with the same dedupe key is dropped), matched, and what it causes is
decided (suppressions, audited, and `bounced` / `complained` status events in the outbox).

Only matched feedback acts, and only on its message's recipient (`services.bounces.domain.actions`).
Feedback that names a message this service has not yet heard was sent (the `sent` event and the
bounce race each other) is matched again for a while by `RematchFeedback`, which the service runs
in the background.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from services.bounces.app.ports import CounterStore, FeedbackSteps, FeedbackStore
from services.bounces.domain.actions import (
    Match,
    Report,
    Suppression,
    candidate_ids,
    immediate_suppression,
    match,
    soft_suppression,
    status_event,
    strongest,
)
from services.bounces.domain.feedback import Feedback
from services.bounces.domain.outcomes import tally
from shared.contracts import FeedbackClass, StatusEvent
from shared.errors import NotFound

ACTOR = "bounces"
"""Who the audit log says acted, for what the service decided by itself."""


@dataclass(frozen=True)
class FeedbackPolicy:
    soft_bounce_limit: int = 3
    soft_window: timedelta = timedelta(days=7)
    soft_suppression_days: float = 7.0
    raw_max_bytes: int = 1024 * 1024


def _now() -> datetime:
    return datetime.now(UTC)


async def act(
    steps: FeedbackSteps,
    reports: Sequence[Report],
    policy: FeedbackPolicy,
    now: datetime,
    *,
    actor: str = ACTOR,
) -> list[Match]:
    """Match `reports` (stored, unmatched) and act on the matched ones; returns the matches."""
    by_id, by_vendor = await steps.sent_messages(
        [mid for report in reports for mid in candidate_ids(report)],
        [
            (report.claimed_server_id, report.vendor_message_id)
            for report in reports
            if report.claimed_server_id is not None and report.vendor_message_id
        ],
    )
    matches = [
        Match(report, message)
        for report in reports
        if (message := match(report, by_id, by_vendor)) is not None
    ]
    if not matches:
        return []
    await steps.record_matches(matches)
    suppressions = [s for found in matches if (s := immediate_suppression(found)) is not None]
    suppressions += await _soft_suppressions(steps, matches, policy, now)
    await steps.suppress(strongest(suppressions), actor=actor)
    await steps.publish([(found.report.id, e) for found in matches if (e := status_event(found, now=now))])
    return matches


async def _soft_suppressions(
    steps: FeedbackSteps, matches: Sequence[Match], policy: FeedbackPolicy, now: datetime
) -> list[Suppression]:
    soft = [
        found
        for found in matches
        if found.report.feedback_class is FeedbackClass.SOFT and found.recipient_agrees
    ]
    if not soft:
        return []
    counts = await steps.soft_bounce_counts(
        [(found.message.tenant_id, found.recipient_key) for found in soft],
        since=now - policy.soft_window,
    )
    return [
        soft_suppression(found, now=now, days=policy.soft_suppression_days)
        for found in soft
        if counts.get((found.message.tenant_id, found.recipient_key), 0) >= policy.soft_bounce_limit
    ]


class TakeFeedback:
    """`FeedbackIntake`: the one way feedback gets in."""

    def __init__(
        self, store: FeedbackStore, policy: FeedbackPolicy, clock: Callable[[], datetime] = _now
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock

    async def take(self, feedback: Sequence[Feedback]) -> None:
        if not feedback:
            return
        async with self._store.transaction() as steps:
            reports = await steps.store(feedback, raw_max_bytes=self._policy.raw_max_bytes)
            if reports:
                await act(steps, reports, self._policy, self._clock())


class RematchFeedback:
    """Matches again the recent unmatched feedback that names a message, a batch per round."""

    def __init__(
        self,
        store: FeedbackStore,
        policy: FeedbackPolicy,
        *,
        window: timedelta,
        batch: int = 500,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._store = store
        self._policy = policy
        self._window = window
        self._batch = batch
        self._clock = clock
        self._after_id = 0
        """Where the next round goes on: each round takes the next batch, so every candidate gets its turn."""

    async def __call__(self) -> int:
        """One round; returns how many reports it matched."""
        now = self._clock()
        async with self._store.transaction() as steps:
            reports = await steps.unmatched_since(
                now - self._window, after_id=self._after_id, limit=self._batch
            )
            matched = len(await act(steps, reports, self._policy, now)) if reports else 0
        self._after_id = reports[-1].id if len(reports) == self._batch else 0
        return matched


class ReclassifyFeedback:
    """An operator corrects a report's class; what the old class caused is undone, what the new one
    warrants is done: a suppression it made is lifted if the new class would not suppress (or added
    if it now would), a status event of the corrected class is published if it now warrants one, and
    the server's outcome counters take back what the old event counted. Audited."""

    def __init__(
        self,
        store: FeedbackStore,
        counters: CounterStore,
        policy: FeedbackPolicy,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._store = store
        self._counters = counters
        self._policy = policy
        self._clock = clock

    async def __call__(self, feedback_id: int, new_class: FeedbackClass, *, by: str, note: str) -> None:
        taken_back: list[StatusEvent] = []
        async with self._store.transaction() as steps:
            found = await steps.for_reclassification(feedback_id)
            if found is None:
                raise NotFound(f"no feedback {feedback_id}")
            report, message, published = found
            await steps.reclassify(feedback_id, new_class, by=by, note=note)
            if message is None:
                return  # unmatched: it caused nothing, and causes nothing now
            # The moment the first event was stamped with, so a correction lands in the same hour's counters.
            moment = report.occurred_at or report.received_at or self._clock()
            before = Match(report, message)
            after = Match(_with_class(report, new_class), message)
            old_event = status_event(before, now=moment) if published else None
            new_event = status_event(after, now=moment)
            if _same_outcome(old_event, new_event):
                return
            await steps.unsuppress_caused_by(feedback_id, actor=by)
            suppression = immediate_suppression(after)
            suppressions = [suppression] if suppression else []
            suppressions += await _soft_suppressions(steps, [after], self._policy, self._clock())
            await steps.suppress(strongest(suppressions), actor=by)
            if new_event is not None:
                await steps.publish([(feedback_id, new_event)])
            else:
                await steps.clear_published_status(feedback_id)
            if old_event is not None:
                taken_back.append(old_event)
        if taken_back:
            # The corrected event, if any, is counted when it comes back through the status queue.
            counts = tally(taken_back)
            await self._counters.add(type(counts)({key: -count for key, count in counts.items()}))


def _with_class(report: Report, feedback_class: FeedbackClass) -> Report:
    return replace(report, feedback_class=feedback_class)


def _same_outcome(old: StatusEvent | None, new: StatusEvent | None) -> bool:
    if old is None or new is None:
        return False
    return old.status == new.status and old.feedback_class == new.feedback_class


class PruneFeedback:
    """Delete feedback received more than `retention` ago (a periodic background round). What it
    caused stays: a suppression outlives the feedback that made it, and the status events went out."""

    def __init__(self, store: FeedbackStore, retention: timedelta) -> None:
        self._store = store
        self._retention = retention

    async def __call__(self) -> int:
        return await self._store.prune(_now() - self._retention)
