"""Which delay queue a waiting message goes to."""

import pytest

from shared.topology import delay_step, delay_step_within


@pytest.mark.parametrize(
    ("seconds", "step"), [(0.2, 1), (1, 1), (4.9, 1), (61, 60), (299, 60), (300, 300), (90000, 3600)]
)
def test_a_message_waiting_for_capacity_never_comes_back_after_it(seconds, step):
    assert delay_step_within(seconds) == step


@pytest.mark.parametrize(("seconds", "step"), [(0.2, 1), (1, 1), (4.9, 5), (61, 300), (90000, 3600)])
def test_a_retry_waits_at_least_its_backoff(seconds, step):
    assert delay_step(seconds) == step
