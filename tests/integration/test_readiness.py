"""`/readyz` means the replica can do its work: it has started (migrations applied, subscribers
consuming, start-up hooks done, the catalog snapshot loaded where a service needs one), it is not
shutting down, and it reaches its database and its broker. `/healthz` (liveness) follows the broker alone.

Against the real PostgreSQL, made unreachable by a proxy the test takes down, and real RabbitMQ;
the delivery worker is a real process whose catalog the test starts late.
"""

import asyncio
import contextlib

import httpx
from faststream.rabbit import RabbitBroker, RabbitResponse

from shared.contracts import CatalogSnapshot
from shared.messaging import make_broker, rpc_reply
from shared.readiness import CACHE_SECONDS
from shared.service import ServiceApp
from shared.topology import CATALOG_RPC_QUEUE
from tests.integration.tcp_proxy import proxy_in_front_of
from tests.support.infra import free_port, fresh_test_vhost
from tests.support.processes import ServiceProcess
from tests.support.waiting import eventually_async


async def probe(app, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        return await client.get(path)


async def after_the_cache(app, path: str) -> httpx.Response:
    await asyncio.sleep(CACHE_SECONDS + 0.2)
    return await probe(app, path)


@contextlib.asynccontextmanager
async def running(app: ServiceApp):
    """The app's whole lifecycle, as `faststream run` drives it: hooks, broker, and shutdown on exit."""
    async with app.start_lifespan_context():
        await eventually_async(
            lambda: "start-up" not in app.startup.waiting_for, timeout_seconds=30, what="the app started"
        )
        yield app


async def test_readyz_is_503_naming_the_database_while_it_is_unreachable_and_204_once_it_is_back(
    amqp_url, database_url
):
    proxy = await proxy_in_front_of(database_url)
    app = ServiceApp(make_broker(amqp_url, "readiness-test"), database_url=proxy.url(database_url))
    try:
        async with running(app):
            assert (await probe(app, "/readyz")).status_code == 204

            await proxy.down()
            down = await after_the_cache(app, "/readyz")
            assert down.status_code == 503
            body = down.json()
            assert body == {"ready": False, "unreachable": {"database": body["unreachable"]["database"]}}, (
                body
            )
            assert (await probe(app, "/healthz")).status_code == 204, (
                "liveness does not depend on the database"
            )

            await proxy.up()
            assert (await after_the_cache(app, "/readyz")).status_code == 204
            await proxy.down()
    finally:
        await proxy.down()

    closed = await after_the_cache(app, "/readyz")
    assert closed.status_code == 503
    assert set(closed.json()["unreachable"]) == {"broker", "database"}
    assert closed.json()["stopping"]


async def test_readyz_answers_from_its_cache_between_checks(amqp_url, database_url):
    checks = 0

    async def counted() -> str | None:
        nonlocal checks
        checks += 1
        return None

    app = ServiceApp(
        make_broker(amqp_url, "readiness-test"),
        database_url=database_url,
        readiness_checks={"counted": counted},
    )
    async with running(app):
        await asyncio.sleep(CACHE_SECONDS + 0.2)  # whatever start-up probed has expired
        before = checks
        answers = await asyncio.gather(*(probe(app, "/readyz") for _ in range(20)))

    assert {answer.status_code for answer in answers} == {204}
    assert checks - before == 1, "twenty probes at once cost one check"


async def test_readyz_waits_for_the_start_up_hooks_and_turns_503_as_soon_as_shutdown_begins(
    amqp_url, database_url
):
    finish_start, finish_stop = asyncio.Event(), asyncio.Event()
    stopping = asyncio.Event()

    async def slow_start() -> None:  # a snapshot that takes its time
        await finish_start.wait()

    async def slow_stop() -> None:  # messages in hand being finished
        stopping.set()
        await finish_stop.wait()

    app = ServiceApp(
        make_broker(amqp_url, "readiness-test"),
        database_url=database_url,
        after_startup=[slow_start],
        on_shutdown=[slow_stop],
    )
    async with app.start_lifespan_context():
        try:
            await eventually_async(
                lambda: _status_is(app, "/healthz", 204), timeout_seconds=30, what="alive while it starts"
            )
            waiting = await probe(app, "/readyz")
            assert waiting.status_code == 503
            assert waiting.json() == {
                "ready": False,
                "waiting_for": {"start-up": "the start-up hooks have not finished"},
            }, "the subscribers consume already; only the start-up hook is missing"

            finish_start.set()
            await eventually_async(
                lambda: _status_is(app, "/readyz", 204), timeout_seconds=10, what="ready once started"
            )

            shutdown = asyncio.create_task(app._shutdown())
            await asyncio.wait_for(stopping.wait(), 10)
            draining = await probe(app, "/readyz")
            assert draining.status_code == 503
            assert set(draining.json()) == {"ready", "stopping"}, draining.json()
            assert (await probe(app, "/healthz")).status_code == 204, (
                "a draining replica is alive: no restart"
            )
            finish_stop.set()
            await asyncio.wait_for(shutdown, 30)
        finally:
            finish_start.set()
            finish_stop.set()


async def _status_is(app, path: str, status: int) -> bool:
    return (await probe(app, path)).status_code == status


async def test_a_delivery_worker_is_not_ready_until_the_catalog_snapshot_is_loaded(service_env, logs_dir):
    """It starts (the harness waits for /healthz) and names the snapshot in /readyz until a catalog answers."""
    with fresh_test_vhost("sendpool-readiness") as amqp_url:
        env = {**service_env, "SENDPOOL_AMQP_URL": amqp_url, "SENDPOOL_DELIVERY_VENDOR": "smtp"}
        worker = ServiceProcess("delivery", free_port(), env, logs_dir / "delivery-readiness.log")
        await asyncio.to_thread(worker.start)
        try:
            async with httpx.AsyncClient(base_url=worker.url, timeout=5.0) as client:

                async def waiting_for_the_snapshot_alone() -> httpx.Response | None:
                    answer = await client.get("/readyz")
                    waiting = answer.json().get("waiting_for", {}) if answer.status_code == 503 else {}
                    return answer if set(waiting) == {"catalog_snapshot", "start-up"} else None

                waiting = await eventually_async(
                    waiting_for_the_snapshot_alone,
                    timeout_seconds=30,
                    interval_seconds=0.2,
                    what="the worker waiting for the catalog's snapshot alone",
                )
                assert "unreachable" not in waiting.json(), waiting.json()

                async with catalog_answering_snapshots(amqp_url):
                    await eventually_async(
                        lambda: _answers(client, 204),
                        timeout_seconds=40,
                        interval_seconds=0.3,
                        what="the worker ready once the catalog answers",
                    )
        finally:
            await asyncio.to_thread(worker.stop)


async def _answers(client: httpx.AsyncClient, status: int) -> bool:
    return (await client.get("/readyz")).status_code == status


@contextlib.asynccontextmanager
async def catalog_answering_snapshots(amqp_url: str):
    """The catalog, played by the test: an empty one, answering snapshot requests on catalog.rpc."""
    catalog = RabbitBroker(amqp_url)

    @catalog.subscriber(CATALOG_RPC_QUEUE)
    async def answer(request: dict) -> RabbitResponse:
        return rpc_reply(CatalogSnapshot(last_event_id=0, servers=[], plans=[], tenants=[]))

    await catalog.start()
    try:
        yield
    finally:
        await catalog.stop()
