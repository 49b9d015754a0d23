"""Stand-ins for the router's ports that a test does not exercise, or only counts."""

from uuid import UUID

from services.router.app.ports import Decision


class Unused:
    """A port the test expects the router not to touch."""

    def __getattr__(self, name):
        raise AssertionError(f"{name} was not expected to be called")


class CountingMetrics:
    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    def decided(self, decision: Decision, server_id: UUID | None = None) -> None:
        self.decisions.append(decision)
