"""The catalog as a real process on this run's database and vhost, plus the parties it talks to."""

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from faststream.rabbit import RabbitBroker, RabbitQueue, RabbitResponse
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel

from shared.contracts import CatalogEvent, ProbeRequest, ProbeResult
from shared.messaging import rpc_reply
from shared.topology import CATALOG_EXCHANGE, CATALOG_RPC_QUEUE_NAME, probe_queue
from tests.integration.catalog.support import (
    GOOD_HOST,
    OPERATOR_TOKEN,
    client,
    install_server_type_plugin,
    unique,
)
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess

PROBE_TIMEOUT_SECONDS = 5


@pytest.fixture(scope="package")
def catalog_log(logs_dir):
    return logs_dir / "catalog.log"


@pytest.fixture(scope="package")
def catalog(service_env, catalog_log, tmp_path_factory) -> ServiceProcess:
    """The catalog with a third-party server type installed, as an operator would install one."""
    plugins = install_server_type_plugin(tmp_path_factory.mktemp("plugins"))
    env = {
        **service_env,
        "SENDPOOL_CATALOG_PROBE_TIMEOUT_SECONDS": str(PROBE_TIMEOUT_SECONDS),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")])),
    }
    process = ServiceProcess("catalog", free_port(), env, catalog_log).start()
    yield process
    process.stop()


@pytest.fixture(scope="package")
def responses() -> list[httpx.Response]:
    """Every HTTP response any test client received, to look for leaked secrets."""
    return []


@pytest.fixture(scope="package")
async def operator(catalog, responses) -> AsyncIterator[httpx.AsyncClient]:
    async with client(catalog.url, OPERATOR_TOKEN, responses) as api:
        yield api


@pytest.fixture(scope="package")
async def anonymous(catalog, responses) -> AsyncIterator[httpx.AsyncClient]:
    async with client(catalog.url, None, responses) as api:
        yield api


@dataclass
class Tenant:
    id: str
    token: str
    api: httpx.AsyncClient


@pytest.fixture
async def new_tenant(catalog, operator, responses) -> AsyncIterator[Callable[..., Awaitable[Tenant]]]:
    """Creates a tenant (optionally on a plan) and returns it with a client holding its token."""
    clients: list[httpx.AsyncClient] = []

    async def create(plan_id: str | None = None) -> Tenant:
        created = await operator.post("/tenants", json={"name": unique("tenant"), "plan_id": plan_id})
        assert created.status_code == 201, created.text
        body = created.json()
        api = client(catalog.url, body["token"], responses)
        clients.append(api)
        return Tenant(id=body["id"], token=body["token"], api=api)

    yield create
    for api in clients:
        await api.aclose()


@dataclass
class Bus:
    """The test's own connection to the run's vhost: it hears catalog events and asks the RPC queue."""

    broker: RabbitBroker
    events: list[CatalogEvent] = field(default_factory=list)  # on sendpool.catalog since the package started
    raw_events: list[bytes] = field(default_factory=list)  # the same, as published

    async def ask(self, request: BaseModel, timeout: float = 5) -> dict | None:
        reply = await self.broker.request(
            request.model_dump_json().encode(),
            queue=CATALOG_RPC_QUEUE_NAME,
            timeout=timeout,
            content_type="application/json",
        )
        return json.loads(reply.body) if reply.body else None


@pytest.fixture(scope="package")
async def bus(amqp_url, catalog) -> AsyncIterator[Bus]:
    bus = Bus(RabbitBroker(amqp_url, logger=None))

    @bus.broker.subscriber(
        RabbitQueue(unique("catalog-events-test"), auto_delete=True, routing_key="catalog.#"),
        CATALOG_EXCHANGE,
    )
    async def collect(event: CatalogEvent, message: RabbitMessage) -> None:
        bus.raw_events.append(message.body)
        bus.events.append(event)

    async with bus.broker:
        await bus.broker.start()
        yield bus


@pytest.fixture
async def probe_worker(amqp_url, catalog) -> AsyncIterator[list[ProbeRequest]]:
    """Stands in for the SMTP delivery worker: a probe passes for GOOD_HOST and fails for any other host."""
    broker = RabbitBroker(amqp_url, logger=None)
    received: list[ProbeRequest] = []

    @broker.subscriber(probe_queue("smtp"))
    async def probe(request: ProbeRequest) -> RabbitResponse:
        received.append(request)
        host, port = request.settings.type_settings["host"], request.settings.type_settings["port"]
        if host == GOOD_HOST:
            return rpc_reply(ProbeResult(ok=True, message="Connection successful."))
        return rpc_reply(ProbeResult(ok=False, message=f"cannot connect to {host}:{port}"))

    async with broker:
        await broker.start()
        yield received
