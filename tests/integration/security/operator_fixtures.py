"""The real catalog for the operator-sanction attacks, with the parties its tests need: the operator's
and tenants' API clients, a connection to its RPC queue, and a stand-in SMTP worker whose probes pass."""

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from faststream.rabbit import RabbitBroker, RabbitResponse
from pydantic import BaseModel

from shared.contracts import ProbeRequest, ProbeResult
from shared.messaging import rpc_reply
from shared.topology import CATALOG_RPC_QUEUE_NAME, probe_queue
from tests.integration.catalog.support import OPERATOR_TOKEN, client, unique
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess


@pytest.fixture(scope="module")
def catalog(service_env, logs_dir) -> ServiceProcess:
    process = ServiceProcess("catalog", free_port(), service_env, logs_dir / "operator-catalog.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
async def operator(catalog) -> AsyncIterator[httpx.AsyncClient]:
    async with client(catalog.url, OPERATOR_TOKEN, []) as api:
        yield api


@dataclass
class Tenant:
    id: str
    api: httpx.AsyncClient


@pytest.fixture
async def new_tenant(catalog, operator) -> AsyncIterator[Callable[..., Awaitable[Tenant]]]:
    """Creates a tenant (optionally on a plan) and returns it with a client holding its token."""
    clients: list[httpx.AsyncClient] = []

    async def create(plan_id: str | None = None) -> Tenant:
        created = await operator.post("/tenants", json={"name": unique("tenant"), "plan_id": plan_id})
        assert created.status_code == 201, created.text
        api = client(catalog.url, created.json()["token"], [])
        clients.append(api)
        return Tenant(id=created.json()["id"], api=api)

    yield create
    for api in clients:
        await api.aclose()


@pytest.fixture(scope="module")
async def catalog_rpc(amqp_url, catalog) -> AsyncIterator[Callable[[BaseModel], Awaitable[dict | None]]]:
    """Asks `catalog.rpc` as another service does (the bounces service, a delivery worker)."""
    async with RabbitBroker(amqp_url, logger=None) as broker:
        await broker.start()

        async def ask(request: BaseModel) -> dict | None:
            reply = await broker.request(
                request.model_dump_json().encode(),
                queue=CATALOG_RPC_QUEUE_NAME,
                timeout=5,
                content_type="application/json",
            )
            return json.loads(reply.body) if reply.body else None

        yield ask


@pytest.fixture(scope="module")
async def passing_smtp_probes(amqp_url, catalog) -> AsyncIterator[None]:
    """Stands in for the SMTP delivery worker: every connection test passes, so servers can be enabled."""
    async with RabbitBroker(amqp_url, logger=None) as broker:

        @broker.subscriber(probe_queue("smtp"))
        async def probe(request: ProbeRequest) -> RabbitResponse:
            return rpc_reply(ProbeResult(ok=True, message="Connection successful."))

        await broker.start()
        yield


async def active_server(api: httpx.AsyncClient, **fields: object) -> dict:
    """A server saved, tested and enabled through `api` (an SMTP one unless `fields` say otherwise)."""
    body = {
        "name": unique("server"),
        "type": "smtp",
        "settings": {"host": "smtp.relay.example", "port": 2525, "username": "mailer", "password": "pw-1"},
        **fields,
    }
    created = await api.post("/servers", json=body)
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    tested = await api.post(f"/servers/{server_id}/test")
    assert tested.status_code == 200 and tested.json()["ok"] is True, tested.text
    enabled = await api.post(f"/servers/{server_id}/enable")
    assert enabled.status_code == 200, enabled.text
    return enabled.json()
