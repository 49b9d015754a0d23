"""What ends a run of the harness: `RunFailed`, and `TimedOut` when something did not happen in time."""


class RunFailed(RuntimeError):
    """The run cannot go on (a service, an API call or the campaign failed); the message says why."""


class TimedOut(RunFailed, TimeoutError):
    """Something did not happen in time: a `RunFailed` to the tools, a `TimeoutError` to the tests."""
