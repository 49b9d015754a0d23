import pytest
from pydantic import ValidationError

from services.bounces.settings import BouncesSettings


def test_feedback_is_kept_at_least_as_long_as_soft_bounces_are_counted():
    with pytest.raises(ValidationError, match="SENDPOOL_BOUNCES_FEEDBACK_RETENTION_DAYS must be at least"):
        BouncesSettings(feedback_retention_days=3, soft_window_days=7)
    assert BouncesSettings(feedback_retention_days=7, soft_window_days=7).feedback_retention_days == 7
