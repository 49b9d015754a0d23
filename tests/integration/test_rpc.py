"""Requests over RabbitMQ with `RpcClient`: answered side by side, and failing clearly."""

import asyncio
import json
import time

import pytest
from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitBroker, RabbitResponse

from shared.contracts import ProbeResult
from shared.messaging import rpc_reply
from shared.rpc import RpcClient

QUEUE = "rpc-test.slow-answers"


@pytest.fixture
async def slow_responder(amqp_url):
    """Answers each request after `sleep` seconds, as a connection test of a slow server would."""
    broker = RabbitBroker(amqp_url, logger=None)

    @broker.subscriber(QUEUE)
    async def answer(body: dict) -> RabbitResponse:
        await asyncio.sleep(body["sleep"])
        return rpc_reply(ProbeResult(ok=True, message=str(body["n"])))

    async with broker:
        await broker.start()
        yield


@pytest.fixture
async def rpc(amqp_url):
    client = RpcClient(amqp_url, name="test")
    yield client
    await client.close()


def ask(n: int, sleep: float) -> bytes:
    return json.dumps({"n": n, "sleep": sleep}).encode()


async def test_requests_are_answered_side_by_side_each_with_its_own_answer(slow_responder, rpc):
    started = time.monotonic()
    answers = await asyncio.gather(*(rpc.request(ask(n, 1.0), queue=QUEUE, timeout=10) for n in range(4)))
    took = time.monotonic() - started

    assert [json.loads(answer)["message"] for answer in answers] == ["0", "1", "2", "3"]
    assert took < 2.5, f"four 1-second requests took {took:.1f}s: they waited for each other"


async def test_a_request_nobody_answers_in_time_times_out_and_its_late_answer_is_dropped(slow_responder, rpc):
    with pytest.raises(TimeoutError):
        await rpc.request(ask(1, 1.0), queue=QUEUE, timeout=0.3)
    await asyncio.sleep(1.0)  # the late answer arrives meanwhile

    assert json.loads(await rpc.request(ask(2, 0), queue=QUEUE, timeout=5))["message"] == "2"


async def test_a_request_to_a_queue_nobody_declared_is_refused(rpc):
    with pytest.raises(DeliveryError):
        await rpc.request(ask(1, 0), queue="rpc-test.nobody-listens", timeout=5)
