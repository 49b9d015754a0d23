"""The send rate and estimated completion of a campaign's run, from final-count samples."""

from datetime import UTC, datetime, timedelta

from services.scheduler.domain.progress import (
    RATE_WINDOW,
    ProgressSample,
    campaign_progress,
    estimated_completion,
    final_count,
    send_rate_per_minute,
)

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def at(seconds: float, final: int) -> ProgressSample:
    return ProgressSample(at=T0 + timedelta(seconds=seconds), final=final)


def test_final_count_adds_final_states_and_not_feedback_beside_them():
    counts = {"sent": 90, "failed": 5, "suppressed": 3, "unknown": 1, "cancelled": 1, "routed": 7}
    assert final_count({**counts, "bounced": 4, "complained": 2, "queued": 11}) == 100


def test_the_rate_is_the_final_count_gained_since_the_oldest_sample_in_the_window():
    samples = [at(0, 0), at(60, 600), at(120, 1200)]
    assert send_rate_per_minute(samples, at(180, 1500)) == 500.0  # 1500 in 3 minutes


def test_samples_older_than_the_window_are_ignored_so_the_rate_follows_a_slowdown():
    old = RATE_WINDOW.total_seconds()
    samples = [at(0, 0), at(old, 100_000)]
    now = at(old + 120, 100_200)
    # From the sample at the start of the window (the old one is 7 minutes back): 200 in 2 minutes.
    assert send_rate_per_minute(samples, now) == 100.0


def test_no_rate_without_a_sample_far_enough_back():
    assert send_rate_per_minute([], at(0, 10)) == 0.0
    assert send_rate_per_minute([at(0, 10)], at(0.5, 20)) == 0.0
    assert send_rate_per_minute([at(100, 10)], at(50, 20)) == 0.0  # a sample "from the future"


def test_a_count_read_lower_than_a_sample_is_no_progress_not_a_negative_rate():
    assert send_rate_per_minute([at(0, 500)], at(60, 400)) == 0.0


def test_the_estimate_is_what_remains_at_the_current_rate():
    now = T0
    assert estimated_completion(1_000_000, 400_000, 60_000.0, now) == now + timedelta(minutes=10)


def test_no_estimate_while_nothing_moves_and_now_once_nothing_remains():
    assert estimated_completion(1000, 10, 0.0, T0) is None
    assert estimated_completion(1000, 1000, 0.0, T0) == T0
    # More final than the total (messages of an older list snapshot): nothing remains.
    assert estimated_completion(10, 12, 5.0, T0) == T0


def test_campaign_progress_puts_the_figures_together():
    progress = campaign_progress(
        total=3000,
        expanded=3000,
        counts={"sent": 1400, "failed": 100, "routed": 1500, "bounced": 7},
        per_server={"a": 1000, "b": 400},
        samples=[at(0, 0)],
        now=T0 + timedelta(minutes=1),
    )
    assert progress.send_rate_per_minute == 1500.0
    assert progress.estimated_completion_at == T0 + timedelta(minutes=2)
    assert progress.counts["bounced"] == 7
    assert progress.per_server == {"a": 1000, "b": 400}


def test_a_finished_runs_progress_is_the_same_whenever_it_is_read():
    started, finished = T0 - timedelta(minutes=10), T0 - timedelta(minutes=8)

    def read(when: datetime):
        return campaign_progress(
            total=600,
            expanded=600,
            counts={"sent": 590, "failed": 10},
            per_server={},
            samples=[ProgressSample(at=when - timedelta(minutes=1), final=0)],
            now=when,
            started_at=started,
            finished_at=finished,
        )

    first, later = read(T0), read(T0 + timedelta(hours=1))
    assert first == later
    assert first.estimated_completion_at == finished
    assert first.send_rate_per_minute == 300.0  # 600 final messages over the run's 2 minutes
