"""When a failing endpoint is tried again, and when it is given up on."""

import random
from datetime import datetime, timedelta


def retry_delay(
    failures: int, *, base_seconds: float, max_seconds: float, rand: random.Random | None = None
) -> float:
    """Seconds before the next try after `failures` failures in a row: `base_seconds` doubled per
    failure up to `max_seconds`, with "equal jitter" (between half of that and all of it), so that
    endpoints that failed together (a receiver's outage) do not all come back at the same instant."""
    if failures < 1:
        return 0.0
    ceiling = min(max_seconds, base_seconds * 2.0 ** min(failures - 1, 62))
    jitter: float = rand.random() if rand is not None else random.random()
    return ceiling / 2 + jitter * ceiling / 2


def should_disable(failing_since: datetime | None, now: datetime, disable_after: timedelta) -> bool:
    """An endpoint that has failed without a success for `disable_after` is disabled."""
    return failing_since is not None and now - failing_since >= disable_after
