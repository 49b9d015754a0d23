"""Secrets in transit: a connection test's request waits in a quorum queue (on disk) and carries
no secret.

The attack is reading a probe request where it rests: RabbitMQ writes quorum queues to disk, and
anyone with the broker's data directory, a management login or a shovel reads what waits there.
Before the fix the catalog put the server's decrypted settings and DKIM key in the request; a
probe that waits for a busy or stopped worker sat there with them. Here no worker consumes the
vendor's probe queue, and the test reads the request the catalog published.
"""

import asyncio
from uuid import UUID

import aio_pika
import httpx
import pytest

from shared.contracts import ProbeRequest
from shared.topology import probe_queue
from tests.support.infra import free_port, fresh_test_database, fresh_test_vhost
from tests.support.processes import ServiceProcess
from tests.support.secrets_search import search
from tests.unit.catalog.dkim_keys import pem, rsa_key

API_KEY = "SG.transit-probe-key-8d61c2"
DKIM_PEM = pem(rsa_key())
DKIM_KEY_LINE = DKIM_PEM.splitlines()[5]
SECRETS = {"api key": API_KEY, "dkim private key": DKIM_KEY_LINE}
PROBE_TIMEOUT_SECONDS = 6


@pytest.fixture(scope="module")
def catalog(service_env, logs_dir):
    """A catalog of its own, on a vhost where no delivery worker runs."""
    with fresh_test_database() as database_url, fresh_test_vhost() as amqp_url:
        env = {
            **service_env,
            "SENDPOOL_DATABASE_URL": database_url,
            "SENDPOOL_AMQP_URL": amqp_url,
            "SENDPOOL_CATALOG_PROBE_TIMEOUT_SECONDS": str(PROBE_TIMEOUT_SECONDS),
        }
        process = ServiceProcess("catalog", free_port(), env, logs_dir / "transit-catalog.log").start()
        try:
            yield process, amqp_url
        finally:
            process.stop()


async def waiting_probe(amqp_url: str, vendor: str, timeout: float) -> aio_pika.abc.AbstractIncomingMessage:
    """The first probe request that waits in the vendor's queue, taken but not acknowledged."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    queue = await channel.get_queue(probe_queue(vendor).name)
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await queue.get(no_ack=False, fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no probe request reached {probe_queue(vendor).name} within {timeout}s")


async def test_a_waiting_probe_request_names_the_server_and_carries_no_secret(catalog, service_env):
    process, amqp_url = catalog
    # The queue a sendgrid worker declares when it starts; the worker is gone now, or busy.
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        spec = probe_queue("sendgrid")
        await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)

    operator = {"Authorization": f"Bearer {service_env['SENDPOOL_OPERATOR_TOKEN']}"}
    async with httpx.AsyncClient(base_url=process.url, headers=operator, timeout=30) as api:
        created = await api.post(
            "/servers",
            json={
                "name": "vendor api",
                "type": "sendgrid_api",
                "settings": {"api_key": API_KEY},
                "identity": {
                    "from_domains": ["news.example.com"],
                    "dkim_selector": "s1",
                    "dkim_private_key": DKIM_PEM,
                },
            },
        )
        assert created.status_code == 201, created.text
        server_id = created.json()["id"]

        test = asyncio.create_task(api.post(f"/servers/{server_id}/test"))
        message = await waiting_probe(amqp_url, "sendgrid", timeout=PROBE_TIMEOUT_SECONDS)
        body = message.body
        await message.reject(requeue=False)  # no worker will answer: the test fails, as it should
        tested = await test

    leaked = search(SECRETS, [(f"the probe request waiting in {spec.name}", body.decode(errors="replace"))])
    assert not leaked, "\n".join(map(str, leaked))
    request = ProbeRequest.model_validate_json(body)
    assert request.server_id == UUID(server_id) and request.type == "sendgrid_api"
    assert tested.json()["ok"] is False
