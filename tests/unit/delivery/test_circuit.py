"""The circuit breaker of one server: what opens it, what does not, and how it closes again."""

import pytest

from services.delivery.domain.circuit import Circuit, CircuitPolicy, CircuitState
from services.delivery.domain.outcomes import Deferred, Failed, Sent, Unknown

POLICY = CircuitPolicy(failure_threshold=3, cooldown_seconds=30)
UNREACHABLE = Deferred(None, None, "could not open a connection: Connection refused", connection_failure=True)


def test_it_opens_on_the_threshold_th_connection_failure_in_a_row_and_says_so_once():
    circuit = Circuit(POLICY)

    opened = [circuit.observe(UNREACHABLE, now=float(second)) for second in range(5)]

    assert opened == [False, False, True, False, False]
    assert circuit.state is CircuitState.OPEN
    assert not circuit.lets_messages_through
    assert circuit.consecutive_failures == 3, "failures reported after opening are not counted"
    assert circuit.last_failure == "could not open a connection: Connection refused"
    assert circuit.probe_at == 2 + 30


@pytest.mark.parametrize(
    "reached",
    [
        Sent("Q1", 250, "2.0.0 Ok"),
        Failed(550, "5.1.1", "5.1.1 No such user"),
        Deferred(451, "4.7.1", "4.7.1 Greylisted"),
        Deferred(421, None, "421 Service shutting down"),
        Unknown("connection lost after the data"),
    ],
)
def test_any_answer_from_the_server_ends_the_streak(reached):
    circuit = Circuit(POLICY)
    circuit.observe(UNREACHABLE, now=0)
    circuit.observe(UNREACHABLE, now=1)

    circuit.observe(reached, now=2)
    opened = circuit.observe(UNREACHABLE, now=3)

    assert not opened
    assert circuit.state is CircuitState.CLOSED
    assert circuit.consecutive_failures == 1


def test_a_message_that_reaches_an_open_circuits_server_does_not_close_it():
    circuit = Circuit(POLICY)
    for second in range(3):
        circuit.observe(UNREACHABLE, now=second)

    circuit.observe(Sent("Q1", 250, "2.0.0 Ok"), now=4)

    assert circuit.state is CircuitState.OPEN


def test_the_probe_waits_for_the_cool_down():
    circuit = Circuit(POLICY)
    for second in range(3):
        circuit.observe(UNREACHABLE, now=second)

    assert not circuit.start_probe(now=31.9)
    assert circuit.start_probe(now=32)
    assert circuit.state is CircuitState.HALF_OPEN
    assert not circuit.lets_messages_through
    assert not circuit.start_probe(now=33), "one probe at a time"


def test_a_successful_probe_closes_the_circuit_and_forgets_the_failures():
    circuit = Circuit(POLICY)
    for second in range(3):
        circuit.observe(UNREACHABLE, now=second)
    circuit.start_probe(now=40)

    circuit.probe_succeeded()

    assert circuit.state is CircuitState.CLOSED and circuit.lets_messages_through
    assert (circuit.consecutive_failures, circuit.last_failure, circuit.probe_at) == (0, "", None)
    assert [circuit.observe(UNREACHABLE, now=50 + n) for n in range(3)] == [False, False, True]


def test_a_failed_probe_reopens_for_another_cool_down():
    circuit = Circuit(POLICY)
    for second in range(3):
        circuit.observe(UNREACHABLE, now=second)
    circuit.start_probe(now=40)

    circuit.probe_failed("Connection failed: TLS failed: certificate has expired", now=40)

    assert circuit.state is CircuitState.OPEN
    assert circuit.probe_at == 70
    assert circuit.consecutive_failures == 4
    assert circuit.last_failure == "Connection failed: TLS failed: certificate has expired"
