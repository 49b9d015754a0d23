"""Which errors are transient, how long an outage is waited out, and the consumer's retry in memory."""

from uuid import uuid4

import aiormq.exceptions
import asyncpg
import psycopg
import pytest
from faststream.rabbit import RabbitMessage, TestRabbitBroker
from pydantic import BaseModel

from shared.messaging import make_broker
from shared.metrics import REGISTRY
from shared.transient import (
    MAX_PAUSE_SECONDS,
    OUTAGE_OVER_AFTER_SECONDS,
    TransientFault,
    TransientFaults,
    next_pause,
    transient_fault,
)


class CatalogUnavailable(TransientFault):
    fault = "catalog"


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), "database"),
        (asyncpg.CannotConnectNowError("the database system is starting up"), "database"),
        (asyncpg.TooManyConnectionsError("too many clients"), "database"),
        (
            asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
            "database",
        ),
        (asyncpg.InterfaceError("connection is closed"), "database"),
        (psycopg.OperationalError("connection failed"), "database"),
        (ConnectionRefusedError(111, "Connect call failed"), "network"),
        (OSError("Multiple exceptions: [Errno 111] Connect call failed"), "network"),
        (aiormq.exceptions.AMQPConnectionError("closed"), "broker"),
        (aiormq.exceptions.ChannelInvalidStateError("channel closed"), "broker"),
        (TimeoutError(), "timeout"),
        (CatalogUnavailable("no answer within 10s"), "catalog"),
    ],
)
def test_unreachable_dependencies_are_transient(error, fault):
    assert transient_fault(error) == fault


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad"),
        KeyError("x"),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        FileNotFoundError("/usr/sbin/sendmail"),
        aiormq.exceptions.ChannelNotFoundEntity("NOT_FOUND - no exchange"),
        aiormq.exceptions.DeliveryError(None, None),
    ],
)
def test_errors_of_the_message_or_the_code_are_not(error):
    assert transient_fault(error) is None


def test_an_error_raised_from_a_transient_one_is_transient_but_one_raised_while_handling_it_is_not():
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError as exc:
            raise RuntimeError("the store failed") from exc
    except RuntimeError as explicit:
        assert transient_fault(explicit) == "network"
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError:
            raise KeyError("a bug in the handler") from None
    except KeyError as unrelated:
        assert transient_fault(unrelated) is None


def test_backoff_doubles_from_half_a_second_up_to_thirty():
    pauses, pause = [], None
    for _ in range(9):
        pause = next_pause(pause)
        pauses.append(pause)
    assert pauses == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert MAX_PAUSE_SECONDS == 30


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_counts_from_the_outages_start_not_from_each_messages_first_failure():
    clock = Clock()
    faults = TransientFaults("unit", budget_seconds=600, clock=clock)
    assert faults.deadline_for_new_wait() == 1600
    faults.failed("database", ConnectionRefusedError(), will_retry=True)
    faults.waiting += 1

    clock.now += 590  # a message that starts waiting late in the outage gets what is left of it
    assert faults.deadline_for_new_wait() == 1600
    clock.now += 20
    assert faults.deadline_for_new_wait() == clock.now, "an outage past its budget: no more waiting"

    faults.recovered()  # a retried message went through: the next outage has a whole budget
    faults.waiting -= 1
    assert faults.deadline_for_new_wait() == clock.now + 600


def test_an_outage_nobody_saw_end_is_over_after_a_quiet_minute():
    clock = Clock()
    faults = TransientFaults("unit", budget_seconds=600, clock=clock)
    for _ in range(24):  # failing every 30 s for 12 minutes: the outage is older than its budget
        faults.failed("database", ConnectionRefusedError(), will_retry=False)
        clock.now += 30
    assert faults.deadline_for_new_wait() == clock.now
    clock.now += OUTAGE_OVER_AFTER_SECONDS + 1
    assert faults.deadline_for_new_wait() == clock.now + 600


def test_one_line_per_outage_and_interval_however_many_messages_fail(capsys):
    clock = Clock()
    faults = TransientFaults("unit", budget_seconds=600, clock=clock)
    for _ in range(500):
        faults.failed("database", ConnectionRefusedError(111, "Connect call failed"), will_retry=True)
    clock.now += 31
    faults.failed("database", ConnectionRefusedError(111, "Connect call failed"), will_retry=True)
    faults.recovered()
    lines = [line for line in capsys.readouterr().out.splitlines() if "database" in line]
    assert len(lines) == 3, lines
    assert "database unreachable for 0s" in lines[0] and "ConnectionRefusedError" in lines[0]
    assert "database unreachable for 31s" in lines[1]
    assert "database reachable again after 31s" in lines[2]


class Order(BaseModel):
    order_id: int


async def test_the_consumer_calls_the_handler_again_for_the_same_message_until_the_database_is_back():
    service = f"unit-{uuid4().hex[:6]}"
    broker = make_broker("amqp://unused/", service, transient_retry_seconds=60)
    calls: list[int] = []
    redelivered: list[bool] = []

    @broker.subscriber("unit-transient")
    async def handle(order: Order, message: RabbitMessage) -> None:
        calls.append(order.order_id)
        redelivered.append(message.raw_message.redelivered)
        if len(calls) < 3:
            raise asyncpg.CannotConnectNowError("the database system is starting up")

    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish({"order_id": 7}, queue="unit-transient")

    assert calls == [7, 7, 7]
    # A handler that did part of its work before failing sees the retry as the redelivery it stands for.
    assert redelivered == [False, True, True]
    retried = REGISTRY.get_sample_value(
        "sendpool_transient_retries_total", {"service": service, "fault": "database"}
    )
    assert retried == 2
    received = REGISTRY.get_sample_value(
        "faststream_received_messages_total",
        {"app_name": f"sendpool-{service}", "broker": "rabbitmq", "handler": "default.unit-transient"},
    )
    assert received == 1, "the message metrics see one message, however often it was tried"
