"""`/readyz` follows the database and the broker; `/healthz` (liveness) follows the broker alone.

Against the real PostgreSQL, made unreachable by a proxy the test takes down, and real RabbitMQ.
"""

import asyncio

import httpx

from shared.messaging import make_broker
from shared.readiness import CACHE_SECONDS
from shared.service import ServiceApp
from tests.integration.tcp_proxy import proxy_in_front_of


async def probe(app, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        return await client.get(path)


async def after_the_cache(app, path: str) -> httpx.Response:
    await asyncio.sleep(CACHE_SECONDS + 0.2)
    return await probe(app, path)


async def test_readyz_is_503_naming_the_database_while_it_is_unreachable_and_204_once_it_is_back(
    amqp_url, database_url
):
    proxy = await proxy_in_front_of(database_url)
    broker = make_broker(amqp_url, "readiness-test")
    app = ServiceApp(broker, database_url=proxy.url(database_url))
    await broker.connect()
    try:
        assert (await probe(app, "/readyz")).status_code == 204

        await proxy.down()
        down = await after_the_cache(app, "/readyz")
        assert down.status_code == 503
        body = down.json()
        assert body["ready"] is False and set(body["unreachable"]) == {"database"}, body
        assert (await probe(app, "/healthz")).status_code == 204, "liveness does not depend on the database"

        await proxy.up()
        assert (await after_the_cache(app, "/readyz")).status_code == 204
    finally:
        await broker.stop()
        await app.readiness.close()
        await proxy.down()

    closed = await after_the_cache(app, "/readyz")
    assert closed.status_code == 503
    assert set(closed.json()["unreachable"]) == {"broker", "database"}


async def test_readyz_answers_from_its_cache_between_checks(amqp_url, database_url):
    checks = 0

    async def counted() -> str | None:
        nonlocal checks
        checks += 1
        return None

    broker = make_broker(amqp_url, "readiness-test")
    app = ServiceApp(broker, database_url=database_url, readiness_checks={"counted": counted})
    await broker.connect()
    try:
        answers = await asyncio.gather(*(probe(app, "/readyz") for _ in range(20)))
    finally:
        await broker.stop()
        await app.readiness.close()

    assert {answer.status_code for answer in answers} == {204}
    assert checks == 1, "twenty probes at once cost one check"
