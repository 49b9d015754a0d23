"""A delivery worker process in its own RabbitMQ virtual host, with the catalog played by the test."""

import asyncio
import os
import signal

import pytest
import pytest_asyncio

from tests.integration.delivery.harness import Bus, FakeCatalog
from tests.integration.delivery.smtp_scripts import ScriptedSink, self_signed_tls
from tests.support.infra import create_vhost, delete_vhost, free_port
from tests.support.processes import ServiceProcess
from tests.support.suppression_responder import suppression_responder

MAX_ATTEMPTS = 3
CIRCUIT_FAILURE_THRESHOLD = 3
CIRCUIT_COOLDOWN_SECONDS = 1.0
VERP_SECRET = "delivery-tests-verp-secret"


@pytest.fixture(scope="package")
def worker_amqp_url():
    """A vhost of this package's own, so no other suite's router or catalog competes for its queues."""
    url = create_vhost("sendpool-delivery-test")
    yield url
    if not os.environ.get("SENDPOOL_TEST_KEEP"):
        delete_vhost(url)


@pytest.fixture(scope="package")
def tls_context(tmp_path_factory):
    return self_signed_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="package")
def sink():
    with ScriptedSink() as server:
        yield server


@pytest.fixture(scope="package")
def catalog(sink) -> FakeCatalog:
    fake = FakeCatalog()
    fake.put_server({"host": "127.0.0.1", "port": sink.port, "encryption": "none"})
    return fake


@pytest.fixture(scope="package")
def server_id(catalog):
    return next(iter(catalog.servers))


@pytest_asyncio.fixture(scope="package")
async def bus(worker_amqp_url, catalog):
    bus = Bus(worker_amqp_url, catalog)
    await bus.broker.start()
    yield bus
    await bus.broker.stop()


SUPPRESSION_CHECK_TIMEOUT_SECONDS = 2.0


@pytest_asyncio.fixture(scope="package")
async def suppression(worker_amqp_url):
    """The bounces service's suppression check, played by the test: the worker asks it for every batch."""
    async with suppression_responder(worker_amqp_url) as responder:
        yield responder


@pytest_asyncio.fixture(scope="package")
async def worker(bus, suppression, server_id, service_env, worker_amqp_url, logs_dir):
    env = {
        **service_env,
        "SENDPOOL_AMQP_URL": worker_amqp_url,
        "SENDPOOL_DELIVERY_VENDOR": "smtp",
        "SENDPOOL_DELIVERY_RETRY_BASE_SECONDS": "1",
        "SENDPOOL_DELIVERY_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "SENDPOOL_DELIVERY_SMTP_TIMEOUT_SECONDS": "5",
        "SENDPOOL_DELIVERY_CIRCUIT_FAILURE_THRESHOLD": str(CIRCUIT_FAILURE_THRESHOLD),
        "SENDPOOL_DELIVERY_CIRCUIT_COOLDOWN_SECONDS": str(CIRCUIT_COOLDOWN_SECONDS),
        "SENDPOOL_VERP_SECRET": VERP_SECRET,
        "SENDPOOL_DELIVERY_SUPPRESSION_CHECK_TIMEOUT_SECONDS": str(SUPPRESSION_CHECK_TIMEOUT_SECONDS),
    }
    process = ServiceProcess("delivery", free_port(), env, logs_dir / "delivery.log")
    # start() polls /healthz synchronously; in a thread, so this loop keeps answering the catalog RPC.
    await asyncio.to_thread(process.start)
    await bus.wait_until_consumed(f"delivery.smtp.{server_id}")
    yield process
    exit_code = await asyncio.to_thread(process.stop)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, hence -SIGTERM.
    assert exit_code in (0, -signal.SIGTERM), f"the worker did not stop on SIGTERM; see {process.log_path}"
    assert "released its SMTP connections and database pool" in process.log_path.read_text()
