"""The catalog as a real process on this run's database and vhost, plus the parties it talks to."""

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import httpx
import pytest
from faststream.rabbit import RabbitBroker, RabbitQueue, RabbitResponse
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel

from shared.contracts import (
    CampaignOwner,
    CampaignOwnerRequest,
    CatalogEvent,
    ProbeRequest,
    ProbeResult,
    ServerConnectionSettings,
    ServerSettingsReply,
    ServerSettingsRequest,
)
from shared.messaging import rpc_reply
from shared.rpc import RpcClient
from shared.topology import CATALOG_EXCHANGE, CATALOG_RPC_QUEUE_NAME, SCHEDULER_RPC_QUEUE, probe_queue
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
CAMPAIGN_OWNER_TIMEOUT_SECONDS = 2
SERVER_METRICS_INTERVAL_SECONDS = 0.2


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
        "SENDPOOL_CATALOG_CAMPAIGN_OWNER_TIMEOUT_SECONDS": str(CAMPAIGN_OWNER_TIMEOUT_SECONDS),
        "SENDPOOL_CATALOG_SERVER_METRICS_INTERVAL_SECONDS": str(SERVER_METRICS_INTERVAL_SECONDS),
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


@dataclass(frozen=True)
class Probed:
    """A probe as the stand-in worker ran it: the request, and the settings it fetched for the server."""

    request: ProbeRequest
    settings: ServerConnectionSettings

    @property
    def server_id(self) -> UUID:
        return self.request.server_id

    @property
    def type(self) -> str:
        return self.request.type


@pytest.fixture
async def probe_worker(amqp_url, catalog) -> AsyncIterator[list[Probed]]:
    """Stands in for the SMTP delivery worker: it fetches the server's settings from the catalog, as
    the worker does, and the probe passes for GOOD_HOST and fails for any other host."""
    broker = RabbitBroker(amqp_url, logger=None)
    catalog_rpc = RpcClient(amqp_url, name="catalog-tests-probe-worker")
    received: list[Probed] = []

    @broker.subscriber(probe_queue("smtp"))
    async def probe(request: ProbeRequest) -> RabbitResponse:
        reply = await catalog_rpc.request(
            ServerSettingsRequest(server_id=request.server_id).model_dump_json().encode(),
            queue=CATALOG_RPC_QUEUE_NAME,
            timeout=PROBE_TIMEOUT_SECONDS,
        )
        settings = ServerSettingsReply.model_validate_json(reply).settings
        received.append(Probed(request, settings))
        host, port = settings.type_settings["host"], settings.type_settings["port"]
        if host == GOOD_HOST:
            return rpc_reply(ProbeResult(ok=True, message="Connection successful."))
        return rpc_reply(ProbeResult(ok=False, message=f"cannot connect to {host}:{port}"))

    async with broker:
        await broker.start()
        yield received
    await catalog_rpc.close()


@dataclass
class Campaigns:
    """Stands in for the scheduler, which creates campaigns and answers who owns one."""

    owners: dict[UUID, UUID] = field(default_factory=dict)
    asked: list[UUID] = field(default_factory=list)
    silent_about: set[UUID] = field(default_factory=set)
    """Campaigns the stand-in answers for too late, as a scheduler that is down or overloaded."""

    def new(self, tenant: "Tenant") -> str:
        """A campaign the scheduler created for `tenant`, by its id."""
        campaign_id = uuid4()
        self.owners[campaign_id] = UUID(tenant.id)
        return str(campaign_id)


@pytest.fixture(scope="package")
async def campaigns(amqp_url, catalog) -> AsyncIterator[Campaigns]:
    known = Campaigns()
    broker = RabbitBroker(amqp_url, logger=None)

    @broker.subscriber(SCHEDULER_RPC_QUEUE)
    async def answer(request: CampaignOwnerRequest) -> RabbitResponse:
        known.asked.append(request.campaign_id)
        if request.campaign_id in known.silent_about:
            await asyncio.sleep(CAMPAIGN_OWNER_TIMEOUT_SECONDS + 1)
        owner = known.owners.get(request.campaign_id)
        return rpc_reply(CampaignOwner(campaign_id=request.campaign_id, tenant_id=owner))

    async with broker:
        await broker.start()
        yield known
