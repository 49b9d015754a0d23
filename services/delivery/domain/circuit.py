"""A circuit breaker per sending server: stop sending through a server that cannot be reached.

Closed: messages go through, and connection-level failures (no connection, TLS failed,
credentials refused) are counted; anything that reaches the server, even a refused recipient,
ends the streak. After `failure_threshold` failures in a row the circuit opens: no more
messages are sent through the server. Once the cool-down has passed, one probe tests the
server (half-open); if it connects the circuit closes, if not it stays open for another
cool-down. Times are plain seconds from a monotonic clock, given by the caller.
"""

from dataclasses import dataclass
from enum import StrEnum

from services.delivery.domain.outcomes import Deferred, SendOutcome


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitPolicy:
    failure_threshold: int
    cooldown_seconds: float


@dataclass
class Circuit:
    policy: CircuitPolicy
    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    last_failure: str = ""
    probe_at: float | None = None
    """When an open circuit may be probed."""

    @property
    def lets_messages_through(self) -> bool:
        return self.state is CircuitState.CLOSED

    def observe(self, outcome: SendOutcome, now: float) -> bool:
        """Count what a send came to; True when it opens the circuit."""
        if isinstance(outcome, Deferred) and outcome.connection_failure:
            return self.connection_failed(outcome.reply_text, now)
        self.reached_server()
        return False

    def connection_failed(self, reason: str, now: float) -> bool:
        """Count a failed send; True when this failure opens the circuit.

        Sends already under way when the circuit opened report later; they neither count nor
        reopen it, so the server is announced unhealthy once.
        """
        if self.state is not CircuitState.CLOSED:
            return False
        self.consecutive_failures += 1
        self.last_failure = reason
        if self.consecutive_failures < self.policy.failure_threshold:
            return False
        self._open(now)
        return True

    def reached_server(self) -> None:
        """A send reached the server (whatever it answered): the streak of failures is over.

        An open circuit stays open: only its probe, made on purpose, may close it.
        """
        if self.state is CircuitState.CLOSED:
            self.consecutive_failures = 0

    def start_probe(self, now: float) -> bool:
        """Go half-open if the cool-down is over; True when the caller should probe now."""
        if self.state is not CircuitState.OPEN or self.probe_at is None or now < self.probe_at:
            return False
        self.state = CircuitState.HALF_OPEN
        return True

    def probe_succeeded(self) -> None:
        self.state = CircuitState.CLOSED
        self.consecutive_failures = 0
        self.last_failure = ""
        self.probe_at = None

    def probe_failed(self, reason: str, now: float) -> None:
        self.consecutive_failures += 1
        self.last_failure = reason
        self._open(now)

    def _open(self, now: float) -> None:
        self.state = CircuitState.OPEN
        self.probe_at = now + self.policy.cooldown_seconds
