import time


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.5, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; return that, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
