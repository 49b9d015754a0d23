"""When a deferred message is retried, and when it is given up."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.delivery.domain.retry import GiveUp, RetryLater, RetryPolicy, next_attempt, plan_retry
from tests.unit.delivery.messages import send_requested

POLICY = RetryPolicy(max_attempts=5, base_seconds=30, max_age_seconds=86400)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def plan(attempt: int, *, age: timedelta = timedelta(0), retry_after: float | None = None):
    return plan_retry(POLICY, attempt=attempt, first_attempt_at=NOW - age, now=NOW, retry_after=retry_after)


def test_waits_double_with_each_attempt():
    assert [plan(attempt) for attempt in (1, 2, 3, 4)] == [
        RetryLater(30),
        RetryLater(60),
        RetryLater(120),
        RetryLater(240),
    ]


def test_a_server_asking_for_a_longer_wait_gets_it():
    assert plan(1, retry_after=600) == RetryLater(600)
    assert plan(3, retry_after=10) == RetryLater(120)


def test_gives_up_on_the_last_attempt():
    assert plan(5) == GiveUp("deferred on each of 5 attempts (at most 5)")


def test_gives_up_when_the_retry_would_come_after_the_maximum_age():
    assert isinstance(plan(2, age=timedelta(hours=23, minutes=59, seconds=30)), GiveUp)
    assert plan(2, age=timedelta(hours=23)) == RetryLater(60)


def test_next_attempt_counts_up_and_avoids_the_servers_that_deferred_it():
    first_server, second_server = uuid4(), uuid4()
    send = send_requested()

    retry = next_attempt(next_attempt(send, first_server), second_server)
    again = next_attempt(retry, second_server)

    assert retry.attempt == 3
    assert retry.avoid_server_ids == [first_server, second_server]
    assert again.avoid_server_ids == [first_server, second_server]
    assert (retry.message_id, retry.content, retry.first_attempt_at) == (
        send.message_id,
        send.content,
        send.first_attempt_at,
    )


def test_a_new_attempt_forgets_that_the_previous_one_was_redelivered():
    server = uuid4()
    send = send_requested().avoiding(server, redelivered=True)

    assert send.redelivered and send.avoiding(uuid4()).redelivered, "it holds for the rest of the attempt"
    assert not next_attempt(send, server).redelivered, "the next attempt is claimed afresh"
