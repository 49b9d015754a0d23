"""A worker's admission requests over real RabbitMQ: answered by a router, or failing in a way the
worker waits out (no router yet, no answer in time, an unreadable answer)."""

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from faststream.rabbit import RabbitBroker, RabbitResponse

from services.delivery.adapters.router_admissions import RouterAdmissionsRpc
from services.delivery.app.ports import AdmissionUnavailable
from shared.contracts import AdmissionReply, AdmissionRequest
from shared.messaging import rpc_reply
from shared.rpc import RpcClient
from shared.topology import ROUTER_ADMISSIONS_QUEUE
from tests.support.infra import create_vhost, delete_vhost

REQUEST = AdmissionRequest(server_id=uuid4(), recipient="ada@inbox.example", routed_at=datetime.now(UTC))


@pytest.fixture
async def own_vhost():
    """Its own vhost: whether a router ever declared router.admissions is this test's business."""
    url = create_vhost()
    yield url
    delete_vhost(url)


@pytest.fixture
async def admissions(own_vhost):
    rpc = RpcClient(own_vhost, name="admissions-test")
    yield RouterAdmissionsRpc(rpc, timeout_seconds=1.0)
    await rpc.close()


@asynccontextmanager
async def stand_in_router(amqp_url: str, answer):
    broker = RabbitBroker(amqp_url, logger=None)

    @broker.subscriber(ROUTER_ADMISSIONS_QUEUE)
    async def on_admission(request: AdmissionRequest) -> RabbitResponse:
        return await answer(request)

    async with broker:
        await broker.start()
        yield


async def test_a_router_s_answer_comes_back_to_the_worker(own_vhost, admissions):
    retry_at = datetime(2026, 11, 22, 12, 2, 1, tzinfo=UTC)

    async def at_cap(request: AdmissionRequest) -> RabbitResponse:
        assert request == REQUEST
        return rpc_reply(AdmissionReply(admitted=False, retry_at=retry_at, reason="at cap (5 per second)"))

    async with stand_in_router(own_vhost, at_cap):
        reply = await admissions.admit(REQUEST)

    assert reply == AdmissionReply(admitted=False, retry_at=retry_at, reason="at cap (5 per second)")


async def test_without_any_router_the_request_is_not_delivered(admissions):
    with pytest.raises(AdmissionUnavailable, match="not delivered"):
        await admissions.admit(REQUEST)


async def test_a_router_that_does_not_answer_in_time_is_unavailable(own_vhost, admissions):
    async def stuck(request: AdmissionRequest) -> RabbitResponse:
        await asyncio.sleep(3)
        return rpc_reply(AdmissionReply(admitted=True))

    async with stand_in_router(own_vhost, stuck):
        with pytest.raises(AdmissionUnavailable, match="no router answered within 1s"):
            await admissions.admit(REQUEST)


async def test_an_unreadable_answer_is_unavailable_not_an_admission(own_vhost, admissions):
    async def garbled(request: AdmissionRequest) -> RabbitResponse:
        return RabbitResponse(b'{"admitted": "perhaps"}')

    async with stand_in_router(own_vhost, garbled):
        with pytest.raises(AdmissionUnavailable, match="does not validate"):
            await admissions.admit(REQUEST)
