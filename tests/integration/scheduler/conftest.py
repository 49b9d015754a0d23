"""A scheduler process of its own for these tests, and callers of its API and queues."""

from uuid import uuid4

import httpx
import pytest

from shared.auth import issue_tenant_token
from tests.integration.scheduler.harness import Bus, SchedulerApi, own_infrastructure
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess
from tests.support.suppression_responder import suppression_responder


@pytest.fixture(scope="package")
def scheduler_env(service_env):
    # A quick start sweep, so scheduled campaigns start within a fraction of a second of their time;
    # a short wait for the catalog, so a test of its silence is quick.
    with own_infrastructure(service_env, schedule_sweep_seconds="0.2", catalog_timeout_seconds="1") as env:
        yield env


@pytest.fixture(scope="package")
async def suppression(scheduler_env):
    """The bounces service's suppression check, played by the test: expansion asks it for every batch."""
    async with suppression_responder(scheduler_env["SENDPOOL_AMQP_URL"]) as responder:
        yield responder


@pytest.fixture(scope="package")
def scheduler(scheduler_env, logs_dir, suppression):
    process = ServiceProcess("scheduler", free_port(), scheduler_env, logs_dir / "scheduler.log").start()
    yield process
    process.stop()


@pytest.fixture
async def http(scheduler):
    async with httpx.AsyncClient(base_url=scheduler.url, timeout=10.0) as client:
        yield client


def _tenant_api(http: httpx.AsyncClient, env: dict[str, str]) -> SchedulerApi:
    return SchedulerApi(http, issue_tenant_token(env["SENDPOOL_TOKEN_SECRET"], uuid4()))


@pytest.fixture
def tenant(http, scheduler_env) -> SchedulerApi:
    return _tenant_api(http, scheduler_env)


@pytest.fixture
def other_tenant(http, scheduler_env) -> SchedulerApi:
    return _tenant_api(http, scheduler_env)


@pytest.fixture
def operator(http, scheduler_env) -> SchedulerApi:
    return SchedulerApi(http, scheduler_env["SENDPOOL_OPERATOR_TOKEN"])


@pytest.fixture
async def bus(scheduler, scheduler_env):
    async with Bus.connect(scheduler_env["SENDPOOL_AMQP_URL"]) as connected:
        yield connected
