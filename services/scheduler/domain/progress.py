"""A campaign's progress: where its run stands, how fast it moves, and when it should end.

The rate is measured, not guessed: a periodic tick records how many of a run's messages were final
at that moment (a `ProgressSample`), and the rate is how many more are final now than at the oldest
sample of the last few minutes, over the time between the two. Two numbers per sample keep it cheap
for a run of any size; the window makes it follow what the run does now (a server paused, a cap
reached) rather than its average since launch.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.scheduler.domain.status import FINAL
from shared.contracts import CampaignProgress

RATE_WINDOW = timedelta(minutes=5)
"""How far back the rate looks: long enough to smooth bursts, short enough to follow a change."""

MIN_RATE_SPAN = timedelta(seconds=1)
"""Two samples closer than this say nothing reliable about a rate."""

SAMPLES_KEPT = RATE_WINDOW * 2
"""Samples older than this are pruned: the rate never reads them."""


@dataclass(frozen=True)
class ProgressSample:
    """How many of a run's messages were final at `at`."""

    at: datetime
    final: int


def final_count(counts: Mapping[str, int]) -> int:
    """Messages in a final state. `bounced` and `complained` are counted beside `sent`, not again."""
    return sum(count for status, count in counts.items() if status in FINAL)


def send_rate_per_minute(samples: Sequence[ProgressSample], now: ProgressSample) -> float:
    """Messages that became final per minute, from the oldest sample within `RATE_WINDOW` of `now`
    to `now`; 0.0 without such a sample far enough back. Never negative: a count read lower than a
    sample (it cannot drop, but clocks and reads may disagree) is no progress, not a rewind."""
    window = [sample for sample in samples if now.at - RATE_WINDOW <= sample.at <= now.at]
    if not window:
        return 0.0
    oldest = min(window, key=lambda sample: sample.at)
    span = now.at - oldest.at
    if span < MIN_RATE_SPAN:
        return 0.0
    return max(now.final - oldest.final, 0) / (span.total_seconds() / 60)


def estimated_completion(total: int, final: int, rate_per_minute: float, now: datetime) -> datetime | None:
    """When the last message should be final at `rate_per_minute`: `now` once none is left, None
    while nothing moves (no rate, no estimate rather than one centuries away)."""
    remaining = max(total - final, 0)
    if remaining == 0:
        return now
    if rate_per_minute <= 0:
        return None
    return now + timedelta(minutes=remaining / rate_per_minute)


def campaign_progress(
    *,
    total: int,
    expanded: int,
    counts: Mapping[str, int],
    per_server: Mapping[str, int],
    samples: Sequence[ProgressSample],
    now: datetime,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> CampaignProgress:
    """The run's progress at `now`, its counts read at `now` and its rate from `samples`.

    A finished run's progress no longer moves: its rate is the whole run's (final messages over the
    time from start to finish) and its completion the time it finished, so that two reads of a
    finished campaign agree, rather than a window sliding past its end."""
    final = final_count(counts)
    completion: datetime | None
    if finished_at is not None and started_at is not None:
        minutes = max((finished_at - started_at).total_seconds(), MIN_RATE_SPAN.total_seconds()) / 60
        rate, completion = final / minutes, finished_at
    else:
        rate = send_rate_per_minute(samples, ProgressSample(at=now, final=final))
        completion = estimated_completion(total, final, rate, now)
    return CampaignProgress(
        total=total,
        expanded=expanded,
        counts=dict(counts),
        per_server=dict(per_server),
        send_rate_per_minute=round(rate, 2),
        estimated_completion_at=completion,
    )
